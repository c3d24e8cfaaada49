"""Scan, then release, on a local stack whose malware protection plan is
emulated with clamd (local/guardduty.py): nothing is downloadable before its
scan says clean, and malware never is."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest
import requests
from botocore.exceptions import ClientError

from contract import events
from contract.scan import TAG_KEY
from local.guardduty import EICAR, TEST_MARKER, clamd_installed
from local.stack import LocalStack
from ops.__main__ import main
from ops.outputs import Stack

from .conftest import POLL_S, Api, assert_valid, demo_api, kinds, told, upload_small, wait_for_status

pytestmark = pytest.mark.skipif(not clamd_installed(), reason="clamd is not installed (apt-get install clamav-daemon)")


@pytest.fixture(scope="module")
def scanning_stack(tmp_path_factory):
    with LocalStack(state_dir=tmp_path_factory.mktemp("scan-stack"), moto_port=0, api_port=0,
                    malware_scan=True) as running:
        yield running


@pytest.fixture(scope="module")
def scanning_api(scanning_stack) -> Api:
    return demo_api(scanning_stack)


def wait_for_scan(api: Api, file_id: str, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        file = api("GET", f"/files/{file_id}").json()
        if file["scan"]["status"] != "pending" and file["status"] != "pending":
            return file
        time.sleep(POLL_S)
    raise AssertionError(f"{file_id}'s scan still pending after {timeout_s}s")


def zipped(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def test_the_eicar_file_ends_infected_and_is_never_downloadable(scanning_api):
    file_id = upload_small(scanning_api, "eicar.com", EICAR, "application/octet-stream")
    file = wait_for_scan(scanning_api, file_id)
    assert file["scan"] == {"status": "infected", "threats": ["Eicar-Test-Signature"]}
    answer = scanning_api("POST", f"/files/{file_id}/download")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "infected"
    assert "Eicar-Test-Signature" in answer.json()["error"]["message"]


def test_an_infected_file_is_told_infected_once_with_its_threats(scanning_stack, scanning_api):
    file_id = upload_small(scanning_api, "eicar-told.com", EICAR, "application/octet-stream")
    wait_for_scan(scanning_api, file_id)
    found = told(scanning_stack, Stack.from_file(scanning_stack.stack_file), file_id)
    assert_valid(found)
    assert sorted(kinds(found)) == sorted([events.FILE_UPLOADED, events.FILE_PROCESSED, events.FILE_INFECTED])
    (infected,) = [event for event in found if event["detail-type"] == events.FILE_INFECTED]
    assert infected["detail"]["threats"] == ["Eicar-Test-Signature"]
    assert events.FILE_RELEASED not in kinds(found)


def test_a_clean_file_is_told_released_once_after_it_is_processed(scanning_stack, scanning_api):
    file_id = upload_small(scanning_api, "clean-told.txt", b"clean and told")
    wait_for_scan(scanning_api, file_id)
    found = told(scanning_stack, Stack.from_file(scanning_stack.stack_file), file_id)
    assert_valid(found)
    assert kinds(found) == [events.FILE_UPLOADED, events.FILE_PROCESSED, events.FILE_RELEASED]


def test_a_clean_file_is_downloadable_only_after_its_scan(scanning_stack, scanning_api):
    """Which comes first, the worker's extraction or the scan's result, is up
    to the queue; either way the release comes after the scan: GuardDuty tags
    the object before it sends the result that releases the file."""
    file_id = upload_small(scanning_api, "notes.txt", b"nothing to see here")
    refused = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = scanning_api("POST", f"/files/{file_id}/download")
        if answer.status_code == 200:
            # A scan state never goes back, so a read after the release still says why it was released.
            assert scanning_api("GET", f"/files/{file_id}").json()["scan"]["status"] == "clean"
            assert tag_of(scanning_stack, file_id) == "NO_THREATS_FOUND"
            assert requests.get(answer.json()["url"], timeout=30).content == b"nothing to see here"
            break
        refused.append(answer.json()["error"]["code"])
        time.sleep(POLL_S / 4)
    else:
        raise AssertionError("never released")
    assert set(refused) <= {"not_uploaded", "scan_pending"}


def test_an_eicar_inside_a_zip_is_found(scanning_api):
    file_id = upload_small(scanning_api, "archive.zip", zipped("docs/readme.com", EICAR), "application/zip")
    assert wait_for_scan(scanning_api, file_id)["scan"] == {"status": "infected", "threats": ["Eicar-Test-Signature"]}


def test_a_signature_made_with_sigtool_is_found(scanning_api):
    file_id = upload_small(scanning_api, "report.txt", b"quarterly numbers\n" + TEST_MARKER + b"\n")
    assert wait_for_scan(scanning_api, file_id)["scan"] == {"status": "infected", "threats": ["Uploads-Test-Marker"]}


def tag_of(stack: LocalStack, file_id: str) -> str | None:
    """The GuardDuty tag on the file's object, read with the deployer's credentials."""
    s3 = stack.client("s3")
    key = next(version["Key"] for version in s3.list_object_versions(
        Bucket=stack.bucket, Prefix="incoming/")["Versions"] if f"/{file_id}/" in version["Key"])
    tags = s3.get_object_tagging(Bucket=stack.bucket, Key=key)["TagSet"]
    return next((tag["Value"] for tag in tags if tag["Key"] == TAG_KEY), None)


def test_the_scanned_version_carries_guardduty_s_tag(scanning_stack, scanning_api):
    clean = upload_small(scanning_api, "clean.txt", b"fine")
    infected = upload_small(scanning_api, "eicar.txt", EICAR)
    wait_for_scan(scanning_api, clean)
    wait_for_scan(scanning_api, infected)
    assert tag_of(scanning_stack, clean) == "NO_THREATS_FOUND"
    assert tag_of(scanning_stack, infected) == "THREATS_FOUND"


def test_an_unscanned_stack_releases_files_as_off(api):
    file_id = upload_small(api, "plain.txt", b"plain")
    assert wait_for_status(api, file_id)["scan"] == {"status": "off", "threats": []}
    assert api("POST", f"/files/{file_id}/download").status_code == 200


def object_version(stack: LocalStack, file_id: str) -> dict[str, str]:
    """The file's object as GetObject's Key and VersionId (the API's role reads versions only)."""
    version = next(version for version in stack.client("s3").list_object_versions(
        Bucket=stack.bucket, Prefix="incoming/")["Versions"] if f"/{file_id}/" in version["Key"])
    return {"Key": version["Key"], "VersionId": version["VersionId"]}


def object_key(stack: LocalStack, file_id: str) -> str:
    return object_version(stack, file_id)["Key"]


def refused(call) -> str:
    with pytest.raises(ClientError) as refusal:
        call()
    return refusal.value.response["Error"]["Code"]


@pytest.mark.parametrize("principal", ["deployer", "api"])
def test_a_direct_get_of_an_unclean_object_is_refused_by_the_bucket_policy(scanning_stack, scanning_api, principal):
    """The deployer may do anything by its own policy, so only the bucket's
    tag condition can refuse it; the API's role is what signs download URLs."""
    infected = upload_small(scanning_api, "eicar.bin", EICAR, "application/octet-stream")
    clean = upload_small(scanning_api, "fine.txt", b"fine")
    wait_for_scan(scanning_api, infected)
    wait_for_scan(scanning_api, clean)
    s3, bucket = scanning_stack.client("s3", principal), scanning_stack.bucket
    assert refused(lambda: s3.get_object(Bucket=bucket, **object_version(scanning_stack, infected))) == "AccessDenied"
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, **object_version(scanning_stack, infected)})
    assert requests.get(url, timeout=30).status_code == 403
    assert s3.get_object(Bucket=bucket, **object_version(scanning_stack, clean))["Body"].read() == b"fine"


def test_nobody_but_the_plan_sets_the_scan_tag(scanning_stack, scanning_api):
    infected = upload_small(scanning_api, "eicar2.bin", EICAR, "application/octet-stream")
    wait_for_scan(scanning_api, infected)
    s3, key = scanning_stack.client("s3"), object_key(scanning_stack, infected)
    clean_tag = {"TagSet": [{"Key": TAG_KEY, "Value": "NO_THREATS_FOUND"}]}
    assert refused(lambda: s3.put_object_tagging(Bucket=scanning_stack.bucket, Key=key,
                                                 Tagging=clean_tag)) == "AccessDenied"
    assert refused(lambda: s3.delete_object_tagging(Bucket=scanning_stack.bucket, Key=key)) == "AccessDenied"
    assert refused(lambda: s3.put_object(Bucket=scanning_stack.bucket, Key=key, Body=EICAR,
                                         Tagging=f"{TAG_KEY}=NO_THREATS_FOUND")) == "AccessDenied"
    assert tag_of(scanning_stack, infected) == "THREATS_FOUND"


def test_an_uploader_setting_the_scan_tag_on_its_own_upload_is_refused(scanning_api):
    ticket = scanning_api("POST", "/uploads", json={"filename": "mine.txt", "contentType": "text/plain",
                                                    "size": 4}).json()
    upload = ticket["upload"]
    tagging = (f"<Tagging><TagSet><Tag><Key>{TAG_KEY}</Key><Value>NO_THREATS_FOUND</Value></Tag>"
               "</TagSet></Tagging>")
    sent = requests.post(upload["url"], data={**upload["fields"], "tagging": tagging},
                         files={"file": ("file", b"mine")}, timeout=30)
    assert sent.status_code == 403
    assert scanning_api("GET", f"/files/{ticket['fileId']}").json()["status"] == "pending"


def test_a_scan_result_that_never_came_is_found_by_ops_status(scanning_stack, scanning_api, capsys):
    """The result is lost on the way (a GuardDuty outage): the record is put
    back as it was before its result, and waits in the scan index."""
    file_id = upload_small(scanning_api, "lost.txt", b"lost result")
    waited = wait_for_scan(scanning_api, file_id)
    assert waited["scan"]["status"] == "clean"
    sub = scanning_api.sub
    scanning_stack.client("dynamodb").update_item(
        TableName=scanning_stack.outputs["tableName"], Key={"pk": {"S": f"USER#{sub}"}, "sk": {"S": f"FILE#{file_id}"}},
        UpdateExpression="SET #scan = :pending, gsi3pk = :pk, gsi3sk = :sk",
        ExpressionAttributeNames={"#scan": "scan"},
        ExpressionAttributeValues={":pending": {"M": {"status": {"S": "pending"}}}, ":pk": {"S": "SCAN#pending"},
                                   ":sk": {"S": f"{waited['createdAt']}#{file_id}"}})
    unused_ticket = scanning_api("POST", "/uploads", json={"filename": "never.txt", "contentType": "text/plain",
                                                           "size": 3}).json()["fileId"]

    def status(*argv: str) -> tuple[int, dict]:
        capsys.readouterr()
        code = main(["--stack-file", str(scanning_stack.stack_file), "status", *argv, "--json"])
        return code, json.loads(capsys.readouterr().out)

    code, report = status()
    assert file_id not in {item["fileId"] for item in report["scanStuck"]["files"]}
    code, report = status("--scan-stuck-after", "0s", "--stuck-after", "0s")
    stuck = {item["fileId"] for item in report["scanStuck"]["files"]}
    assert file_id in stuck
    assert unused_ticket not in stuck
    assert code == 1 and any("malware scan" in reason for reason in report["needsAttention"])
    assert scanning_api("POST", f"/files/{file_id}/download").json()["error"]["code"] == "scan_pending"
    capsys.readouterr()
    assert main(["--stack-file", str(scanning_stack.stack_file), "stuck", "--scan", "--older-than", "0s",
                 "--json"]) == 0
    listed = {item["fileId"] for item in json.loads(capsys.readouterr().out)}
    assert file_id in listed and unused_ticket not in listed

    # ops rescan: GuardDuty (here its emulator) scans it again, and the new result releases it.
    assert main(["--stack-file", str(scanning_stack.stack_file), "rescan", "--stuck", "--older-than", "0s",
                 "--json"]) == 0
    sent = json.loads(capsys.readouterr().out)
    assert {"fileId": file_id, "ownerId": sub, "result": "sent"} in sent
    assert wait_for_scan(scanning_api, file_id)["scan"]["status"] == "clean"
    assert scanning_api("POST", f"/files/{file_id}/download").status_code == 200
    code, report = status("--scan-stuck-after", "0s")
    assert file_id not in {item["fileId"] for item in report["scanStuck"]["files"]}


def test_purge_infected_removes_infected_files_past_retention_and_their_quota(scanning_stack, scanning_api, capsys):
    """Last in this module: it removes every infected file the tests above left."""
    file_id = upload_small(scanning_api, "eicar-old.bin", EICAR, "application/octet-stream")
    clean = upload_small(scanning_api, "kept.txt", b"kept")
    wait_for_scan(scanning_api, file_id)
    wait_for_scan(scanning_api, clean)
    files_before = scanning_api("GET", "/usage").json()["files"]["used"]

    def purge(*argv: str) -> list[dict]:
        capsys.readouterr()
        assert main(["--stack-file", str(scanning_stack.stack_file), "purge-infected", *argv, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    assert purge() == []  # none kept past the 30-day retention yet
    listed = purge("--older-than", "0s", "--dry-run")
    assert file_id in {item["fileId"] for item in listed}
    assert clean not in {item["fileId"] for item in listed}
    assert scanning_api("GET", f"/files/{file_id}").status_code == 200
    removed = purge("--older-than", "0s")
    assert {item["fileId"] for item in removed} == {item["fileId"] for item in listed}
    deadline = time.monotonic() + 30
    while scanning_api("GET", f"/files/{file_id}").status_code != 404:
        assert time.monotonic() < deadline, "the worker never recorded the delete"
        time.sleep(POLL_S)
    assert scanning_api("GET", f"/files/{clean}").status_code == 200
    wait_for_usage = time.monotonic() + 30
    while scanning_api("GET", "/usage").json()["files"]["used"] > files_before - len(removed):
        assert time.monotonic() < wait_for_usage, "the quota was not given back"
        time.sleep(POLL_S)
    versions = scanning_stack.client("s3").list_object_versions(Bucket=scanning_stack.bucket, Prefix="incoming/")
    assert not [version for version in versions.get("Versions", []) if f"/{file_id}/" in version["Key"]]
