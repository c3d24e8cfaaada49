"""What a million files cost in eu-west-1, by service, computed from what the
other figures of the same run measured, times AWS's prices (bench/prices.py).
Nothing is measured here.

Per file of each mix:
- Lambda: the worker's share of a batch (batch10_over_single: a batch of ten
  small files with 20 ms per AWS call) plus the kind's extraction
  (extraction_ms_*), its CPU stretched to the vCPUs the worker's memory buys
  and its waiting shared by the extraction slots; the API's ticket
  (worker_calls_per_file's ticket_ms) at its memory; one worker request per
  batch and one API request per ticket.
- SQS: S3's notification (one SendMessage, which S3 sends and the queue's owner
  pays) and the worker's receives and deletes as counted.
- S3: the upload's PUT, the thumbnail's PUT where the kind draws one, and the
  worker's ranged GETs: the one that describes the object and reads its first
  block, then the kind's own (the kind's count, that first one included).
- DynamoDB: two write units per transaction item and one per UpdateItem, as
  counted for the ticket and the worker, and the indexes' own writes: every
  write of a file record rewrites its listing-index entry (the indexes project
  every attribute) and, while the file is pending, its attention-index entry,
  until the last write removes it. Items are taken to be under 1 KB.
- CloudWatch Logs: the worker's log per file as written at the deployed level
  (end_to_end_latency_p50_ms), and Lambda's START, END and REPORT lines.
- API Gateway: one HTTP API request per ticket.
- GuardDuty, on stacks that scan (`malwareScan`, prod's default): each object
  under `incoming/` evaluated and its bytes scanned (thumbnails are not under
  it), GuardDuty's own GET of the object and its PutObjectTagging, both billed
  to the bucket's owner, the scan-index entry every record write keeps until
  the result, and the worker's handling of the result: its SQS message (sent,
  and its share of the worker's receives and deletes), one conditional update
  (the record, its listing-index entry, and the scan-index entry it removes),
  and its Lambda time, invocation share and log, taken as a fifth of a small
  file's (one AWS call where a small file's pass makes five; not measured on
  its own). The tag is kept with the object, in the storage column.

Two anchors, from the same run: a sequential BatchProcessor worker (its batch
time, and extractions one after another) and a worker that reads each object
whole (one GET, and the whole read's time, measured beside each extraction,
where it fetches more than the ranged reads did)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench import harness, prices
from contract import functions
from contract.ingest import INGEST
from workers.extraction import isolated

SOAK = Path(__file__).resolve().parent / "soak.json"
MILLION = 1_000_000
GOAL_LAMBDA_USD = 0.25
# Lambda's own lines per invocation: START and END (about 60 bytes each) and
# REPORT (about 170: durations, memory size, memory used).
PLATFORM_LOG_BYTES = 290
MB_PER_GB = 1024
# A file record is written once by the ticket and three times by the worker
# (the event check, the extraction start, the recorded state).
RECORD_WRITES = {"ticket": 1, "worker": 3}
# Index entries each record write rewrites: the listing index's, and the
# attention index's while the file is pending (the last write removes it).
INDEX_WRITES_PER_RECORD_WRITE = 2
# On a stack that scans: the scan-index entry each of those writes rewrites,
# then the result's update (the record, its listing entry, the scan entry removed).
SCAN_WRITE_UNITS = sum(RECORD_WRITES.values()) + 3
# A scan result is one AWS call where a small file's pass makes this many.
SMALL_FILE_WORKER_CALLS = 5


@dataclass(frozen=True)
class Extraction:
    """One kind's measured extraction (an extraction_ms_* figure)."""

    wall_ms: float
    cpu_ms: float
    object_bytes: int
    get_requests: int
    bytes_fetched: int
    thumbnail_bytes: int
    whole_read_ms: float

    @classmethod
    def of(cls, figure: dict) -> Extraction:
        return cls(figure["value"], figure["cpu_ms"], figure["object_bytes"], figure["get_requests"],
                   figure["bytes_fetched"], figure["thumbnail_bytes"], figure["whole_read_ms"])


@dataclass(frozen=True)
class Usage:
    """What one file takes of each priced unit."""

    worker_ms: float
    api_ms: float
    worker_requests: float
    api_requests: float
    sqs_requests: float
    s3_put: float
    s3_get: float
    write_units: float
    read_units: float
    log_bytes: float
    stored_bytes: float
    # Malware scanning: objects and bytes GuardDuty evaluates, and the SQS
    # requests the worker spends on each result.
    scanned_objects: float = 0.0
    scanned_bytes: float = 0.0
    scan_result_sqs: float = 0.0
    scan_result_worker_ms: float = 0.0
    scan_result_log_bytes: float = 0.0
    scan_result_invocations: float = 0.0

    def scaled(self, **factors: float) -> Usage:
        values = dict(self.__dict__)
        for name, factor in factors.items():
            values[name] *= factor
        return Usage(**values)


def per_million(usage: Usage) -> dict[str, float]:
    """USD per million files, by service."""
    worker_gb = INGEST.worker_memory_mb / MB_PER_GB
    api_gb = functions.API.memory_mb / MB_PER_GB
    lines = {
        "lambda_worker": usage.worker_ms / 1000 * worker_gb * prices.LAMBDA_ARM_GB_SECOND.usd
        + usage.worker_requests * prices.LAMBDA_REQUEST.usd,
        "lambda_api": usage.api_ms / 1000 * api_gb * prices.LAMBDA_ARM_GB_SECOND.usd
        + usage.api_requests * prices.LAMBDA_REQUEST.usd,
        "sqs": usage.sqs_requests * prices.SQS_REQUEST.usd,
        "s3_requests": usage.s3_put * prices.S3_PUT_REQUEST.usd + usage.s3_get * prices.S3_GET_REQUEST.usd,
        "dynamodb": usage.write_units * prices.DYNAMODB_WRITE_UNIT.usd
        + usage.read_units * prices.DYNAMODB_READ_UNIT.usd,
        "cloudwatch_logs": usage.log_bytes / 1e9 * prices.LOGS_INGESTED_GB.usd,
        "api_gateway": usage.api_requests * prices.HTTP_API_REQUEST.usd,
        "guardduty": usage.scanned_objects * (
            prices.GUARDDUTY_S3_OBJECT.usd + prices.S3_GET_REQUEST.usd + prices.S3_PUT_REQUEST.usd
            + SCAN_WRITE_UNITS * prices.DYNAMODB_WRITE_UNIT.usd + usage.scan_result_sqs * prices.SQS_REQUEST.usd
            + _scan_result_lambda_usd(usage)
            + usage.scan_result_log_bytes / 1e9 * prices.LOGS_INGESTED_GB.usd)
        + usage.scanned_bytes / 1e9 * prices.GUARDDUTY_S3_GB.usd,
    }
    priced = {name: round(usd * MILLION, 4) for name, usd in lines.items()}
    priced["total"] = round(sum(priced.values()), 4)
    priced["total_without_scanning"] = round(priced["total"] - priced["guardduty"], 4)
    # Kept apart: it is paid every month the files are kept, not once.
    priced["s3_storage_per_month"] = round((usage.stored_bytes / 1e9 * prices.S3_STANDARD_GB_MONTH.usd
                                            + usage.scanned_objects * prices.S3_TAG_MONTH.usd) * MILLION, 4)
    return priced


def _scan_result_lambda_usd(usage: Usage) -> float:
    """The worker Lambda's part of handling one scan result, in USD."""
    return (usage.scan_result_worker_ms / 1000 * INGEST.worker_memory_mb / MB_PER_GB * prices.LAMBDA_ARM_GB_SECOND.usd
            + usage.scan_result_invocations * prices.LAMBDA_REQUEST.usd)


def _write_units(results: dict, phase: str) -> float:
    """One phase's DynamoDB write units per file: two per transaction item, one
    per update, and the index entries its record writes rewrite."""
    counted = results["worker_calls_per_file"]
    updates = counted["calls_per_file_by_phase"][phase].get("dynamodb.UpdateItem", 0)
    return (2 * counted["transaction_items_per_file"][phase] + updates
            + RECORD_WRITES[phase] * INDEX_WRITES_PER_RECORD_WRITE)


def _small_file(results: dict) -> tuple[Usage, float, float]:
    """One small file as counted end to end, and the worker's milliseconds
    per file in a batch: ours and the sequential anchor's."""
    batch = results["batch10_over_single"]
    counted = results["worker_calls_per_file"]
    phases = counted["calls_per_file_by_phase"]
    ours_ms = batch["batch_seconds"] * 1000 / batch["batch_size"]
    sequential_ms = batch["sequential_batch_seconds"] * 1000 / batch["batch_size"]
    worker = phases["worker"]
    write_units = sum(_write_units(results, phase) for phase in ("ticket", "worker"))
    read_units = sum(count for phase in phases.values() for name, count in phase.items()
                     if name in ("dynamodb.GetItem", "dynamodb.Query"))
    end_to_end = results["end_to_end_latency_p50_ms"]
    invocations = 1 / INGEST.batch_size
    usage = Usage(
        worker_ms=ours_ms, api_ms=counted["ticket_ms"], worker_requests=invocations,
        api_requests=1.0,
        sqs_requests=1 + sum(count for name, count in worker.items() if name.startswith("sqs.")),
        s3_put=phases["upload"].get("s3.PutObject", 0) + worker.get("s3.PutObject", 0),
        s3_get=worker.get("s3.GetObject", 0) + worker.get("s3.HeadObject", 0),
        write_units=write_units, read_units=read_units,
        log_bytes=end_to_end["log_bytes_per_file"] + PLATFORM_LOG_BYTES * (invocations + 1),
        stored_bytes=counted["object_bytes"], scanned_objects=1.0, scanned_bytes=counted["object_bytes"],
        scan_result_sqs=1 + sum(count for name, count in worker.items() if name.startswith("sqs.")),
        scan_result_worker_ms=ours_ms / SMALL_FILE_WORKER_CALLS, scan_result_invocations=invocations,
        scan_result_log_bytes=(end_to_end["log_bytes_per_file"] + PLATFORM_LOG_BYTES * invocations)
        / SMALL_FILE_WORKER_CALLS)
    return usage, ours_ms, sequential_ms


def _with_kind(small: Usage, kind: Extraction, slots: int) -> tuple[Usage, float, float]:
    """A file of `kind`: the small file's path plus the kind's extraction, and
    the extraction's milliseconds as ours (its waiting shared by the `slots`
    files of its kind the worker's pool extracts at once) and as the
    sequential anchor runs it."""
    cpu_stretch = 1 / min(1.0, INGEST.vcpus)
    waiting = max(0.0, kind.wall_ms - kind.cpu_ms)
    ours = kind.cpu_ms * cpu_stretch + waiting / slots
    sequential = kind.cpu_ms * cpu_stretch + waiting
    usage = Usage(**{**small.__dict__, "worker_ms": small.worker_ms + ours,
                     "s3_put": small.s3_put + (1 if kind.thumbnail_bytes else 0),
                     "s3_get": small.s3_get - 1 + kind.get_requests,
                     "stored_bytes": kind.object_bytes + kind.thumbnail_bytes,
                     "scanned_bytes": kind.object_bytes})
    return usage, ours, sequential


def _soak_share(results: dict) -> tuple[float, float, float] | None:
    """From the last `make soak` (bench/soak.json): objects written, worker
    passes and thumbnails per upload, faults, overwrites and retries included."""
    if not SOAK.exists():
        return None
    soak = json.loads(SOAK.read_text())
    uploads = soak["uploads"]
    objects = (uploads + soak["overwritten"]) / uploads
    passes = (uploads + soak["overwritten"] + soak["mapping"]["redelivered"]
              + soak["mapping"]["failed_messages"]) / uploads
    # One plain upload in four is a small PNG, which draws a thumbnail (bench/soak.py's plan).
    thumbnails = (soak["processed"] / uploads) / 4
    return objects, passes, thumbnails


def run(results: dict) -> dict:
    small, ours_ms, sequential_ms = _small_file(results)
    sequential = Usage(**{**small.__dict__, "worker_ms": sequential_ms})
    mixes: dict[str, dict] = {}

    def mix(name: str, usage: Usage, sequential: Usage, whole: Usage, drivers: str) -> None:
        mixes[name] = {"ours": per_million(usage), "sequential_batch_processor": per_million(sequential),
                       "whole_object_read": per_million(whole), "worker_ms_per_file": round(usage.worker_ms, 1),
                       "drivers": drivers}

    mix("small files", small, sequential, small,
        "on a stack that scans, GuardDuty's charge per object evaluated is most of the total, whatever the "
        "file's size; without scanning, DynamoDB is the largest line: the ticket and the worker each write a "
        "transaction (two units per item) besides their updates; then S3, where the upload's PUT costs twelve "
        "times the worker's GET; the worker's Lambda is small because a batch of ten shares one "
        "invocation and overlaps its waiting")
    # Each mix's figure, and the kind whose declared memory sizes its slots.
    kinds = {"images": ("jpeg", "image"), "pdfs": ("pdf", "pdf"), "csvs": ("csv", "csv")}
    drivers = {
        "images": "the thumbnail's PUT doubles S3's write requests; decoding is CPU, stretched by the 0.58 vCPU "
                  "that 1,024 MB buys",
        "pdfs": "a few ranged GETs instead of the whole file; parsing waits on reads, overlapped by the slots",
        "csvs": "the scan to its limit is CPU, stretched by the 0.58 vCPU that 1,024 MB buys, so the worker's "
                "Lambda line rivals DynamoDB's; keeping the files costs more each month than processing them once",
    }
    for name, (prefix, kind_name) in kinds.items():
        figure = next((value for key, value in results.items() if key.startswith(f"extraction_ms_{prefix}")), None)
        if figure is None:
            continue
        kind = Extraction.of(figure)
        usage, ours, in_sequence = _with_kind(small, kind, isolated.slots(INGEST.worker_memory_mb, kind_name))
        anchor = Usage(**{**usage.__dict__, "worker_ms": sequential_ms + in_sequence})
        unread = max(0.0, 1 - kind.bytes_fetched / kind.object_bytes) if kind.object_bytes else 0.0
        whole = Usage(**{**usage.__dict__, "worker_ms": usage.worker_ms + kind.whole_read_ms * unread,
                         "s3_get": small.s3_get})
        mix(name, usage, anchor, whole, drivers[name])
    share = _soak_share(results)
    if share is not None:
        objects, passes, thumbnails = share
        # Every pass repeats the worker's share; every object its notification and its upload.
        soaked = small.scaled(worker_ms=passes, worker_requests=passes, s3_get=passes, log_bytes=passes,
                              stored_bytes=objects, scanned_objects=objects, scanned_bytes=objects)
        # The ticket is written once per upload; the worker's writes repeat with each pass.
        soaked = Usage(**{**soaked.__dict__, "s3_put": objects + thumbnails,
                          "sqs_requests": objects + (small.sqs_requests - 1) * passes,
                          "write_units": _write_units(results, "ticket") + _write_units(results, "worker") * passes})
        anchor = Usage(**{**soaked.__dict__, "worker_ms": sequential_ms * passes})
        mix("soak mix", soaked, anchor, soaked,
            f"faults and duplicates: {passes:.2f} worker passes and {objects:.2f} objects per upload")

    lambda_usd = mixes["small files"]["ours"]["lambda_worker"]
    s3_usd = mixes["small files"]["ours"]["s3_requests"]
    goal = f"<= ${GOAL_LAMBDA_USD} and < S3 requests (${s3_usd})"
    return {
        "worker_lambda_usd_per_million_small_files": harness.figure(
            lambda_usd, goal, lambda_usd <= GOAL_LAMBDA_USD and lambda_usd < s3_usd,
            baseline=mixes["small files"]["sequential_batch_processor"]["lambda_worker"],
            api_lambda_usd=mixes["small files"]["ours"]["lambda_api"],
            # On a stack that scans, each result is a second, smaller pass (in the guardduty line).
            with_scan_results_usd=round(lambda_usd + small.scanned_objects * _scan_result_lambda_usd(small) * MILLION,
                                        4),
            worker_ms_per_file=round(ours_ms, 1), worker_memory_mb=INGEST.worker_memory_mb),
        **{f"usd_per_million_{name.replace(' ', '_')}": harness.figure(
            shown["ours"]["total"], "reported (eu-west-1, by service in results.json)", None,
            baseline=shown["sequential_batch_processor"]["total"], **shown) for name, shown in mixes.items()},
    }


def section(results: dict) -> str:
    """The cost table of docs/benchmarks.md."""
    rows = [(name.removeprefix("usd_per_million_").replace("_", " "), shown) for name, shown in results.items()
            if name.startswith("usd_per_million_")]
    if not rows:
        return ""
    services = ("lambda_worker", "lambda_api", "sqs", "s3_requests", "dynamodb", "cloudwatch_logs", "api_gateway",
                "guardduty", "total", "total_without_scanning")
    lines = [
        "## What a million files cost (eu-west-1)\n",
        f"USD per million files, from this run's counts and durations times AWS's prices read on {prices.READ_ON} "
        "(`bench/prices.py`: each price's page, and whether it was confirmed that day). How each line is derived "
        "is in `bench/cost.py`; storage is per month kept. Anchors: a sequential BatchProcessor worker and a "
        "worker that reads each object whole, from the same run. The guardduty line is what malware scanning "
        "adds (`malwareScan`, on by default in prod only): a stack that does not scan pays the total without "
        "it.\n",
        "| mix | worker | " + " | ".join(services) + " | S3 storage / month |",
        "|---|---|" + "---|" * (len(services) + 1),
    ]
    for name, shown in rows:
        for worker in ("ours", "sequential_batch_processor", "whole_object_read"):
            priced = shown[worker]
            lines.append(f"| {name} | {worker.replace('_', ' ')} | "
                         + " | ".join(f"{priced[service]:.2f}" for service in services)
                         + f" | {priced['s3_storage_per_month']:.2f} |")
    lines.append("\nWhat drives each mix:\n")
    lines += [f"- **{name}**: {shown['drivers']}" for name, shown in rows]
    unconfirmed = [name.lower() for name, price in prices.ALL.items() if not price.confirmed]
    lines.append(f"\nPrices not confirmed on {prices.READ_ON}: {', '.join(unconfirmed)}.\n")
    return "\n".join(lines)
