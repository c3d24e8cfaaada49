"""`make bench`: every figure in one run, each against its goal and its
baseline, written to bench/results.json and docs/benchmarks.md and printed.

A missed goal is a finding, not a failure: the exit status is non-zero only
when a figure could not be measured. `--tiny` runs every figure at tiny sizes
(the harness test); its results go to the directory `--out` names."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

from bench import (
    batch_efficiency,
    cold_start,
    cost,
    end_to_end,
    extraction,
    harness,
    list_cost,
    prices,
    requests_per_file,
)

ROOT = Path(__file__).resolve().parent.parent
FIGURES = {
    "batch efficiency": batch_efficiency.run,
    "extraction": extraction.run,
    "AWS requests per file": requests_per_file.run,
    "list cost": list_cost.run,
    "end to end": end_to_end.run,
    "cold start": cold_start.run,
}
# Figures computed from the ones above, not measured.
DERIVED = {
    "cost per million files": cost.run,
}
# Keys of results.json that are not figures.
CONTEXT = ("machine", "prices")


def measure(sizes: harness.Sizes) -> tuple[dict, list[str]]:
    results: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                 "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}
    errors = []
    for name, run in FIGURES.items():
        print(f"measuring {name}...", flush=True)
        started = time.monotonic()
        try:
            results.update(run(sizes))
        except Exception:
            errors.append(f"{name}: {traceback.format_exc()}")
            print(errors[-1], file=sys.stderr, flush=True)
        print(f"  {time.monotonic() - started:.0f} s", flush=True)
    for name, derive in DERIVED.items():
        try:
            results.update(derive(results))
        except Exception:
            errors.append(f"{name}: {traceback.format_exc()}")
            print(errors[-1], file=sys.stderr, flush=True)
    results["prices"] = {"region": prices.REGION, "read_on": prices.READ_ON, **prices.listing()}
    return results, errors


def _shown(value) -> str:
    if value is None:
        return ""
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(results: dict) -> str:
    """The figures as a Markdown table: figure, value, goal, baseline, met."""
    rows = ["| figure | value | goal | baseline | met |", "|---|---|---|---|---|"]
    for name, shown in results.items():
        if name in CONTEXT:
            continue
        met = {True: "yes", False: "**no**", None: "trend"}[shown["met"]]
        rows.append(f"| {name} | {_shown(shown['value'])} | {shown['goal']} | {_shown(shown['baseline'])} | {met} |")
    return "\n".join(rows)


def document(results: dict) -> str:
    machine = results["machine"]
    return (
        "# Benchmarks\n\n"
        f"`make bench` on this project's machine ({machine['cpus']} cores, Python {machine['python']}), "
        f"{machine['measured_at']}. Every figure with its goal and, where there is one, its baseline; "
        "the details of each (requests, CPU time, per-phase call counts, every import run) are in "
        "`bench/results.json`. How each is measured is in the docstring of its module in `bench/`.\n\n"
        f"{table(results)}\n\n"
        f"{cost.section(results)}\n"
        f"{cold_start.section(results)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="every figure at tiny sizes")
    parser.add_argument("--out", type=Path, default=None, help="where results.json and benchmarks.md go")
    args = parser.parse_args()
    results, errors = measure(harness.TINY if args.tiny else harness.Sizes())
    json_path = (args.out or ROOT / "bench") / "results.json"
    markdown_path = (args.out or ROOT / "docs") / "benchmarks.md"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    markdown_path.write_text(document(results))
    print(table(results))
    print(f"written to {json_path} and {markdown_path}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
