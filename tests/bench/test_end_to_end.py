"""How the idle-latency figure reads the dashboard's polling."""

from bench.end_to_end import _poll_schedule, _seen_ms


def test_a_file_written_before_the_first_poll_is_seen_at_it_and_a_later_one_a_doubled_gap_after():
    first, longest = _poll_schedule()
    assert _seen_ms(first * 0.1, first, longest) == first
    assert _seen_ms(first + 1, first, longest) == 3 * first


def test_the_gap_stops_growing_at_the_dashboards_longest():
    assert _seen_ms(100_000, 1000, 30_000) == 1000 + 2000 + 4000 + 8000 + 16000 + 30000 + 30000 + 30000
