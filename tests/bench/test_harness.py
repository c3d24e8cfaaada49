"""`make bench` at tiny sizes, every figure, so the harness cannot rot. The
figures themselves are not judged here: they are ratios for a full run."""

import json
import subprocess
import sys

from bench.__main__ import ROOT


def test_every_figure_runs_and_is_written_with_its_goal(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench", "--tiny", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    figures = {name: shown for name, shown in results.items() if name not in ("machine", "prices")}
    expected = ("batch10_over_single", "baseline_over_ours", "read_amplification_pdf", "read_amplification_csv",
                "worker_calls_per_file", "list_items_read_at_40", "end_to_end_latency_p50_ms",
                "import_ms_api_handler", "import_ms_ingest_handler", "package_zipped_mib",
                "worker_lambda_usd_per_million_small_files", "usd_per_million_small_files", "usd_per_million_images",
                "usd_per_million_pdfs", "usd_per_million_csvs", "usd_per_million_soak_mix",
                "idle_upload_to_processed_p50_ms")
    assert set(expected) <= set(figures)
    assert any(name.startswith("extraction_ms_") for name in figures)
    for shown in figures.values():
        assert {"value", "goal", "baseline", "met"} <= set(shown)
    document = (tmp_path / "benchmarks.md").read_text()
    assert "| batch10_over_single |" in document
    assert "| images | sequential batch processor |" in document
    assert all(price["page"].startswith("https://aws.amazon.com/") for name, price in results["prices"].items()
               if isinstance(price, dict))
