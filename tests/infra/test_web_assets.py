"""The dashboard's deployed names: content hashes that follow imports."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.web_assets import site_files
from tests.infra.harness import ROOT


def write_site(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def keys(root: Path) -> dict[str, str]:
    return {file.path.name: file.key for file in site_files(root)}


SITE = {
    "index.html": '<script type="module" src="app.js"></script>',
    "app.js": 'import { size } from "./format.js";\n',
    "format.js": "export const size = 1;\n",
    "other.js": "export const other = 2;\n",
}


def test_changing_an_imported_module_renames_every_module_that_imports_it(tmp_path):
    before = keys(write_site(tmp_path, SITE))
    write_site(tmp_path, {"format.js": "export const size = 2;\n"})
    after = keys(tmp_path)
    assert after["format.js"] != before["format.js"]
    assert after["app.js"] != before["app.js"], "app.js would otherwise keep importing the old format.js"
    assert after["other.js"] == before["other.js"]
    page = next(file for file in site_files(tmp_path) if file.key == "index.html").text
    assert f'src="{after["app.js"]}"' in page


def test_modules_that_import_each_other_are_refused_naming_the_cycle(tmp_path):
    write_site(tmp_path, {**SITE, "format.js": 'import "./app.js";\n'})
    with pytest.raises(ValueError, match=r"app\.js -> format\.js"):
        site_files(tmp_path)


def test_the_config_the_dashboard_fetches_by_name_keeps_its_name():
    app = next(file for file in site_files(ROOT / "web", skip=frozenset({"config.json"}))
               if file.path.name == "app.js")
    assert 'fetch("config.json"' in app.text
