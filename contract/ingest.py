"""How the ingest queue feeds the worker, and what derives from it. The
queue, the event source mapping (deployed or emulated), the worker's own time
budget and the alarms all read these."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IngestSettings:
    """The visibility timeout is derived, never configured, so it cannot drift
    below what a slow batch needs."""

    worker_timeout_s: int = 60
    worker_memory_mb: int = 1024
    batch_size: int = 10
    batching_window_s: int = 2
    max_receive_count: int = 5
    # Per stack (`uploads:workerReservedConcurrency`): accounts with a reduced
    # concurrency quota refuse any reservation. None reserves nothing.
    reserved_concurrency: int | None = None
    maximum_concurrency: int = 2
    message_retention_s: int = 4 * 24 * 3600
    dlq_retention_s: int = 14 * 24 * 3600
    receive_wait_s: int = 20
    # A file whose extraction has started this many times without ever
    # finishing (each time the worker died with it) is failed for good. Below
    # max_receive_count, so its batch-mates are retried at most this many times
    # less one, and never reach the DLQ because of it.
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
        if self.dlq_retention_s <= self.message_retention_s:
            raise ValueError("the DLQ must keep messages longer than the source queue")

    @property
    def visibility_timeout_s(self) -> int:
        # AWS's guidance for SQS event sources: six times the function timeout
        # plus the batching window, so a retried invocation never overlaps.
        return 6 * self.worker_timeout_s + self.batching_window_s

    @property
    def extract_seconds(self) -> float:
        """One file's extraction budget: a full batch of worst-case files must
        still fit in one invocation, with a fifth of the timeout left for the
        records and metrics."""
        return self.worker_timeout_s * 0.8 / self.batch_size

    @property
    def pending_record_ttl_s(self) -> int:
        """An upload ticket whose object never arrives expires, but only after
        every message about it could have been delivered: it may wait its
        retention in the queue and again in the DLQ before a redrive."""
        return self.message_retention_s + self.dlq_retention_s + 24 * 3600


INGEST = IngestSettings()
