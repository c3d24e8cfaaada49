"""`make bench`: run every benchmark once and print its ratios."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from bench import extraction_reads, ingest_batching

BENCHMARKS = {"ingest_batching": ingest_batching.run, "extraction_reads": extraction_reads.run}


def main() -> None:
    results = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count()}}
    for name, run in BENCHMARKS.items():
        print(f"running {name}...", flush=True)
        results[name] = run()
        print(json.dumps(results[name], indent=2), flush=True)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out / 'latest.json'}")


if __name__ == "__main__":
    main()
