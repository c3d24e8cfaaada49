"""The capacity model: its limits show where the stack's settings put them."""

from bench.capacity import Stack, scaled, simulate, summary

STACK = Stack(api_rate_limit=50, api_burst_limit=100, maximum_concurrency=2, batch_size=10, batching_window_s=2,
              files_per_second=32, batch_seconds=0.3)


def test_below_every_limit_nothing_waits_but_the_batching_window():
    shown = summary(simulate(STACK, 10))
    assert shown["peak_backlog"] == 0 and shown["peak_waiting_at_api"] == 0
    assert shown["latency_p50_s"] == 2.3


def test_the_api_throttle_is_the_default_stacks_first_limit():
    shown = summary(simulate(STACK, 100))
    assert shown["sustained_per_second"] == 50
    assert shown["peak_waiting_at_api"] > 10_000 and shown["peak_backlog"] == 0


def test_a_worker_slower_than_the_api_builds_the_queue_instead():
    slow = Stack(**{**STACK.__dict__, "files_per_second": 10})
    shown = summary(simulate(slow, 100))
    assert shown["sustained_per_second"] == 20 and shown["peak_backlog"] > 1_000


def test_ten_times_the_settings_hold_ten_times_the_load_without_a_queue():
    shown = summary(simulate(scaled(STACK, 10), 100))
    assert shown["sustained_per_second"] == 100 and shown["peak_backlog"] == 0 and shown["drained_after_s"] == 0
