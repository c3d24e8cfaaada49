"""How the ingest queue feeds the worker, and what derives from it. The
queue, the event source mapping (deployed or emulated), the worker's own time
budget and the alarms all read these."""

from __future__ import annotations

from dataclasses import dataclass

# Lambda gives a function CPU in proportion to its memory: "At 1,769 MB, a
# function has the equivalent of one vCPU (one vCPU-second of credits per
# second)", for any size from 128 MB to 10,240 MB
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
MB_PER_VCPU = 1769
LAMBDA_MEMORY_MB = (128, 10240)
# What the worker holds besides its files' extractions (the runtime, boto3,
# Powertools and the batch in flight), and one extraction's share when the
# memory allows more than one at a time: the largest per-kind memory budget,
# with room for the libraries a child maps.
WORKER_RESERVE_MB = 256
EXTRACTION_SHARE_MB = 256
# What a full batch of worst-case files may take of the timeout; the rest is
# for the records and metrics.
EXTRACTION_SHARE_OF_TIMEOUT = 0.8


@dataclass(frozen=True)
class IngestSettings:
    """The visibility timeout is derived, never configured, so it cannot drift
    below what a slow batch needs."""

    worker_timeout_s: int = 60
    worker_memory_mb: int = 1024
    batch_size: int = 10
    # The mapping invokes when the batch is full, the window ends, or the
    # payload reaches 6 MB (https://docs.aws.amazon.com/lambda/latest/dg/
    # services-sqs-configure.html): a window holds a lone file at low traffic,
    # and at volume one receive fills a batch of ten anyway. See batching_window_for.
    batching_window_s: int = 0
    max_receive_count: int = 5
    # Per stack (`uploads:workerReservedConcurrency`): accounts with a reduced
    # concurrency quota refuse any reservation. None reserves nothing.
    reserved_concurrency: int | None = None
    maximum_concurrency: int = 2
    message_retention_s: int = 4 * 24 * 3600
    dlq_retention_s: int = 14 * 24 * 3600
    receive_wait_s: int = 20
    # A file whose extraction has started this many times without ever
    # finishing (each time the worker died with it, the last time with the file
    # alone) is failed for good on the next delivery. Below max_receive_count,
    # so that delivery comes before the DLQ; batch-mates never run beside its
    # last try, so they never reach the DLQ because of it.
    quarantine_after_starts: int = 4

    def __post_init__(self) -> None:
        if self.max_receive_count < 5:
            raise ValueError("max_receive_count must be at least 5")
        if not 2 <= self.quarantine_after_starts < self.max_receive_count:
            raise ValueError("quarantine_after_starts must be in [2, max_receive_count)")
        if self.maximum_concurrency < 2:
            raise ValueError("maximum_concurrency must be at least 2 (the event source mapping's minimum)")
        if self.reserved_concurrency is not None and self.reserved_concurrency < self.maximum_concurrency:
            raise ValueError("reserved_concurrency must be at least maximum_concurrency, or None")
        if self.batch_size > 10 and self.batching_window_s < 1:
            raise ValueError("batch_size above 10 needs a batching window (AWS rule)")
        if not LAMBDA_MEMORY_MB[0] <= self.worker_memory_mb <= LAMBDA_MEMORY_MB[1]:
            raise ValueError(f"worker_memory_mb must be within Lambda's {LAMBDA_MEMORY_MB} MB")
        if self.dlq_retention_s <= self.message_retention_s:
            raise ValueError("the DLQ must keep messages longer than the source queue")

    @property
    def visibility_timeout_s(self) -> int:
        # AWS's guidance for SQS event sources: six times the function timeout
        # plus the batching window, so a retried invocation never overlaps.
        return 6 * self.worker_timeout_s + self.batching_window_s

    @property
    def vcpus(self) -> float:
        """The CPU the worker's memory buys, in vCPUs."""
        return self.worker_memory_mb / MB_PER_VCPU

    @property
    def extraction_memory_mb(self) -> int:
        """What the worker's memory leaves for extraction children."""
        return max(self.worker_memory_mb - WORKER_RESERVE_MB, self.worker_memory_mb // 4)

    @property
    def extraction_slots(self) -> int:
        """How many files are extracted at once: as many as the memory holds
        with a file's share each, so that together they never take the
        worker's reserve."""
        return max(1, self.extraction_memory_mb // EXTRACTION_SHARE_MB)

    @property
    def extract_cpu_seconds(self) -> float:
        """One file's CPU budget. A full batch of files that each use all of
        it must still fit in the timeout, and together they have the worker's
        vCPUs, or one per extraction slot when there are fewer slots (an
        extraction is one process, which one vCPU serves at most)."""
        cpus = min(self.vcpus, self.extraction_slots)
        return self.worker_timeout_s * EXTRACTION_SHARE_OF_TIMEOUT * cpus / self.batch_size

    @property
    def extract_seconds(self) -> float:
        """One file's time budget, counted on the clock: what its CPU budget
        takes a file alone, on at most one vCPU. Under 1,769 MB that is the
        timeout's share per file, whatever the memory, since the CPU budget
        shrinks with the CPU the memory buys."""
        return self.extract_cpu_seconds / min(1.0, self.vcpus)

    @property
    def pending_record_ttl_s(self) -> int:
        """An upload ticket whose object never arrives expires, but only after
        every message about it could have been delivered: it may wait its
        retention in the queue and again in the DLQ before a redrive."""
        return self.message_retention_s + self.dlq_retention_s + 24 * 3600


# AWS's bounds for an SQS event source: MaximumBatchingWindowInSeconds and
# ScalingConfig.MaximumConcurrency
# (https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html).
MAX_BATCHING_WINDOW_S = 300
MAXIMUM_CONCURRENCY = (2, 1000)
# Above one ReceiveMessage's ten, the worker's per-file time budget (a share of
# the timeout per file of a full batch) would shrink below what the kinds need.
MAX_BATCH_SIZE = 10


def batching_window_for(batch_size: int) -> int:
    """The shortest window AWS allows for `batch_size`: none up to ten, where
    it would only delay a file at low traffic, and one second above it."""
    return 0 if batch_size <= 10 else 1


INGEST = IngestSettings()
