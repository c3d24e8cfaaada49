"""The Lambda package, really built from PyPI for arm64 / CPython 3.13."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import zipfile

import pytest

from components import bytecode
from components.packaging import build_package
from tests.infra.harness import ROOT, pypi_unreachable

EM_AARCH64 = 183  # ELF e_machine for 64-bit ARM
# Lambda's limits for a zip deployed directly (not through S3 or layers).
MAX_ZIPPED = 50 * 1024 * 1024
MAX_UNZIPPED = 250 * 1024 * 1024
# Ours: past it, cold starts pay to unpack and the next kind needs a layer (docs/kinds.md).
ZIP_GOAL = 30 * 1024 * 1024


def elf_machine(data: bytes) -> int:
    assert data[:4] == b"\x7fELF", "not an ELF file"
    return int.from_bytes(data[18:20], "little")


@pytest.fixture(scope="module")
def archive(package):
    with zipfile.ZipFile(package.path) as opened:
        yield opened


@pytest.mark.parametrize("package_dir", ["workers", "contract"])
def test_package_holds_every_module_of_the_lambda_code_and_the_contract(archive, package_dir):
    modules = {path.relative_to(ROOT).as_posix() for path in (ROOT / package_dir).rglob("*.py")
               if "__pycache__" not in path.parts}
    assert modules and modules <= set(archive.namelist())


@pytest.mark.parametrize("prefix", ["PIL/", "thrift/", "_pillow_heif."])
def test_compiled_dependencies_are_aarch64_builds_for_cpython_313(archive, prefix):
    shared = [name for name in archive.namelist() if name.startswith(prefix) and ".so" in name]
    assert shared, f"no compiled modules under {prefix}"
    for name in shared:
        assert elf_machine(archive.read(name)) == EM_AARCH64, name
    assert any("cpython-313-aarch64-linux-gnu" in name for name in shared)


def test_pydantic_is_left_out_as_nothing_in_the_package_imports_it(archive):
    assert not any(name.split("/")[0].startswith(("pydantic", "annotated_types")) for name in archive.namelist())


def test_runtime_provided_sdk_is_left_out(archive):
    names = archive.namelist()
    assert not any(name.split("/")[0].split("-")[0] in ("boto3", "botocore", "s3transfer") for name in names)


def test_every_module_ships_with_unchecked_cpython_313_bytecode_and_no_other(archive):
    names = set(archive.namelist())
    modules = {name for name in names if name.endswith(".py")}
    compiled = {name for name in names if name.endswith(".pyc") or "__pycache__/" in name}
    expected = {f"{name.rpartition('/')[0]}/__pycache__/{name.rpartition('/')[2][:-3]}.cpython-313.pyc".lstrip("/")
                for name in modules}
    assert compiled == expected
    headers = {archive.read(name)[:8] for name in compiled}
    assert headers == {bytecode.RUNTIME_MAGIC + (0b01).to_bytes(4, "little")}  # 3.13, PEP 552 unchecked hash


def test_cpython_313_imports_the_shipped_contract_from_its_bytecode_without_reading_the_source(archive, tmp_path):
    archive.extractall(tmp_path, [name for name in archive.namelist() if name.startswith("contract/")])
    (tmp_path / "contract" / "names.py").write_text("raise SystemExit('the source was read')\n")
    imported = bytecode.run_on_runtime_python(
        tmp_path, "import sys; sys.path.insert(0, '/tree'); from contract.names import Names; "
                  "from contract import functions; f'{sys.version_info[:2]} {Names(\"dev\").table}'")
    assert imported == "(3, 13) uploads-dev-files", imported


def _native_python_313() -> str | None:
    """A CPython 3.13 built for this machine, if it has one (pyenv's shim
    answers for a version that is not selected, so each is tried)."""
    candidates = [shutil.which("python3.13"),
                  *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13")))]
    for candidate in filter(None, candidates):
        done = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 13))"],
                              capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip() == "True":
            return candidate
    return None


def test_a_native_cpython_313_imports_the_shipped_contract_from_its_bytecode_too(archive, tmp_path):
    # The same check as above on a CPython that is not the compiler's own build.
    python = _native_python_313()
    if python is None:
        pytest.skip("no native CPython 3.13 on this machine; the Pyodide test above covers the bytecode")
    archive.extractall(tmp_path, [name for name in archive.namelist() if name.startswith("contract/")])
    (tmp_path / "contract" / "names.py").write_text("raise SystemExit('the source was read')\n")
    done = subprocess.run(
        [python, "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); from contract.names import Names; "
                       "from contract import functions; print(Names('dev').table)"],
        capture_output=True, text=True, check=False, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert (done.returncode, done.stdout.strip()) == (0, "uploads-dev-files"), done.stderr


def test_entries_are_sorted_with_fixed_timestamps_and_modes(archive):
    infos = archive.infolist()
    assert [info.filename for info in infos] == sorted(info.filename for info in infos)
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in infos} == {0o644}


def test_package_size_fits_lambda(package, archive):
    zipped = package.path.stat().st_size
    unzipped = sum(info.file_size for info in archive.infolist())
    print(f"\nLambda package: {zipped / 2**20:.1f} MiB zipped, {unzipped / 2**20:.1f} MiB unzipped")
    assert zipped < MAX_ZIPPED and unzipped < MAX_UNZIPPED
    assert zipped < ZIP_GOAL


@pytest.mark.parametrize("library", ["_pillow_heif.", "pillow_heif.libs/", "pypdfium2_raw/", "pymediainfo/"])
def test_bundled_media_libraries_are_aarch64_builds(archive, library):
    shared = [name for name in archive.namelist() if name.startswith(library) and ".so" in name]
    assert shared, f"no shared library under {library}"
    for name in shared:
        assert elf_machine(archive.read(name)) == EM_AARCH64, name


def test_two_clean_builds_are_byte_identical_and_cached_by_content(tmp_path):
    if reason := pypi_unreachable():
        pytest.skip(reason)
    builds = []
    for name in ("first", "second"):
        for package_dir in ("workers", "contract"):
            shutil.copytree(ROOT / package_dir, tmp_path / name / package_dir,
                            ignore=shutil.ignore_patterns("__pycache__"))
        builds.append(build_package(tmp_path / name))
    first, second = builds
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256_b64 == second.sha256_b64

    built_at = first.path.stat().st_mtime_ns
    assert build_package(tmp_path / "first").path.stat().st_mtime_ns == built_at  # reused, not rebuilt
    (tmp_path / "first/contract/names.py").write_text("# changed\n", encoding="utf-8")
    changed = build_package(tmp_path / "first")
    assert changed.path != first.path and changed.sha256_b64 != first.sha256_b64
