"""GuardDuty Malware Protection for S3, emulated with ClamAV.

What the plan does on AWS (GuardDuty user guide, "Malware Protection for S3"):
it scans each new object or object version under its prefixes (PutObject,
POST, CopyObject, CompleteMultipartUpload), writes the object tag
`GuardDutyMalwareScanStatus` with the result when tagging is enabled, and
puts a "GuardDuty Malware Protection Object Scan Result" event on the default
EventBridge bus ("Monitoring S3 object scans with Amazon EventBridge"), where
the stack's rule sends it to the ingest queue. This module does the same:
moto tells it of each created object (local/moto_server.py, over a Unix
datagram socket), it reads the version and streams it to `clamd`, tags the
version and puts the event on moto's default bus, which delivers it by the
rule `local/provision.py` made from the contract.

`clamd` loads its database once and stays up: a scan is a stream over its
socket, never a `clamscan` that reloads the database per file. There is no
network for freshclam, so the database is built at start from the test
signatures in `local/clamav/` plus the system's database where one is
installed. What the local engine can and cannot detect: docs/security.md.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import boto3
from botocore.exceptions import ClientError
from clamav_client.clamd import BufferTooLongError, ClamdError, ClamdUnixSocket

from contract.http import MAX_FILE_SIZE
from contract.keys import INCOMING_PREFIX
from contract.scan import (
    EVENT_DETAIL_TYPE,
    EVENT_SOURCE,
    RESOURCE_TYPE,
    RESULT_FAILED,
    RESULT_NO_THREATS,
    RESULT_THREATS,
    RESULT_UNSUPPORTED,
    SCAN_STATUS,
    TAG_KEY,
)
from local.serving import end_process

log = logging.getLogger("local.guardduty")

SIGNATURES = Path(__file__).parent / "clamav"
SYSTEM_DATABASE = Path("/var/lib/clamav")
# The socket moto_server sends each created object to (bucket, key, version).
ENV_OBJECT_CREATED_SOCKET = "UPLOADS_OBJECT_CREATED_SOCKET"
# The EICAR test file, assembled so that no file in the repository holds it
# (other scanners on a developer's machine would quarantine it).
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
# What local/clamav/uploads-test.ndb finds anywhere in a file.
TEST_MARKER = b"UPLOADS-LOCAL-TEST-MALWARE-MARKER-7f3a9c"
# clamd's names for what GuardDuty reports UNSUPPORTED: password-protected
# archives (AlertEncrypted) and files past the scan limits (AlertExceedsMax).
_UNSUPPORTED = ("Heuristics.Encrypted.", "Heuristics.Limits.Exceeded")
# clamd marks a signature from outside ClamAV's own databases; the name is the signature's.
_UNOFFICIAL = ".UNOFFICIAL"
_SCANNERS = 2
_START_TIMEOUT_S = 120


def clamd_installed() -> bool:
    return shutil.which("clamd") is not None


class Clamd:
    """One clamd process for the stack's life, its database built at start."""

    def __init__(self, state_dir: Path, max_bytes: int = MAX_FILE_SIZE) -> None:
        # clamd reads its paths as absolute ones; make dev's state directory is relative.
        self._dir = Path(state_dir).resolve() / "clamav"
        self._max_bytes = max_bytes
        self._process: subprocess.Popen | None = None
        # A Unix socket's path has at most 107 bytes; a test's state directory can be longer.
        self.socket_path = Path(tempfile.mkdtemp(prefix="uploads-clamd-")) / "clamd.sock"

    def start(self) -> Clamd:
        database = self._dir / "db"
        shutil.rmtree(database, ignore_errors=True)
        database.mkdir(parents=True)
        for signatures in SIGNATURES.glob("uploads-test.*"):
            shutil.copy(signatures, database)
        system = [path for pattern in ("*.cvd", "*.cld") for path in SYSTEM_DATABASE.glob(pattern)]
        for path in system:
            (database / path.name).symlink_to(path)
        self.socket_path.unlink(missing_ok=True)
        config = self._dir / "clamd.conf"
        limit = min(self._max_bytes, 4 * 1024**3 - 1)  # clamd's limits are under 4 GiB
        config.write_text("\n".join([
            f"LocalSocket {self.socket_path}",
            f"DatabaseDirectory {database}",
            f"TemporaryDirectory {self._dir}",
            f"LogFile {self._dir / 'clamd.log'}",
            "Foreground yes",
            # The limits GuardDuty reports as UNSUPPORTED rather than letting a file through unscanned.
            f"StreamMaxLength {limit}",
            f"MaxScanSize {limit}",
            f"MaxFileSize {limit}",
            "AlertExceedsMax yes",
            "AlertEncrypted yes",
            "SelfCheck 0",
        ]) + "\n")
        self._process = subprocess.Popen(["clamd", "-c", str(config)], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"clamd exited at start-up; see {self._dir / 'clamd.log'}")
            try:
                if self.client().ping() == "PONG":
                    log.info("clamd is up with %d test signature files and %d system databases",
                             len(list(SIGNATURES.glob("uploads-test.*"))), len(system))
                    return self
            except ClamdError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"clamd did not answer within {_START_TIMEOUT_S} s")

    def client(self) -> ClamdUnixSocket:
        return ClamdUnixSocket(str(self.socket_path), timeout=60)

    def scan(self, stream) -> tuple[str, list[str]]:
        """GuardDuty's result value for a stream of bytes, and its threats."""
        try:
            answer = self.client().instream(stream)
        except BufferTooLongError:
            return RESULT_UNSUPPORTED, []
        except ClamdError:
            log.exception("clamd could not scan a stream")
            return RESULT_FAILED, []
        status, reason = answer.get("stream", ("ERROR", "no answer"))
        if status == "OK":
            return RESULT_NO_THREATS, []
        if status == "FOUND" and reason:
            name = reason.removesuffix(_UNOFFICIAL)
            if name.startswith(_UNSUPPORTED):
                return RESULT_UNSUPPORTED, []
            return RESULT_THREATS, [name]
        log.warning("clamd answered %s %s", status, reason)
        return RESULT_FAILED, []

    def stop(self) -> None:
        if self._process is not None:
            end_process(self._process)
            self._process = None
        shutil.rmtree(self.socket_path.parent, ignore_errors=True)


@dataclass(frozen=True)
class CreatedObject:
    bucket: str
    key: str
    version_id: str | None


class MalwareProtection:
    """The plan on one bucket's prefix, with tagging enabled."""

    def __init__(self, clamd: Clamd, bucket: str, region: str, prefix: str = INCOMING_PREFIX) -> None:
        self._clamd = clamd
        self._bucket, self._prefix, self._region = bucket, prefix, region
        self._s3 = self._events = None
        # Short, like clamd's (see Clamd); bound now, before moto sends to it.
        self.socket_path = Path(tempfile.mkdtemp(prefix="uploads-guardduty-")) / "created.sock"
        self._queue: queue.Queue[CreatedObject | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self.scanned = 0
        self._out = threading.Event()
        self._socket: socket.socket | None = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(self.socket_path))
        # recv wakes up now and then, so that stop() is seen.
        self._socket.settimeout(0.5)

    def start(self, moto_url: str) -> MalwareProtection:
        # GuardDuty's own access, not a principal of the stack: straight to moto.
        session = boto3.session.Session(aws_access_key_id="guardduty", aws_secret_access_key="guardduty",
                                        region_name=self._region)
        self._s3 = session.client("s3", endpoint_url=moto_url)
        self._events = session.client("events", endpoint_url=moto_url)
        self._threads = [threading.Thread(target=self._receive, name="guardduty-receive", daemon=True)]
        self._threads += [threading.Thread(target=self._scan_queued, name=f"guardduty-scan-{n}", daemon=True)
                          for n in range(_SCANNERS)]
        for thread in self._threads:
            thread.start()
        return self

    def send_object_malware_scan(self, params: dict) -> tuple[int, dict]:
        """GuardDuty's SendObjectMalwareScan (its API reference): scan one
        object again, its latest version unless one is named. 200 with an
        empty body; 400 for a bucket the plan does not protect."""
        s3_object = params.get("s3Object") or {}
        bucket, key = s3_object.get("bucket"), s3_object.get("key")
        if bucket != self._bucket or not key or not key.startswith(self._prefix):
            return 400, {"__type": "BadRequestException",
                         "message": "The object is not in a bucket and prefix a Malware Protection plan protects"}
        self._queue.put(CreatedObject(bucket, key, s3_object.get("versionId")))
        return 200, {}

    def outage(self, out: bool = True) -> None:
        """A fault, as a GuardDuty incident: while out, no object is scanned,
        tagged or reported (rescans included), and nothing is made up for
        afterwards; `SendObjectMalwareScan` (`ops rescan`) is what scans them."""
        if out:
            self._out.set()
        else:
            self._out.clear()

    def _receive(self) -> None:
        while (sock := self._socket) is not None:
            try:
                datagram = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not datagram:
                return
            created = CreatedObject(**json.loads(datagram))
            if created.bucket == self._bucket and created.key.startswith(self._prefix):
                self._queue.put(created)

    def _scan_queued(self) -> None:
        while (created := self._queue.get()) is not None:
            if self._out.is_set():
                log.warning("GuardDuty is out: %s is not scanned", created.key)
                continue
            try:
                self.scan(created)
            except Exception:
                log.exception("Scanning %s failed", created.key)

    def scan(self, created: CreatedObject) -> str | None:
        """Scan one object version, tag it and put the result event; the
        result value, or None when the version was gone before its scan."""
        version = {"VersionId": created.version_id} if created.version_id else {}
        try:
            got = self._s3.get_object(Bucket=created.bucket, Key=created.key, **version)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "NoSuchVersion", "404"):
                log.info("%s was removed before its scan", created.key)
                return None
            raise
        with got["Body"] as body:
            result, threats = self._clamd.scan(body)
        self._tag(created, result)
        self._put_event(created, got["ETag"].strip('"'), result, threats)
        self.scanned += 1
        return result

    def _tag(self, created: CreatedObject, result: str) -> None:
        """Adds GuardDuty's tag to the version's others, as the plan's tagging does."""
        version = {"VersionId": created.version_id} if created.version_id else {}
        try:
            tags = self._s3.get_object_tagging(Bucket=created.bucket, Key=created.key, **version)["TagSet"]
            tags = [tag for tag in tags if tag["Key"] != TAG_KEY] + [{"Key": TAG_KEY, "Value": result}]
            self._s3.put_object_tagging(Bucket=created.bucket, Key=created.key, Tagging={"TagSet": tags}, **version)
        except ClientError:
            # GuardDuty reports a failed tagging apart; the result event still goes out.
            log.exception("Could not tag %s", created.key)

    def _put_event(self, created: CreatedObject, etag: str, result: str, threats: list[str]) -> None:
        detail = {
            "schemaVersion": "1.0",
            "scanStatus": SCAN_STATUS[result],
            "resourceType": RESOURCE_TYPE,
            "s3ObjectDetails": {"bucketName": created.bucket, "objectKey": created.key, "eTag": etag,
                                "versionId": created.version_id, "s3Throttled": False},
            "scanResultDetails": {"scanResultStatus": result,
                                  "threats": [{"name": name} for name in threats] if threats else None},
        }
        self._events.put_events(Entries=[{
            "Source": EVENT_SOURCE, "DetailType": EVENT_DETAIL_TYPE, "Detail": json.dumps(detail),
            "Time": datetime.now(UTC), "Resources": [],
        }])

    def stop(self) -> None:
        if self._socket is not None:
            sock, self._socket = self._socket, None
            sock.close()
        for _ in range(_SCANNERS):
            self._queue.put(None)
        for thread in self._threads:
            thread.join(10)
        shutil.rmtree(self.socket_path.parent, ignore_errors=True)


def notify_created(bucket: str, key: str, version_id: str | None) -> None:
    """moto_server's side: tell the plan of a created object, if one listens."""
    path = os.environ.get(ENV_OBJECT_CREATED_SOCKET)
    if not path:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(json.dumps({"bucket": bucket, "key": key, "version_id": version_id}).encode(), path)
        except OSError:
            log.exception("The malware protection emulator did not take %s", key)
