"""How far one region goes: a fluid model of the ingest path, replayed against
an arrival curve, second by second (`python -m bench.capacity`, whose
Markdown is in docs/scaling.md).

The worker's rate per execution environment comes from `make bench`
(bench/results.json: a batch of ten small files, with 20 ms per AWS call).
The rest is AWS's documented behaviour:
- Uploads start with a ticket from the API, which the stage throttles at the
  stack's `apiRateLimit` (a token bucket of `apiBurstLimit`); above it, callers
  get 429 and retry, so arrivals above the rate wait in front of the API.
- The event source mapping starts with five concurrent batches and adds up to
  300 a minute while messages wait, never above its maximum concurrency
  (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html).
- A message waits for the batching window when its batch is not full
  (services-sqs-configure.html: the mapping invokes when the batch is full, the
  window ends, or the payload reaches 6 MB)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, replace
from pathlib import Path

from components.stack_config import DEFAULT_API_BURST_LIMIT, DEFAULT_API_RATE_LIMIT
from contract.ingest import INGEST

RESULTS = Path(__file__).resolve().parent / "results.json"
# The event source mapping's documented scaling.
START_BATCHES = 5
ADDED_PER_MINUTE = 300


@dataclass(frozen=True)
class Stack:
    api_rate_limit: float
    api_burst_limit: float
    maximum_concurrency: int
    batch_size: int
    batching_window_s: float
    # How many files one execution environment finishes per second.
    files_per_second: float
    # One batch's time in the worker, in seconds.
    batch_seconds: float


def default_stack(results: dict | None = None) -> Stack:
    """The stack as deployed by default, at the worker's measured speed."""
    results = results if results is not None else json.loads(RESULTS.read_text())
    batch = results["batch10_over_single"]
    seconds = batch["batch_seconds"]
    return Stack(api_rate_limit=DEFAULT_API_RATE_LIMIT, api_burst_limit=DEFAULT_API_BURST_LIMIT,
                 maximum_concurrency=INGEST.maximum_concurrency,
                 batch_size=batch["batch_size"], batching_window_s=INGEST.batching_window_s,
                 files_per_second=batch["batch_size"] / seconds, batch_seconds=seconds)


@dataclass(frozen=True)
class Second:
    t: int
    arrived: float
    admitted: float
    waiting_at_api: float
    backlog: float
    concurrency: int
    processed: float
    # Upload to processed for a file admitted this second, by Little's law.
    latency_s: float


def simulate(stack: Stack, rate: float, ramp_s: int = 60, hold_s: int = 300, drain_s: int = 600) -> list[Second]:
    """Arrivals ramp to `rate` per second over `ramp_s`, hold, then stop."""
    tokens, waiting_at_api, backlog, batches = stack.api_burst_limit, 0.0, 0.0, START_BATCHES
    timeline = []
    for t in range(ramp_s + hold_s + drain_s):
        arrived = rate * min(1.0, (t + 1) / ramp_s) if t < ramp_s + hold_s else 0.0
        tokens = min(stack.api_burst_limit, tokens + stack.api_rate_limit)
        waiting_at_api += arrived
        admitted = min(waiting_at_api, tokens)
        tokens -= admitted
        waiting_at_api -= admitted
        backlog += admitted
        concurrency = min(stack.maximum_concurrency, batches)
        capacity = concurrency * stack.files_per_second
        processed = min(backlog, capacity)
        backlog -= processed
        if backlog > 0:
            batches = min(stack.maximum_concurrency, batches + ADDED_PER_MINUTE / 60)
        else:
            batches = max(START_BATCHES, batches - ADDED_PER_MINUTE / 60)
        # A batch that is not full waits for the window before it starts.
        window = 0.0 if admitted / max(1, concurrency) >= stack.batch_size else stack.batching_window_s
        api_wait = waiting_at_api / stack.api_rate_limit
        latency = api_wait + window + backlog / capacity + stack.batch_seconds
        timeline.append(Second(t, arrived, admitted, waiting_at_api, backlog, int(concurrency), processed, latency))
    return timeline


def summary(timeline: list[Second]) -> dict:
    peak = max(timeline, key=lambda second: second.latency_s)
    busy = [second for second in timeline if second.arrived > 0]
    drained = next((second.t for second in timeline[len(busy):]
                    if second.backlog < 1 and second.waiting_at_api < 1), None)
    return {
        "sustained_per_second": round(sum(second.processed for second in busy[-60:]) / 60, 1),
        "peak_backlog": round(max(second.backlog for second in timeline)),
        "peak_waiting_at_api": round(max(second.waiting_at_api for second in timeline)),
        "latency_p50_s": round(sorted(second.latency_s for second in busy)[len(busy) // 2], 2),
        "latency_max_s": round(peak.latency_s, 1),
        "drained_after_s": None if drained is None else drained - len(busy),
    }


def scaled(stack: Stack, factor: int) -> Stack:
    """What to set for `factor` times the default stack's capacity."""
    return replace(stack, api_rate_limit=stack.api_rate_limit * factor, api_burst_limit=stack.api_burst_limit * factor,
                   maximum_concurrency=min(1000, stack.maximum_concurrency * factor))


def report(stack: Stack) -> str:
    rows = ["| stack | uploads/s offered | processed/s (last minute) | peak queue | peak at the API | "
            "p50 latency (s) | max latency (s) | drained after (s) |", "|---|---|---|---|---|---|---|---|"]
    # The window AWS lets a batch of ten wait, beside the derived default of none.
    stacks = {"default": stack, "default, 2 s window": replace(stack, batching_window_s=2),
              "10x": scaled(stack, 10), "100x": scaled(stack, 100)}
    for name, candidate in stacks.items():
        for rate in (10, 100, 1000):
            shown = summary(simulate(candidate, rate))
            rows.append(f"| {name} | {rate:,} | {shown['sustained_per_second']:,} | {shown['peak_backlog']:,} | "
                        f"{shown['peak_waiting_at_api']:,} | {shown['latency_p50_s']} | {shown['latency_max_s']:,} | "
                        f"{shown['drained_after_s'] if shown['drained_after_s'] is not None else 'not in 10 min'} |")
    settings = "\n".join(
        f"- {name}: apiRateLimit {candidate.api_rate_limit:g}, apiBurstLimit {candidate.api_burst_limit:g}, "
        f"ingestMaximumConcurrency {candidate.maximum_concurrency}, batching window {candidate.batching_window_s:g} s"
        for name, candidate in stacks.items())
    return (f"One environment: {stack.files_per_second:.1f} small files/s ({stack.batch_seconds:.3f} s per batch "
            f"of {stack.batch_size}).\n\n{settings}\n\n"
            + "\n".join(rows) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    print(report(default_stack()))


if __name__ == "__main__":
    main()
