"""The cold-start figures: what the handlers' imports cost over the floor, and
where it goes, in the same shape `make bench` writes it."""

from __future__ import annotations

from bench import cold_start, harness


def test_the_breakdown_sums_each_packages_own_import_time_after_the_floor(tmp_path):
    task_root = cold_start._task_root(tmp_path)
    imported = cold_start._imported_ms("workers.api.handler", cold_start._environment(task_root))
    assert imported["workers.api"] > 0 and imported["aws_lambda_powertools.event_handler"] > 0
    assert not any(package.startswith("pydantic") for package in imported)


def test_our_modules_load_from_unchecked_bytecode_as_the_zip_ships_them_never_from_a_cache_left_in_the_checkout(
        tmp_path):
    left = cold_start.ROOT / "workers" / "__pycache__" / "left-by-the-tests.cpython-311.pyc"
    left.parent.mkdir(exist_ok=True)
    left.write_bytes(b"")
    try:
        task_root = cold_start._task_root(tmp_path)
    finally:
        left.unlink()
    sources = sorted(path for path in task_root.rglob("*.py"))
    compiled = sorted(task_root.rglob("*.pyc"))
    assert len(compiled) == len(sources) and not list(task_root.rglob(left.name))
    assert {path.read_bytes()[4:8] for path in compiled} == {(0b01).to_bytes(4, "little")}  # PEP 552: unchecked
    # Unchecked bytecode is loaded without reading the source, as on Lambda.
    (task_root / "workers" / "errors.py").write_text("raise SystemExit('the source was read')\n")
    env = cold_start._environment(task_root)
    assert cold_start._ms("import time, workers.errors; print(0)", env) == 0


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
