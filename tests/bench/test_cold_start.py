"""The cold-start figures: what the handlers' imports cost over the floor, and
where it goes, in the same shape `make bench` writes it."""

from __future__ import annotations

from pathlib import Path

from bench import cold_start, harness


def test_the_breakdown_sums_each_packages_own_import_time_after_the_floor(tmp_path):
    # A bytecode cache the tests left in the checkout must not make our modules look cheaper than on Lambda.
    (cold_start.ROOT / "workers" / "__pycache__").mkdir(exist_ok=True)
    task_root = cold_start._task_root(tmp_path)
    imported = cold_start._imported_ms("workers.api.handler", cold_start._environment(task_root))
    assert imported["workers.api"] > 0 and imported["aws_lambda_powertools.event_handler"] > 0
    assert not any(package.startswith("pydantic") for package in imported)
    assert not list(Path(task_root).rglob("__pycache__")), "our modules compiled from source, every time"


def test_each_handler_is_judged_over_the_floor_and_shown_with_its_breakdown():
    results = cold_start.imports(harness.TINY)
    section = cold_start.section(results)
    for handler in cold_start.HANDLERS:
        shown = results[f"import_ms_{handler.split('.')[1]}_handler"]
        assert shown["value"] == shown["import_ms"] - shown["floor_ms"]
        assert shown["met"] == (shown["value"] <= cold_start.OVER_FLOOR_GOAL_MS)
        assert f"**{handler}**: {shown['value']} ms over a floor of {shown['floor_ms']} ms" in section
        top = next(iter(shown["breakdown_ms"]))
        assert f"| {top} | {shown['breakdown_ms'][top]} |" in section
