"""Every IAM decision of a local stack, one JSON line each, when
`UPLOADS_IAM_RECORD_DIR` names a directory: `make test` sets it for the whole
suite, and tests/iam/test_least_privilege.py reads what every stack of every
test process wrote there.

One file per stack and process (`<stack>-<pid>-<random>.jsonl`), so writers
never share a file; within it, lines are written whole under a lock, on a
file opened for appending.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any

ENV_VAR = "UPLOADS_IAM_RECORD_DIR"


class Recorder:
    def __init__(self, directory: Path, stack: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{stack}-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
        self._lock = threading.Lock()
        self._file = open(self.path, "a", encoding="utf-8", buffering=1)

    @classmethod
    def from_env(cls, stack: str) -> Recorder | None:
        directory = os.environ.get(ENV_VAR)
        return cls(Path(directory), stack) if directory else None

    def write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":"), default=str) + "\n"
        with self._lock:
            if not self._file.closed:
                self._file.write(line)

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read(directory: Path) -> list[dict[str, Any]]:
    """Every decision recorded under `directory`."""
    entries = []
    for path in sorted(directory.glob("*.jsonl")):
        with open(path, encoding="utf-8") as lines:
            entries.extend(json.loads(line) for line in lines if line.strip())
    return entries
