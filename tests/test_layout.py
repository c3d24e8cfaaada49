"""The layout the contract promises: `contract/` imports neither boto3 nor
pulumi (it ships in the Lambda zip), and `components/`, `local/` and `ops/`
take shared names and settings only from it. `ops/` reads and writes the
table and the bucket through the storage layer the workers use
(`workers.storage`, whose failures `workers.errors` classifies), so on-call's
writes keep the workers' conditions; no worker's logic (ingest, api,
extraction) is on-call's to import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(directory: str) -> dict[str, set[str]]:
    found = {}
    for path in sorted((ROOT / directory).rglob("*.py")):
        modules = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module)
        found[path.relative_to(ROOT).as_posix()] = modules
    return found


def test_the_contract_imports_only_the_standard_library_and_itself():
    for path, modules in imported_modules("contract").items():
        foreign = {m for m in modules if m.split(".")[0] not in {"contract", "__future__", "collections", "dataclasses",
                                                                 "json", "re", "typing"}}
        assert not foreign, f"{path} imports {foreign}"


@pytest.mark.parametrize("side", ["components", "local"])
def test_infrastructure_sides_take_shared_constants_from_the_contract_only(side):
    for path, modules in imported_modules(side).items():
        lambda_code = {m for m in modules if m.split(".")[0] == "workers"}
        assert not lambda_code, f"{path} imports {lambda_code}: shared pieces belong in contract/"


def test_ops_takes_from_the_workers_only_their_storage_layer():
    for path, modules in imported_modules("ops").items():
        worker_logic = {m for m in modules if m.split(".")[0] == "workers"
                        and m.split(".")[1:2] not in (["storage"], ["errors"])}
        assert not worker_logic, f"{path} imports {worker_logic}: on-call goes through workers.storage"
