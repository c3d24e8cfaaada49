"""A seekable, read-only file over ranged GetObject calls.

Parsers (Pillow, pypdf, zipfile, csv) get an ordinary binary file and fetch only
the blocks they touch. Blocks live in a bounded LRU cache, so memory does not
grow with the object; sequential reads fetch a growing run of blocks per
request, so a scan costs few requests, while random access fetches one block.
"""

from __future__ import annotations

import io
import time
from collections import OrderedDict
from dataclasses import dataclass

from workers.errors import FileRejected
from workers.extraction.limits import Deadline

# Fixed-size blocks in an LRU cache, with sequential read-ahead growing to at
# most half the cache so a run never evicts itself.
BLOCK_SIZE = 256 * 1024
CACHE_BLOCKS = 32
MAX_READAHEAD_BLOCKS = CACHE_BLOCKS // 2


@dataclass
class ReadStats:
    bytes_fetched: int = 0
    requests: int = 0


@dataclass(frozen=True)
class ObjectVersion:
    """Which bytes to read: a version when S3 gave one, else the ETag as a
    precondition, so a concurrent overwrite cannot mix two objects' bytes."""

    bucket: str
    key: str
    size: int
    version_id: str | None
    etag: str


class S3RangeReader(io.RawIOBase):
    def __init__(
        self,
        client,
        version: ObjectVersion,
        deadline: Deadline,
        *,
        fetch_limit: int,
        block_size: int = BLOCK_SIZE,
        cache_blocks: int = CACHE_BLOCKS,
        max_readahead_blocks: int = MAX_READAHEAD_BLOCKS,
    ) -> None:
        super().__init__()
        self.deadline = deadline
        self.stats = ReadStats()
        # The first S3 error, kept because parsers may swallow it or wrap it
        # into a "corrupt file" error; the caller re-raises it as transient.
        self.failure: Exception | None = None
        # Set once the fetch limit is hit; sticky for the same reason.
        self.refusal: FileRejected | None = None
        self.fetch_limit = fetch_limit
        self._client = client
        self._version = version
        self._block_size = block_size
        self._cache_blocks = cache_blocks
        self._max_readahead = max(1, min(max_readahead_blocks, cache_blocks))
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._pos = 0
        self._next_sequential = -1
        self._readahead = 1
        # Read-ahead stops here (an offset): a scan that ends at a limit does not
        # fetch a run of blocks past it. Past it, blocks come one at a time.
        self.readahead_end: int | None = None

    @property
    def size(self) -> int:
        return self._version.size

    def start_from(self, first_bytes: bytes, *, counted: bool) -> None:
        """Cache the object's first block, already fetched by whoever described
        the object; `counted`: charge it to this reader's reads and budget.
        Bytes that are not a whole first block are left to be fetched."""
        if not first_bytes or len(first_bytes) != min(self.size, self._block_size):
            return
        self._blocks[0] = first_bytes
        self._next_sequential = 1
        if counted:
            self.stats.bytes_fetched += len(first_bytes)
            self.stats.requests += 1

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer) -> int:
        self.deadline.check()
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), max(0, self.size - self._pos))
        done = 0
        while done < wanted:
            index, offset = divmod(self._pos, self._block_size)
            chunk = self._block(index)[offset : offset + wanted - done]
            view[done : done + len(chunk)] = chunk
            done += len(chunk)
            self._pos += len(chunk)
        return done

    def _block(self, index: int) -> bytes:
        block = self._blocks.get(index)
        if block is not None:
            self._blocks.move_to_end(index)
            return block
        self._readahead = min(self._readahead * 2, self._max_readahead) if index == self._next_sequential else 1
        horizon = (self.size - 1) // self._block_size
        if self.readahead_end is not None:
            last_ahead = (self.readahead_end - 1) // self._block_size
            horizon = min(horizon, last_ahead) if index <= last_ahead else index
        end = index
        while end + 1 <= min(horizon, index + self._readahead - 1) and end + 1 not in self._blocks:
            end += 1
        data = self._fetch(index * self._block_size, min(self.size, (end + 1) * self._block_size) - 1)
        for i in range(index, end + 1):
            start = (i - index) * self._block_size
            self._blocks[i] = data[start : start + self._block_size]
        while len(self._blocks) > self._cache_blocks:
            self._blocks.popitem(last=False)
        self._next_sequential = end + 1
        return self._blocks[index]

    def _fetch(self, first: int, last: int) -> bytes:
        self.deadline.check()
        if self.refusal is None and self.stats.bytes_fetched + last - first + 1 > self.fetch_limit:
            self.refusal = FileRejected(
                "too_large", f"Reading it needs more than the {self.fetch_limit}-byte read budget"
            )
        if self.refusal is not None:
            raise self.refusal
        params = {"Bucket": self._version.bucket, "Key": self._version.key, "Range": f"bytes={first}-{last}"}
        if self._version.version_id:
            params["VersionId"] = self._version.version_id
        elif self._version.etag:
            params["IfMatch"] = f'"{self._version.etag}"'
        waiting_since = time.monotonic()
        try:
            data = self._client.get_object(**params)["Body"].read()
            if len(data) != last - first + 1:
                raise OSError(f"S3 returned {len(data)} bytes for a {last - first + 1}-byte range")
        except Exception as exc:
            self.failure = self.failure or exc
            raise
        finally:
            self.deadline.exclude(time.monotonic() - waiting_since)
        self.stats.bytes_fetched += len(data)
        self.stats.requests += 1
        return data
