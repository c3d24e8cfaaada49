"""Cold start: the median import time of each handler over fresh processes, in
Lambda's environment (its variables, `LAMBDA_TASK_ROOT` included, and tracing
on), less the floor that boto3 and Powertools alone cost in the same run: what
is ours. Beside it, where that time goes: `python -X importtime` of the handler
after the floor, each module's own time summed by package (our modules load
from the unchecked bytecode the zip ships, compiled here for this Python). And
the size of the Lambda package, zipped and unzipped."""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from bench import harness
from components import bytecode
from components.packaging import PACKAGES, build_package
from contract import functions
from contract.names import Names
from contract.quotas import QUOTAS
from contract.scan import ENV_MALWARE_SCAN, SCAN_OFF_VALUE
from local.runtime import ACCOUNT_ID, FunctionSpec

ROOT = Path(__file__).resolve().parent.parent
FLOOR = "boto3, aws_lambda_powertools"
HANDLERS = ("workers.api.handler", "workers.ingest.handler")
OVER_FLOOR_GOAL_MS = 60
# Packages the breakdown shows by subpackage (`workers.api`,
# `aws_lambda_powertools.event_handler`, `aws_lambda_powertools.utilities.batch`); the rest whole.
SPLIT_PACKAGES = {"workers": 2, "aws_lambda_powertools": 2, "aws_lambda_powertools.utilities": 3}
BREAKDOWN_ROWS = 12
ZIP_GOAL_BYTES = 30 * harness.MiB
# Kinds whose parsing library is imported only when a file of that kind is
# described: what that first file pays on top of the ingest handler.
LIBRARY_KINDS = ("parquet",)


def _task_root(into: Path) -> Path:
    """Our packages as the zip holds them: sources with unchecked hash-based
    bytecode beside them (components/bytecode.py). The zip's is CPython 3.13's,
    which this Python cannot load, so the same is compiled for this one; a
    `__pycache__` the tests left in the checkout is never what is measured."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, into / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    bytecode.compile_for_this_python(into)
    return into


def _environment(task_root: Path) -> dict[str, str]:
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
    env.update(LAMBDA_TASK_ROOT=str(task_root), AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               PYTHONPATH=str(task_root), PYTHONDONTWRITEBYTECODE="1")
    return env


def _import_ms(module: str, env: dict[str, str]) -> float:
    return _ms(f"import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)", env)


def _library_ms(kind: str, env: dict[str, str]) -> float:
    return _ms("import time, workers.ingest.handler; from workers.extraction import registry; "
               f"t = time.perf_counter(); registry.load({kind!r}); print((time.perf_counter() - t) * 1000)", env)


def _imported_ms(module: str, env: dict[str, str]) -> dict[str, float]:
    """Each package's own import time (ms) when `module` is imported after the floor."""
    marker = "-- the floor is imported --"
    done = subprocess.run([sys.executable, "-X", "importtime", "-c",
                           f"import sys, {FLOOR}; print({marker!r}, file=sys.stderr); import {module}"],
                          env=env, cwd=env["LAMBDA_TASK_ROOT"], capture_output=True, text=True, check=True)
    by_package: dict[str, float] = collections.defaultdict(float)
    for line in done.stderr.split(marker, 1)[1].splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own_us, _, name = line.removeprefix("import time:").split("|")
        parts = name.strip().split(".")
        depth = max((SPLIT_PACKAGES[prefix] for prefix in SPLIT_PACKAGES
                     if name.strip() == prefix or name.strip().startswith(prefix + ".")), default=1)
        by_package[".".join(parts[:depth])] += int(own_us) / 1000
    return by_package


def _breakdown(runs: list[dict[str, float]]) -> dict[str, float]:
    """The packages that cost most, by their median over `runs`, largest first."""
    medians = {package: harness.median([run.get(package, 0.0) for run in runs])
               for package in {package for run in runs for package in run}}
    top = sorted(medians.items(), key=lambda item: -item[1])[:BREAKDOWN_ROWS]
    return {package: round(ms, 1) for package, ms in top}


def section(results: dict) -> str:
    """docs/benchmarks.md's cold-start section: each handler's time over the floor and where it goes."""
    lines = ["## Cold start, over the floor\n",
             f"Each handler's import over `import {FLOOR}` (the floor, measured in the same run), and where it "
             "goes: `python -X importtime` after the floor, each module's own time summed by package (median "
             "of the runs, ms; importtime's own overhead makes the sum a little larger). What was removed and "
             "what is deferred to the first request that needs it: docs/cold-start.md.\n"]
    for handler in HANDLERS:
        shown = results.get(_name(handler))
        if not shown:
            continue
        lines.append(f"**{handler}**: {shown['value']} ms over a floor of {shown['floor_ms']} ms "
                     f"(goal {shown['goal']}).\n")
        lines += ["| package | ms |", "|---|---|"]
        lines += [f"| {package} | {ms} |" for package, ms in shown["breakdown_ms"].items()]
        lines.append("")
    return "\n".join(lines) + "\n"


def _name(handler: str) -> str:
    return f"import_ms_{handler.split('.')[1]}_handler"


def _ms(script: str, env: dict[str, str]) -> float:
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=env["LAMBDA_TASK_ROOT"],
                          capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def run(sizes: harness.Sizes) -> dict:
    return {**imports(sizes), **_package()}


def imports(sizes: harness.Sizes) -> dict:
    """The import figures alone: `python -c "from bench import cold_start, harness;
    print(cold_start.imports(harness.Sizes()))"`."""
    with tempfile.TemporaryDirectory(prefix="uploads-task-root-") as task_root:
        return _imports(sizes, _environment(_task_root(Path(task_root))))


def _imports(sizes: harness.Sizes, env: dict[str, str]) -> dict:
    runs: dict[str, list[float]] = {module: [] for module in (FLOOR, *HANDLERS)}
    imported: dict[str, list[dict[str, float]]] = {handler: [] for handler in HANDLERS}
    for _ in range(sizes.import_runs):
        # Interleaved, so that a busy moment of the machine weighs on all alike.
        for module in runs:
            runs[module].append(_import_ms(module, env))
        for handler in HANDLERS:
            imported[handler].append(_imported_ms(handler, env))
    floor = round(harness.median(runs[FLOOR]))
    results = {}
    for handler in HANDLERS:
        median = round(harness.median(runs[handler]))
        over = median - floor
        results[_name(handler)] = harness.figure(
            over, f"<= {OVER_FLOOR_GOAL_MS} ms over the floor", over <= OVER_FLOOR_GOAL_MS, baseline=floor,
            floor_ms=floor, import_ms=median, runs_ms=[round(ms) for ms in runs[handler]],
            floor_runs_ms=[round(ms) for ms in runs[FLOOR]], breakdown_ms=_breakdown(imported[handler]))
    for kind in LIBRARY_KINDS:
        library = [_library_ms(kind, env) for _ in range(sizes.import_runs)]
        results[f"import_ms_{kind}_library"] = harness.figure(
            round(harness.median(library)), f"trend (paid by the first {kind} file only)", None,
            runs_ms=[round(ms) for ms in library])
    return results


def _package() -> dict:
    package = build_package(ROOT)
    with zipfile.ZipFile(package.path) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
    zipped = package.path.stat().st_size
    return {"package_zipped_mib": harness.figure(round(zipped / harness.MiB, 1), "< 30 MiB", zipped < ZIP_GOAL_BYTES,
                                                 unzipped_mib=round(unzipped / harness.MiB, 1))}
