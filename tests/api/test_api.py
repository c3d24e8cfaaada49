"""Every route of the API handler, on moto, with payload 2.0 events."""

from __future__ import annotations

import json

import boto3
import pytest
import requests

from contract.http import MAX_FILE_SIZE
from contract.keys import THUMBNAIL_PREFIX, FileKey
from contract.table import STATUS_DELETED, TTL_ATTRIBUTE
from tests.uploading import composite_sha256, sha256_b64
from workers.api import files
from workers.api.limits import MAX_PARTS, MIN_PART_SIZE, MULTIPART_THRESHOLD
from workers.storage import clients, dynamo, records, usage
from workers.storage.ingest_records import RecordedState

from .conftest import ALICE, BUCKET, NAMES

TEXT = {"filename": "notes.txt", "contentType": "text/plain", "size": 5}
BIG = {"filename": "video.bin", "contentType": "application/octet-stream", "size": MULTIPART_THRESHOLD + 1}
SOME_SHA256 = sha256_b64(b"x")


def parts_of(data: bytes, part_size: int) -> list[bytes]:
    return [data[start:start + part_size] for start in range(0, len(data), part_size)]


def _uploaded(caller, body=TEXT, data=b"hello") -> str:
    """A ticket whose object exists and whose record the worker has processed."""
    _, ticket = caller("POST", "/uploads", body)
    s3, table = boto3.client("s3"), boto3.resource("dynamodb").Table(NAMES.table)
    s3.put_object(Bucket=BUCKET, Key=ticket["key"], Body=data, ContentType=body["contentType"])
    usage.record_object_state(
        table, FileKey.parse(ticket["key"]), "1".zfill(64), records.get(table, caller.sub, ticket["fileId"]),
        RecordedState.processed(s3.head_object(Bucket=BUCKET, Key=ticket["key"]), {"kind": "text"}, None),
        at=dynamo.now(), scanning=False,
    )
    return ticket["fileId"]


# --- POST /uploads --------------------------------------------------------------


def test_small_file_gets_a_presigned_post_pinned_to_key_size_and_type(alice):
    status, ticket = alice("POST", "/uploads", TEXT)
    assert status == 201
    upload = ticket["upload"]
    assert upload["method"] == "POST"
    assert upload["fields"]["key"] == ticket["key"]
    assert upload["fields"]["Content-Type"] == "text/plain"
    assert ticket["key"] == f"incoming/{ALICE}/{ticket['fileId']}/notes.txt"
    import base64
    import json

    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    assert ["content-length-range", 1, 5] in policy["conditions"]
    assert {"key": ticket["key"]} in policy["conditions"]
    assert {"Content-Type": "text/plain"} in policy["conditions"]


@pytest.mark.parametrize("content_type", ["application/vnd.apache.parquet", "application/x-ndjson"])
def test_tabular_kinds_may_be_declared_and_the_ticket_pins_their_type(alice, content_type):
    status, ticket = alice("POST", "/uploads", {**TEXT, "filename": "table.parquet", "contentType": content_type})
    assert status == 201
    assert ticket["upload"]["fields"]["Content-Type"] == content_type


def test_ticket_writes_a_pending_record_first(alice):
    _, ticket = alice("POST", "/uploads", TEXT)
    status, file = alice("GET", f"/files/{ticket['fileId']}")
    assert status == 200
    assert file["status"] == "pending" and file["filename"] == "notes.txt" and file["size"] == 5


def test_presigned_post_uploads_the_declared_bytes(alice):
    _, ticket = alice("POST", "/uploads", TEXT)
    upload = ticket["upload"]
    response = requests.post(upload["url"], data=upload["fields"], files={"file": ("notes.txt", b"hello")})
    assert response.status_code in (200, 204)
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key=ticket["key"])["Body"].read()
    assert body == b"hello"


def test_large_file_gets_a_multipart_upload(alice):
    status, ticket = alice("POST", "/uploads", BIG)
    assert status == 201
    upload = ticket["upload"]
    assert upload["method"] == "MULTIPART" and upload["uploadId"]
    assert upload["partSize"] >= MIN_PART_SIZE
    assert upload["partCount"] * upload["partSize"] >= BIG["size"]


def test_part_plan_stays_within_s3_limits_for_the_largest_file():
    part_size, part_count = files.plan_parts(MAX_FILE_SIZE)
    assert part_size >= MIN_PART_SIZE and part_count <= MAX_PARTS
    assert part_size * part_count >= MAX_FILE_SIZE


def test_unsafe_name_is_cleaned_for_the_key_but_kept_for_display(alice):
    name = "../../etc/\x00pa\u202essw\nd..txt"
    _, ticket = alice("POST", "/uploads", {**TEXT, "filename": name})
    assert ticket["key"].split("/", 3)[3] == "etcpasswdtxt"
    _, file = alice("GET", f"/files/{ticket['fileId']}")
    assert file["filename"] == name


@pytest.mark.parametrize(("filename", "content_type"), [
    ("IMG_0001.HEIC", "image/heic"), ("photo.heif", "image/heif"), ("photo.avif", "image/avif"),
    ("song.mp3", "audio/mpeg"), ("voice.m4a", "audio/x-m4a"), ("take.wav", "audio/wav"), ("track.flac", "audio/flac"),
    ("note.opus", "audio/ogg"), ("clip.mp4", "video/mp4"), ("IMG_0002.MOV", "video/quicktime"),
    ("talk.webm", "video/webm"), ("film.mkv", "video/x-matroska"),
])
def test_photos_audio_and_video_are_ticketed_under_their_declared_type(alice, filename, content_type):
    status, ticket = alice("POST", "/uploads", {"filename": filename, "contentType": content_type, "size": 5})
    assert status == 201
    assert ticket["upload"]["fields"]["Content-Type"] == content_type


def test_file_over_the_limit_is_413(alice):
    status, body = alice("POST", "/uploads", {**TEXT, "size": MAX_FILE_SIZE + 1})
    assert status == 413 and body["error"]["code"] == "too_large"


@pytest.mark.parametrize(
    "body, field",
    [
        ({**TEXT, "contentType": "text/html"}, "contentType"),
        ({**TEXT, "size": 0}, "size"),
        ({**TEXT, "size": "five"}, "size"),
        ({"contentType": "text/plain", "size": 5}, "filename"),
        ({**TEXT, "filename": ""}, "filename"),
        ({**TEXT, "owner": "someone-else"}, "owner"),
    ],
)
def test_invalid_ticket_request_is_400_naming_the_field(alice, body, field):
    status, response = alice("POST", "/uploads", body)
    assert status == 400
    assert response["error"]["code"] == "invalid_request"
    assert response["error"]["message"].startswith(f"{field}:")


def test_same_idempotency_key_returns_the_same_ticket_and_one_file(alice):
    key = {"idempotency-key": "retry-1"}
    first = alice("POST", "/uploads", TEXT, headers=key)
    second = alice("POST", "/uploads", TEXT, headers=key)
    assert first == second and first[0] == 201
    _, listing = alice("GET", "/files")
    assert [f["fileId"] for f in listing["items"]] == [first[1]["fileId"]]


def test_idempotency_key_is_scoped_to_the_caller(alice, bob):
    key = {"idempotency-key": "shared"}
    _, a = alice("POST", "/uploads", TEXT, headers=key)
    _, b = bob("POST", "/uploads", TEXT, headers=key)
    assert a["fileId"] != b["fileId"]


def test_reusing_an_idempotency_key_for_another_request_is_refused(alice):
    key = {"idempotency-key": "retry-2"}
    alice("POST", "/uploads", TEXT, headers=key)
    status, body = alice("POST", "/uploads", {**TEXT, "size": 6}, headers=key)
    assert status == 422 and body["error"]["code"] == "idempotency_key_reused"


# --- Multipart ------------------------------------------------------------------


def _uploaded_parts(ticket: dict) -> list[dict]:
    """Every part of a BIG ticket uploaded, as the complete request names them."""
    upload = ticket["upload"]
    s3 = boto3.client("s3")
    parts = []
    for number in range(1, upload["partCount"] + 1):
        body = b"x" * files.part_length(BIG["size"], upload["partSize"], number)
        put = s3.upload_part(Bucket=BUCKET, Key=ticket["key"], UploadId=upload["uploadId"],
                             PartNumber=number, Body=body, ChecksumSHA256=sha256_b64(body))
        parts.append({"partNumber": number, "etag": put["ETag"], "sha256": sha256_b64(body)})
    return parts


def s3_answers_checksum(checksum: str) -> None:
    """S3 answers a CompleteMultipartUpload with the object's composite checksum; moto answers none."""
    def answer(parsed, **_):
        parsed["ChecksumSHA256"] = checksum

    clients.s3().meta.events.register("after-call.s3.CompleteMultipartUpload", answer)


def test_multipart_parts_and_complete_assemble_the_object_with_its_composite_sha256(alice):
    _, ticket = alice("POST", "/uploads", BIG)
    file_id, part_size = ticket["fileId"], ticket["upload"]["partSize"]
    assert ticket["upload"]["checksumAlgorithm"] == "SHA256"
    data = bytes(range(256)) * (BIG["size"] // 256) + b"x" * (BIG["size"] % 256)
    chunks = parts_of(data, part_size)
    asked = [{"partNumber": n, "sha256": sha256_b64(chunk)} for n, chunk in enumerate(chunks, 1)]
    status, body = alice("POST", f"/uploads/{file_id}/parts", {"parts": asked[::-1]})
    assert status == 200 and [p["partNumber"] for p in body["parts"]] == [a["partNumber"] for a in asked]
    completed = []
    for part, chunk in zip(body["parts"], chunks, strict=True):
        assert part["headers"]["x-amz-checksum-sha256"] == sha256_b64(chunk)
        assert "content-length" in part["url"].lower()  # the part's exact length is signed
        response = requests.put(part["url"], data=chunk, headers=part["headers"])
        assert response.status_code == 200
        completed.append({"partNumber": part["partNumber"], "etag": response.headers["ETag"],
                          "sha256": sha256_b64(chunk)})
    s3_answers_checksum(composite_sha256(chunks))
    status, done = alice("POST", f"/uploads/{file_id}/complete", {"parts": completed[::-1]})
    assert (status, done) == (200, {"fileId": file_id, "status": "pending"})
    stored = boto3.client("s3").get_object(Bucket=BUCKET, Key=ticket["key"])["Body"].read()
    assert stored == data
    assert alice("GET", f"/files/{file_id}")[1]["sha256"] == composite_sha256(chunks)


def test_a_completed_upload_never_records_a_checksum_computed_from_the_clients_claims(alice):
    # Only S3, which verified each part's bytes, can vouch for the composite.
    _, ticket = alice("POST", "/uploads", BIG)
    status, _ = alice("POST", f"/uploads/{ticket['fileId']}/complete", {"parts": _uploaded_parts(ticket)})
    assert status == 200
    assert alice("GET", f"/files/{ticket['fileId']}")[1].get("sha256") is None


def test_parts_that_add_up_to_more_than_the_declared_size_abort_the_upload(alice):
    # S3 refuses a part longer than its signed length; moto does not, which lets
    # this test reach the API's own check behind it.
    _, ticket = alice("POST", "/uploads", BIG)
    file_id, part_size = ticket["fileId"], ticket["upload"]["partSize"]
    chunk = b"x" * part_size
    asked = [{"partNumber": n, "sha256": sha256_b64(chunk)} for n in range(1, ticket["upload"]["partCount"] + 1)]
    _, body = alice("POST", f"/uploads/{file_id}/parts", {"parts": asked})
    completed = [{"partNumber": p["partNumber"], "sha256": sha256_b64(chunk),
                  "etag": requests.put(p["url"], data=chunk, headers=p["headers"]).headers["ETag"]}
                 for p in body["parts"]]
    status, body = alice("POST", f"/uploads/{file_id}/complete", {"parts": completed})
    assert status == 413 and body["error"]["code"] == "too_large"
    assert body["error"]["message"].startswith("parts:") and "aborted" in body["error"]["message"]
    with pytest.raises(boto3.client("s3").exceptions.NoSuchUpload):
        boto3.client("s3").list_parts(Bucket=BUCKET, Key=ticket["key"], UploadId=ticket["upload"]["uploadId"])
    assert alice("GET", f"/files/{file_id}")[0] == 404


def test_part_numbers_beyond_the_upload_are_400(alice):
    _, ticket = alice("POST", "/uploads", BIG)
    beyond = {"partNumber": ticket["upload"]["partCount"] + 1, "sha256": SOME_SHA256}
    status, body = alice("POST", f"/uploads/{ticket['fileId']}/parts", {"parts": [beyond]})
    assert status == 400 and body["error"]["message"].startswith("parts:")


def test_a_part_number_asked_for_twice_is_400(alice):
    _, ticket = alice("POST", "/uploads", BIG)
    twice = [{"partNumber": 1, "sha256": SOME_SHA256}, {"partNumber": 1, "sha256": sha256_b64(b"y")}]
    status, body = alice("POST", f"/uploads/{ticket['fileId']}/parts", {"parts": twice})
    assert status == 400 and body["error"]["message"].startswith("parts:")


def test_a_single_upload_with_a_sha256_is_a_put_signed_with_it_and_the_record_carries_it(alice):
    data = b"hello"
    status, ticket = alice("POST", "/uploads", {**TEXT, "sha256": sha256_b64(data)})
    assert status == 201 and ticket["upload"]["method"] == "PUT"
    assert ticket["upload"]["headers"] == {"x-amz-checksum-sha256": sha256_b64(data), "Content-Type": "text/plain"}
    signed = ticket["upload"]["url"].lower()
    assert "x-amz-checksum-sha256" in signed and "content-length" in signed and "content-type" in signed
    assert requests.put(ticket["upload"]["url"], data=data, headers=ticket["upload"]["headers"]).status_code == 200
    assert alice("GET", f"/files/{ticket['fileId']}")[1]["sha256"] == sha256_b64(data)


def test_a_sha256_for_a_multipart_upload_is_400_because_each_part_carries_one(alice):
    status, body = alice("POST", "/uploads", {**BIG, "sha256": SOME_SHA256})
    assert status == 400 and body["error"]["message"].startswith("sha256:")


@pytest.mark.parametrize("sha256", ["", "abc", "x" * 44, sha256_b64(b"x")[:-1], "ab==" * 11])
def test_a_sha256_that_is_not_the_base64_of_32_bytes_is_400(alice, sha256):
    status, body = alice("POST", "/uploads", {**TEXT, "sha256": sha256})
    assert status == 400 and body["error"]["message"].startswith("sha256")


def test_listing_parts_gives_what_s3_holds_so_a_reload_sends_only_the_rest(alice):
    _, ticket = alice("POST", "/uploads", BIG)
    file_id, part_size = ticket["fileId"], ticket["upload"]["partSize"]
    assert alice("GET", f"/uploads/{file_id}/parts") == (200, {"parts": []})
    part = b"x" * part_size
    _, body = alice("POST", f"/uploads/{file_id}/parts", {"parts": [{"partNumber": 2, "sha256": sha256_b64(part)}]})
    signed = body["parts"][0]
    etag = requests.put(signed["url"], data=part, headers=signed["headers"]).headers["ETag"]
    status, body = alice("GET", f"/uploads/{file_id}/parts")
    assert status == 200 and [{k: p[k] for k in ("partNumber", "size", "etag")} for p in body["parts"]] == [
        {"partNumber": 2, "size": part_size, "etag": etag}]


def test_listing_parts_of_a_finished_or_single_upload_is_409_and_of_an_aborted_one_404(alice):
    status, body = alice("GET", f"/uploads/{_uploaded(alice)}/parts")
    assert status == 409 and body["error"]["code"] == "not_pending"
    _, ticket = alice("POST", "/uploads", TEXT)
    status, body = alice("GET", f"/uploads/{ticket['fileId']}/parts")
    assert status == 409 and body["error"]["code"] == "not_multipart"
    _, ticket = alice("POST", "/uploads", BIG)
    alice("DELETE", f"/uploads/{ticket['fileId']}")
    assert alice("GET", f"/uploads/{ticket['fileId']}/parts")[0] == 404


def test_completing_a_file_that_is_not_pending_is_409(alice):
    file_id = _uploaded(alice)
    status, body = alice("POST", f"/uploads/{file_id}/complete",
                         {"parts": [{"partNumber": 1, "etag": "x", "sha256": SOME_SHA256}]})
    assert status == 409 and body["error"]["code"] == "not_pending"


def test_completing_a_post_upload_is_409(alice):
    _, ticket = alice("POST", "/uploads", TEXT)
    status, body = alice("POST", f"/uploads/{ticket['fileId']}/complete",
                         {"parts": [{"partNumber": 1, "etag": "x", "sha256": SOME_SHA256}]})
    assert status == 409 and body["error"]["code"] == "not_multipart"


def test_completing_with_wrong_etags_is_400(alice):
    _, ticket = alice("POST", "/uploads", BIG)
    status, body = alice("POST", f"/uploads/{ticket['fileId']}/complete",
                         {"parts": [{"partNumber": 1, "etag": '"nope"', "sha256": SOME_SHA256}]})
    assert status == 400 and body["error"]["code"] == "invalid_parts"


def test_abort_discards_the_upload_and_is_harmless_twice(alice):
    _, ticket = alice("POST", "/uploads", BIG)
    file_id = ticket["fileId"]
    assert alice("DELETE", f"/uploads/{file_id}") == (204, None)
    assert alice("DELETE", f"/uploads/{file_id}") == (204, None)
    assert alice("GET", f"/files/{file_id}")[0] == 404
    uploads = boto3.client("s3").list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert ticket["upload"]["uploadId"] not in [u["UploadId"] for u in uploads]


def test_aborting_a_finished_upload_is_409(alice):
    file_id = _uploaded(alice)
    status, body = alice("DELETE", f"/uploads/{file_id}")
    assert status == 409 and body["error"]["code"] == "not_pending"


# --- Listing --------------------------------------------------------------------


def test_listing_pages_through_the_callers_files_newest_first(alice, bob):
    ids = [alice("POST", "/uploads", TEXT)[1]["fileId"] for _ in range(5)]
    bob("POST", "/uploads", TEXT)
    seen, cursor = [], None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, page = alice("GET", "/files", query=query)
        assert status == 200 and len(page["items"]) <= 2
        seen += [f["fileId"] for f in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]


def test_listing_limit_defaults_and_bounds(alice):
    assert alice("GET", "/files")[0] == 200
    for bad in ("0", "101", "ten"):
        status, body = alice("GET", "/files", query=f"limit={bad}")
        assert status == 400 and body["error"]["message"].startswith("limit:")


def test_deleted_files_leave_the_listing(alice):
    file_id = _uploaded(alice)
    alice("DELETE", f"/files/{file_id}")
    assert alice("GET", "/files")[1]["items"] == []


def _first_cursor(caller) -> str:
    for _ in range(2):
        caller("POST", "/uploads", TEXT)
    return caller("GET", "/files", query="limit=1")[1]["nextCursor"]


def test_a_tampered_cursor_is_400(alice):
    cursor = _first_cursor(alice)
    payload, signature = cursor.split(".")
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    for bad in (forged, cursor + "x", "garbage", cursor.split(".")[0]):
        status, body = alice("GET", "/files", query=f"cursor={bad}")
        assert status == 400 and body["error"]["message"].startswith("cursor:"), bad


def test_another_callers_cursor_is_400(alice, bob):
    cursor = _first_cursor(alice)
    status, body = bob("GET", "/files", query=f"cursor={cursor}")
    assert status == 400 and body["error"]["code"] == "invalid_cursor"


# --- One file -------------------------------------------------------------------


def test_get_returns_the_file_shape(alice):
    file_id = _uploaded(alice)
    status, file = alice("GET", f"/files/{file_id}")
    assert status == 200
    assert set(file) == {"fileId", "filename", "contentType", "size", "status", "createdAt", "updatedAt",
                         "metadata", "error", "scan", "thumbnailUrl", "sha256"}
    assert file["status"] == "processed" and file["metadata"] == {"kind": "text"}
    assert file["thumbnailUrl"] is None


def test_an_image_lists_and_gets_a_short_lived_link_to_its_thumbnail(alice):
    file_id = _uploaded(alice, {**TEXT, "filename": "photo.png", "contentType": "image/png"}, b"png")
    thumbnail = f"{THUMBNAIL_PREFIX}{ALICE}/{file_id}/1.webp"
    boto3.client("s3").put_object(Bucket=BUCKET, Key=thumbnail, Body=b"thumb", ContentType="image/webp")
    table = boto3.resource("dynamodb").Table(NAMES.table)
    table.update_item(Key=records.key_of(ALICE, file_id), UpdateExpression="SET thumbnailKey = :t",
                      ExpressionAttributeValues={":t": thumbnail})
    _, file = alice("GET", f"/files/{file_id}")
    _, listed = alice("GET", "/files")
    assert listed["items"][0]["thumbnailUrl"].split("?")[0] == file["thumbnailUrl"].split("?")[0]
    assert "X-Amz-Expires=3600" in file["thumbnailUrl"] or "Expires=" in file["thumbnailUrl"]
    assert requests.get(file["thumbnailUrl"]).content == b"thumb"


def test_malformed_file_id_is_400(alice):
    status, body = alice("GET", "/files/not-an-id")
    assert status == 400 and body["error"]["message"].startswith("fileId:")


def test_download_is_an_attachment_of_the_exact_bytes(alice):
    file_id = _uploaded(alice, {**TEXT, "filename": "résumé <1>.html", "contentType": "text/plain"}, b"<b>hi</b>")
    status, body = alice("POST", f"/files/{file_id}/download")
    assert status == 200
    response = requests.get(body["url"])
    assert response.content == b"<b>hi</b>"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20%3C1%3E.html" in disposition


def test_download_before_upload_is_409(alice):
    _, ticket = alice("POST", "/uploads", TEXT)
    status, body = alice("POST", f"/files/{ticket['fileId']}/download")
    assert status == 409 and body["error"]["code"] == "not_uploaded"


def test_delete_removes_every_version_and_the_thumbnail(alice):
    file_id = _uploaded(alice)
    table = boto3.resource("dynamodb").Table(NAMES.table)
    item = records.get(table, ALICE, file_id)
    s3 = boto3.client("s3")
    s3.put_object(Bucket=BUCKET, Key=item["key"], Body=b"second version")
    thumbnail = f"{THUMBNAIL_PREFIX}{ALICE}/{file_id}.webp"
    s3.put_object(Bucket=BUCKET, Key=thumbnail, Body=b"thumb")
    table.update_item(Key=records.key_of(ALICE, file_id), UpdateExpression="SET thumbnailKey = :t",
                      ExpressionAttributeValues={":t": thumbnail})

    assert alice("DELETE", f"/files/{file_id}") == (204, None)

    left = s3.list_object_versions(Bucket=BUCKET)
    assert left.get("Versions", []) == [] and left.get("DeleteMarkers", []) == []
    deleted = records.get(table, ALICE, file_id)
    assert deleted["status"] == STATUS_DELETED and deleted[TTL_ATTRIBUTE] > 0
    assert alice("GET", f"/files/{file_id}")[0] == 404


def test_second_delete_is_harmless(alice):
    file_id = _uploaded(alice)
    assert alice("DELETE", f"/files/{file_id}") == (204, None)
    assert alice("DELETE", f"/files/{file_id}") == (204, None)


def test_missing_file_is_404(alice):
    missing = "0" * 32
    for method, path in [("GET", f"/files/{missing}"), ("DELETE", f"/files/{missing}"),
                         ("POST", f"/files/{missing}/download")]:
        status, body = alice(method, path)
        assert status == 404 and body == {"error": {"code": "not_found", "message": "No such file"}}


# --- Ownership ------------------------------------------------------------------


def test_someone_elses_file_answers_exactly_like_a_missing_one(alice, bob):
    file_id = _uploaded(alice)
    _, multipart = alice("POST", "/uploads", BIG)
    missing = "0" * 32
    part = {"parts": [{"partNumber": 1, "etag": "x", "sha256": SOME_SHA256}]}
    for method, path, body in [
        ("GET", "/files/{}", None),
        ("POST", "/files/{}/download", None),
        ("DELETE", "/files/{}", None),
        ("POST", "/uploads/{}/complete", part),
        ("POST", "/uploads/{}/parts", {"parts": [{"partNumber": 1, "sha256": SOME_SHA256}]}),
        ("DELETE", "/uploads/{}", None),
    ]:
        target = multipart["fileId"] if "/uploads/" in path else file_id
        assert bob(method, path.format(target), body) == alice(method, path.format(missing), body), (method, path)
        assert bob(method, path.format(target), body)[0] == 404
    assert alice("GET", f"/files/{file_id}")[1]["status"] == "processed"


def test_the_caller_comes_from_the_token_never_the_body(alice):
    _, ticket = alice("POST", "/uploads", {**TEXT})
    assert ticket["key"].startswith(f"incoming/{ALICE}/")


def test_an_event_without_claims_is_401(aws):
    from local.gateway import api_event
    from workers.api import handler as api

    from .conftest import Context

    event = api_event(method="GET", path="/files", query="", headers=[], body=b"", claims={}, source_ip="1.2.3.4")
    response = api.handler(event, Context())
    assert response["statusCode"] == 401


@pytest.mark.parametrize("content_type", ["multipart/form-data", "application/x-www-form-urlencoded", "text/plain"])
def test_a_body_that_is_not_json_is_415(alice, content_type):
    status, body = alice("POST", "/uploads", TEXT, headers={"content-type": content_type})
    assert status == 415 and body["error"]["code"] == "unsupported_media_type"


def test_a_body_that_is_not_utf8_is_400(aws):
    from local.gateway import api_event
    from workers.api import handler as api

    from .conftest import Context

    event = api_event(method="POST", path="/uploads", query="", headers=[("content-type", "application/json")],
                      body=b"\xff\xfe{", claims={"sub": ALICE}, source_ip="1.2.3.4")
    response = api.handler(event, Context())
    assert response["statusCode"] == 400


def test_completing_twice_before_the_worker_ran_is_409(alice):
    _, ticket = alice("POST", "/uploads", BIG)
    etags = _uploaded_parts(ticket)
    path = f"/uploads/{ticket['fileId']}/complete"
    assert alice("POST", path, {"parts": etags})[0] == 200
    status, body = alice("POST", path, {"parts": etags})
    assert status == 409 and body["error"]["code"] == "not_pending"


def test_an_unexpected_failure_is_a_500_with_the_error_shape(alice, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the table is on fire")

    monkeypatch.setattr(files, "list_files", broken)
    status, body = alice("GET", "/files")
    assert status == 500
    assert body == {"error": {"code": "internal_error", "message": "Something went wrong on our side; try again later"}}


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/uploads", {**TEXT, "size": True}, "size"),
        ("/uploads", {**TEXT, "size": "5"}, "size"),
        ("/uploads", {**TEXT, "size": 5.0}, "size"),
        ("/uploads/{}/parts", {"parts": [{"partNumber": "1", "sha256": SOME_SHA256}]}, "parts.partNumber"),
        ("/uploads/{}/parts", {"parts": [{"partNumber": True, "sha256": SOME_SHA256}]}, "parts.partNumber"),
        ("/uploads/{}/complete", {"parts": [{"partNumber": 1.0, "etag": "x", "sha256": SOME_SHA256}]},
         "parts.partNumber"),
    ],
)
def test_a_value_of_the_wrong_json_type_is_400_even_when_it_could_be_coerced(alice, path, body, field):
    _, ticket = alice("POST", "/uploads", BIG)
    status, response = alice("POST", path.format(ticket["fileId"]), body)
    assert status == 400 and response["error"]["message"].startswith(f"{field}:")


def test_a_deeply_nested_body_is_400_not_500(aws):
    from local.gateway import api_event
    from workers.api import handler as api

    from .conftest import Context

    nested = b'{"filename":' + b"[" * 100_000 + b"]" * 100_000 + b',"contentType":"text/plain","size":1}'
    event = api_event(method="POST", path="/uploads", query="", headers=[("content-type", "application/json")],
                      body=nested, claims={"sub": ALICE}, source_ip="1.2.3.4")
    response = api.handler(event, Context())
    assert response["statusCode"] == 400 and json.loads(response["body"])["error"]["code"] == "invalid_request"
