"""Release rules: a download URL (and a thumbnail URL) only for a file whose
malware scan says `clean`, or whose stack does not scan (`off`)."""

from __future__ import annotations

import pytest

from contract.keys import FileKey
from contract.scan import ENV_MALWARE_SCAN, SCAN_ON_VALUE
from workers.storage import clients, dynamo, ingest_records, records

from .conftest import ALICE
from .test_api import _uploaded


@pytest.fixture
def scanning(aws, monkeypatch):
    monkeypatch.setenv(ENV_MALWARE_SCAN, SCAN_ON_VALUE)


def scanned(file_id: str, state: str, threats: list[str] | None = None) -> None:
    item = records.get(clients.table(), ALICE, file_id)
    assert ingest_records.apply_scan_result(clients.table(), FileKey.parse(item["key"]), item["versionId"], state,
                                            threats or [], dynamo.now(), drop_thumbnail=False).applied


def test_a_file_waiting_for_its_scan_is_409_scan_pending(alice, scanning):
    file_id = _uploaded(alice)
    status, body = alice("POST", f"/files/{file_id}/download")
    assert (status, body["error"]["code"]) == (409, "scan_pending")
    assert alice("GET", f"/files/{file_id}")[1]["scan"] == {"status": "pending", "threats": []}


def test_a_clean_file_is_released(alice, scanning):
    file_id = _uploaded(alice)
    scanned(file_id, "clean")
    status, body = alice("POST", f"/files/{file_id}/download")
    assert status == 200
    assert body["url"]


@pytest.mark.parametrize(("state", "code", "hint"), [
    ("infected", "infected", "Eicar-Test-Signature"),
    ("unscannable", "unscannable", "without a password"),
    ("failed", "scan_failed", "ops rescan"),
])
def test_a_file_its_scan_did_not_clear_is_403_with_what_to_do(alice, scanning, state, code, hint):
    file_id = _uploaded(alice)
    scanned(file_id, state, ["Eicar-Test-Signature"] if state == "infected" else None)
    status, body = alice("POST", f"/files/{file_id}/download")
    assert (status, body["error"]["code"]) == (403, code)
    assert hint in body["error"]["message"]


def test_a_stack_without_scanning_releases_and_says_off(alice):
    file_id = _uploaded(alice)
    assert alice("POST", f"/files/{file_id}/download")[0] == 200
    assert alice("GET", f"/files/{file_id}")[1]["scan"] == {"status": "off", "threats": []}


def test_a_thumbnail_is_linked_only_once_the_file_is_clean(alice, scanning):
    file_id = _uploaded(alice)
    table = clients.table()
    table.update_item(Key=records.key_of(ALICE, file_id), UpdateExpression="SET thumbnailKey = :t",
                      ExpressionAttributeValues={":t": f"thumbnails/{ALICE}/{file_id}/1.webp"})
    assert alice("GET", f"/files/{file_id}")[1]["thumbnailUrl"] is None
    scanned(file_id, "clean")
    assert alice("GET", f"/files/{file_id}")[1]["thumbnailUrl"]


def test_an_infected_file_can_be_deleted_and_its_quota_released(alice, scanning):
    file_id = _uploaded(alice)
    scanned(file_id, "infected", ["Eicar-Test-Signature"])
    assert alice("GET", "/usage")[1]["files"]["used"] == 1
    assert alice("DELETE", f"/files/{file_id}")[0] == 204
    assert alice("GET", "/usage")[1]["files"]["used"] == 0
