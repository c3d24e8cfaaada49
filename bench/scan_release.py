"""Scan, then release, under load: uploads through the API on a local stack
whose malware protection plan is emulated with clamd, a share of them EICAR.
What it shows: no infected file is ever released, every clean one is, none
is left pending, and what scanning adds to the time from upload to
downloadable (p50, p95): the moment a download URL is first issued, less the
moment the file was processed (when a stack without scanning releases it).

`python -m bench.scan_release [--files N] [--infected-share S]`; writes
bench/scan.json. Needs clamd (apt-get install -y clamav-daemon)."""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench.harness import median, percentile
from local import cognito
from local.guardduty import EICAR
from local.stack import LocalStack

OUT = Path(__file__).resolve().parent / "scan.json"
POLL_S = 0.05
DEADLINE_S = 120


def _upload(api: str, session: requests.Session, name: str, data: bytes) -> tuple[str, float]:
    ticket = session.post(f"{api}/uploads", json={"filename": name, "contentType": "application/octet-stream",
                                                   "size": len(data)}, timeout=30).json()
    upload = ticket["upload"]
    sent = requests.post(upload["url"], data=upload["fields"], files={"file": ("file", data)}, timeout=30)
    sent.raise_for_status()
    return ticket["fileId"], time.monotonic()


def _follow(api: str, session: requests.Session, file_id: str, uploaded_at: float) -> dict:
    """Poll one file until its scan is final; when it was processed and when first released."""
    processed_at = released_at = None
    deadline = uploaded_at + DEADLINE_S
    while time.monotonic() < deadline:
        file = session.get(f"{api}/files/{file_id}", timeout=30).json()
        now = time.monotonic()
        if processed_at is None and file["status"] != "pending":
            processed_at = now
        answer = session.post(f"{api}/files/{file_id}/download", timeout=30)
        if answer.status_code == 200 and released_at is None:
            released_at = time.monotonic()
        if file["status"] != "pending" and file["scan"]["status"] != "pending" and (
                released_at is not None or file["scan"]["status"] != "clean"):
            return {"scan": file["scan"]["status"], "processed_s": processed_at - uploaded_at,
                    "released_s": None if released_at is None else released_at - uploaded_at}
        time.sleep(POLL_S)
    return {"scan": "pending", "processed_s": None, "released_s": None}


def run(files: int, infected_share: float, seed: int = 7) -> dict:
    chooser = random.Random(seed)
    infected = set(chooser.sample(range(files), max(1, round(files * infected_share))))
    with tempfile.TemporaryDirectory() as state, LocalStack(state_dir=Path(state), moto_port=0, api_port=0,
                                                           malware_scan=True) as stack:
        tokens = cognito.sign_in(stack.client("cognito-idp"), stack.outputs["userPoolClientId"],
                                 stack.outputs["demoUser"])
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {tokens['AccessToken']}"
        api = stack.outputs["apiUrl"]
        bodies = [EICAR if index in infected else chooser.randbytes(64 * 1024) for index in range(files)]
        with ThreadPoolExecutor(8) as pool:
            uploads = list(pool.map(lambda index: _upload(api, session, f"f{index}.bin", bodies[index]),
                                    range(files)))
            outcomes = list(pool.map(lambda upload: _follow(api, session, *upload), uploads))
    clean = [outcome for index, outcome in enumerate(outcomes) if index not in infected]
    bad = [outcome for index, outcome in enumerate(outcomes) if index in infected]
    added = [outcome["released_s"] - outcome["processed_s"] for outcome in clean
             if outcome["released_s"] is not None and outcome["processed_s"] is not None]
    to_release = [outcome["released_s"] for outcome in clean if outcome["released_s"] is not None]
    return {
        "files": files,
        "infected": len(bad),
        "infected_released": sum(outcome["released_s"] is not None for outcome in bad),
        "infected_recorded_infected": sum(outcome["scan"] == "infected" for outcome in bad),
        "clean_released": len(to_release),
        "clean": len(clean),
        "left_pending": sum(outcome["scan"] == "pending" for outcome in outcomes),
        "upload_to_downloadable_s": {"p50": round(median(to_release), 3),
                                     "p95": round(percentile(to_release, 0.95), 3)} if to_release else None,
        "added_by_scanning_s": {"p50": round(median(added), 3), "p95": round(percentile(added, 0.95), 3)}
        if added else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scan_release", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--infected-share", type=float, default=0.05)
    args = parser.parse_args()
    results = run(args.files, args.infected_share)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
