"""Cold start: the median import time of each handler over fresh processes, in
Lambda's environment (its variables, `LAMBDA_TASK_ROOT` included, and tracing
on), beside the floor that boto3, Powertools and pydantic alone cost in the
same run; and the size of the Lambda package, zipped and unzipped."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from bench import harness
from contract import functions
from contract.names import Names
from contract.quotas import QUOTAS
from contract.scan import ENV_MALWARE_SCAN, SCAN_OFF_VALUE
from local.runtime import ACCOUNT_ID, FunctionSpec

ROOT = Path(__file__).resolve().parent.parent
FLOOR = "boto3, aws_lambda_powertools, pydantic"
GOALS_MS = {"workers.api.handler": 250, "workers.ingest.handler": 300}
ZIP_GOAL_BYTES = 30 * harness.MiB
# Kinds whose parsing library is imported only when a file of that kind is
# described: what that first file pays on top of the ingest handler.
LIBRARY_KINDS = ("parquet",)


def _environment() -> dict[str, str]:
    names = Names("bench")
    values = {functions.ENV_TABLE_NAME: names.table, functions.ENV_BUCKET_NAME: names.upload_bucket(ACCOUNT_ID),
              functions.ENV_STACK: names.stack, functions.ENV_CURSOR_SECRET_PARAMETER: "/bench/cursor",
              ENV_MALWARE_SCAN: SCAN_OFF_VALUE,
              **QUOTAS.variables()}
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("AWS_", "POWERTOOLS_", "LAMBDA_", "_X_AMZN"))}
    for spec in (functions.API, functions.ingest_worker()):
        env.update(FunctionSpec(name=spec.function_name(names), handler=spec.handler, timeout_s=spec.timeout_s,
                                memory_mb=spec.memory_mb, region="us-east-1",
                                environment=spec.environment(values)).lambda_environment())
    env.update(LAMBDA_TASK_ROOT=str(ROOT), AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               PYTHONPATH=str(ROOT))
    return env


def _import_ms(module: str, env: dict[str, str]) -> float:
    return _ms(f"import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)", env)


def _library_ms(kind: str, env: dict[str, str]) -> float:
    return _ms("import time, workers.ingest.handler; from workers.extraction import registry; "
               f"t = time.perf_counter(); registry.load({kind!r}); print((time.perf_counter() - t) * 1000)", env)


def _ms(script: str, env: dict[str, str]) -> float:
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                          check=True)
    return float(done.stdout.strip().splitlines()[-1])


def run(sizes: harness.Sizes) -> dict:
    from components.packaging import build_package

    env = _environment()
    runs: dict[str, list[float]] = {module: [] for module in (FLOOR, *GOALS_MS)}
    for _ in range(sizes.import_runs):
        # Interleaved, so that a busy moment of the machine weighs on all alike.
        for module in runs:
            runs[module].append(_import_ms(module, env))
    floor = round(harness.median(runs[FLOOR]))
    results = {}
    for module, goal_ms in GOALS_MS.items():
        median = round(harness.median(runs[module]))
        results[f"import_ms_{module.split('.')[1]}_handler"] = harness.figure(
            median, f"<= {goal_ms} ms", median <= goal_ms, baseline=floor, floor_ms=floor,
            over_floor_ms=median - floor, runs_ms=[round(ms) for ms in runs[module]])
    for kind in LIBRARY_KINDS:
        library = [_library_ms(kind, env) for _ in range(sizes.import_runs)]
        results[f"import_ms_{kind}_library"] = harness.figure(
            round(harness.median(library)), f"trend (paid by the first {kind} file only)", None,
            runs_ms=[round(ms) for ms in library])
    package = build_package(ROOT)
    with zipfile.ZipFile(package.path) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
    zipped = package.path.stat().st_size
    results["package_zipped_mib"] = harness.figure(round(zipped / harness.MiB, 1), "< 30 MiB",
                                                   zipped < ZIP_GOAL_BYTES,
                                                   unzipped_mib=round(unzipped / harness.MiB, 1))
    return results
