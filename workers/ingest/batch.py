"""A batch's messages handled side by side, each file's in order.

Powertools' BatchProcessor handles a batch one message after another, and its
AsyncBatchProcessor needs an async handler, which boto3 cannot serve. This is
BatchProcessor with one change: `process` runs the messages on a bounded pool
of threads. Messages that touch the same file form one chain, handled in batch
order on one thread; chains share no file and run at the same time. What is
reported (`batchItemFailures`, a batch that failed whole) is BatchProcessor's
own, in batch order as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType


def chains(records: list[dict], files_of: Callable[[dict], Iterable[Hashable]]) -> list[list[int]]:
    """The records' positions, grouped so that records sharing a file, directly
    or through a record that names two files, are in one chain, in batch order."""
    parent = list(range(len(records)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    first_with: dict[Hashable, int] = {}
    for index, record in enumerate(records):
        for file in files_of(record):
            if file in first_with:
                parent[root(index)] = root(first_with[file])
            else:
                first_with[file] = index
    grouped: dict[int, list[int]] = {}
    for index in range(len(records)):
        grouped.setdefault(root(index), []).append(index)
    return list(grouped.values())


class ConcurrentBatchProcessor(BatchProcessor):
    """`files_of(record)` names the files a raw record touches (none when it
    cannot tell, which makes the record a chain of its own)."""

    def __init__(self, event_type: EventType, files_of: Callable[[dict], Iterable[Hashable]], max_workers: int,
                 **kwargs) -> None:
        super().__init__(event_type, **kwargs)
        self._files_of = files_of
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="message")
        self._reporting = threading.Lock()

    def process(self) -> list[tuple]:
        results: list = [None] * len(self.records)

        def run(chain: list[int]) -> None:
            for index in chain:
                results[index] = self._process_record(self.records[index])

        for running in [self._pool.submit(run, chain) for chain in chains(self.records, self._files_of)]:
            running.result()
        self._in_batch_order()
        return results

    def success_handler(self, record, result):
        with self._reporting:
            return super().success_handler(record, result)

    def failure_handler(self, record, exception):
        with self._reporting:
            return super().failure_handler(record, exception)

    def _in_batch_order(self) -> None:
        position = {record["messageId"]: index for index, record in enumerate(self.records)}
        self.success_messages.sort(key=lambda record: position[record["messageId"]])
        failed = sorted(zip(self.fail_messages, self.exceptions, strict=True),
                        key=lambda pair: position[pair[0]["messageId"]])
        self.fail_messages = [record for record, _ in failed]
        self.exceptions = [exception for _, exception in failed]
