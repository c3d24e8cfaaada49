"""The S3 front on the local stack refuses what S3 refuses, with S3's error
codes, and nothing it refuses reaches the bucket or becomes a record. Each
refusal is paired with the same request done right, which passes."""

from __future__ import annotations

import base64
import os
import time
import uuid
import zlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from xml.etree import ElementTree

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from contract.keys import INCOMING_PREFIX
from local import cognito
from local.stack import LocalStack
from tests.local.stack_helpers import FAST, file_status, wait_for
from tests.uploading import (
    chunks_of,
    composite_sha256,
    create_ticket,
    put_object,
    send_parts,
    sha256_b64,
    upload_multipart,
)
from workers.api.limits import MULTIPART_THRESHOLD


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LocalStack(state_dir=tmp_path_factory.mktemp("s3-front"), ingest=FAST) as running:
        yield running


@pytest.fixture(scope="module")
def api(stack):
    tokens = cognito.sign_in(stack.client("cognito-idp"), stack.outputs["userPoolClientId"],
                             stack.outputs["demoUser"])
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {tokens['AccessToken']}"

    def call(method: str, path: str, **kwargs) -> requests.Response:
        return session.request(method, stack.outputs["apiUrl"] + path, timeout=30, **kwargs)

    return call


def s3_error(response: requests.Response) -> tuple[int, str]:
    return response.status_code, ElementTree.fromstring(response.content).findtext("Code")


def ticket(api, data: bytes, content_type: str = "text/plain") -> dict:
    created = api("POST", "/uploads", json={"filename": "notes.txt", "contentType": content_type, "size": len(data)})
    assert created.status_code == 201, created.text
    return created.json()


def post(upload: dict, data: bytes, **fields: str) -> requests.Response:
    return requests.post(upload["url"], data={**upload["fields"], **fields}, files={"file": ("notes.txt", data)},
                         timeout=30)


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def assert_never_stored(stack, key: str) -> None:
    """The refused bytes are not in the bucket, so no event and no record came of them."""
    with pytest.raises(ClientError) as missing:
        stack.client("s3").head_object(Bucket=stack.bucket, Key=key)
    assert missing.value.response["Error"]["Code"] == "404"


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit(parts._replace(query=urlencode({**query, **changes})))


def with_first(url: str, **pairs: str) -> str:
    """The URL with `pairs` ahead of its own query: a repeated name's first value is the one moto acts on."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=f"{urlencode(pairs)}&{parts.query}"))


def owner_and_id(key: str) -> tuple[str, str]:
    _, owner, file_id, _ = key.split("/", 3)
    return owner, file_id


def a_key() -> str:
    return f"{INCOMING_PREFIX}front-test/{uuid.uuid4().hex}/notes.txt"


def test_a_presigned_post_with_a_bigger_body_than_declared_is_entity_too_large(stack, api):
    data = b"twelve bytes"
    issued = ticket(api, data)
    refused = post(issued["upload"], data + b"!")
    assert s3_error(refused) == (400, "EntityTooLarge")
    assert_never_stored(stack, issued["key"])
    assert api("GET", f"/files/{issued['fileId']}").json()["status"] == "pending"

    assert post(issued["upload"], data).status_code == 204
    wait_for(lambda: api("GET", f"/files/{issued['fileId']}").json()["status"] == "processed", 30)


def test_a_presigned_post_whose_key_field_was_changed_is_access_denied(stack, api):
    data = b"hello"
    issued = ticket(api, data)
    elsewhere = issued["key"].rsplit("/", 1)[0] + "/other.txt"
    refused = post(issued["upload"], data, key=elsewhere)
    assert s3_error(refused) == (403, "AccessDenied")
    assert "Policy Condition failed" in refused.text
    assert_never_stored(stack, elsewhere)
    assert_never_stored(stack, issued["key"])
    assert api("GET", f"/files/{issued['fileId']}").json()["status"] == "pending"


def post_parts(upload: dict, *parts: tuple[str, tuple[str | None, bytes | str]]) -> requests.Response:
    """A POST of exactly these form parts, in this order (a filename of None makes a plain field)."""
    return requests.post(upload["url"], files=list(parts), timeout=30)


def own_fields(upload: dict) -> list[tuple[str, tuple[None, str]]]:
    return [(name, (None, value)) for name, value in upload["fields"].items()]


def test_a_post_form_carrying_another_users_key_ahead_of_its_own_is_refused_and_stores_nothing(stack, api):
    # moto stores under the first `key` and the last file; the policy was checked against the last `key`.
    issued = ticket(api, b"hello")
    victims = f"{INCOMING_PREFIX}victim-user/{uuid.uuid4().hex}/notes.txt"
    refused = post_parts(issued["upload"], ("key", (None, victims)), *own_fields(issued["upload"]),
                         ("file", ("notes.txt", b"hello")), ("file", ("notes.txt", b"owned")))
    assert s3_error(refused) == (400, "InvalidArgument")
    assert_never_stored(stack, victims)
    assert_never_stored(stack, issued["key"])
    time.sleep(1)
    assert file_status(stack, *owner_and_id(victims)) is None


@pytest.mark.parametrize("after", [("file", ("notes.txt", b"owned")), ("key", (None, "incoming/elsewhere"))])
def test_a_post_form_with_a_part_after_its_file_is_refused_and_stores_nothing(stack, api, after):
    # S3 requires the file last and reads nothing after it; moto reads on.
    issued = ticket(api, b"hello")
    refused = post_parts(issued["upload"], *own_fields(issued["upload"]), ("file", ("notes.txt", b"hello")), after)
    assert s3_error(refused) == (400, "MalformedPOSTRequest")
    assert_never_stored(stack, issued["key"])
    assert post_parts(issued["upload"], *own_fields(issued["upload"]),
                      ("file", ("notes.txt", b"hello"))).status_code == 204


def test_a_presigned_post_whose_pinned_content_type_was_changed_is_access_denied(stack, api):
    issued = ticket(api, b"hello")
    assert s3_error(post(issued["upload"], b"hello", **{"Content-Type": "text/html"})) == (403, "AccessDenied")
    assert_never_stored(stack, issued["key"])


def test_a_presigned_post_with_a_field_the_policy_does_not_name_is_access_denied(stack, api):
    issued = ticket(api, b"hello")
    refused = post(issued["upload"], b"hello", **{"x-amz-meta-note": "smuggled"})
    assert s3_error(refused) == (403, "AccessDenied")
    assert "Extra input fields: x-amz-meta-note" in refused.text
    assert_never_stored(stack, issued["key"])


def test_a_presigned_post_whose_policy_was_altered_does_not_match_its_signature(stack, api):
    issued = ticket(api, b"hello")
    policy = base64.b64decode(issued["upload"]["fields"]["policy"]).replace(b'"content-length-range", 1, 5',
                                                                           b'"content-length-range", 1, 9999')
    assert policy != base64.b64decode(issued["upload"]["fields"]["policy"])
    refused = post(issued["upload"], b"hello, but longer", policy=base64.b64encode(policy).decode())
    assert s3_error(refused) == (403, "SignatureDoesNotMatch")
    assert_never_stored(stack, issued["key"])


def test_an_expired_presigned_post_is_access_denied(stack):
    key = a_key()
    upload = stack.client("s3").generate_presigned_post(Bucket=stack.bucket, Key=key, ExpiresIn=1)
    time.sleep(2)
    refused = post(upload, b"hello")
    assert s3_error(refused) == (403, "AccessDenied")
    assert "Policy expired" in refused.text
    assert_never_stored(stack, key)


def test_an_expired_url_is_access_denied_and_a_tampered_expiry_does_not_match_its_signature(stack):
    key = a_key()
    url = stack.client("s3").generate_presigned_url("put_object", Params={"Bucket": stack.bucket, "Key": key},
                                                    ExpiresIn=1)
    time.sleep(2)
    expired = requests.put(url, data=b"hello", timeout=30)
    assert s3_error(expired) == (403, "AccessDenied")
    assert "Request has expired" in expired.text
    tampered = requests.put(with_query(url, **{"X-Amz-Expires": "3600"}), data=b"hello", timeout=30)
    assert s3_error(tampered) == (403, "SignatureDoesNotMatch")
    assert_never_stored(stack, key)
    time.sleep(1)
    assert file_status(stack, *owner_and_id(key)) is None


def test_a_download_url_cannot_be_altered(stack, api):
    issued = ticket(api, b"hello")
    assert post(issued["upload"], b"hello").status_code == 204
    wait_for(lambda: api("GET", f"/files/{issued['fileId']}").json()["status"] == "processed", 30)
    url = api("POST", f"/files/{issued['fileId']}/download").json()["url"]
    assert requests.get(url, timeout=30).content == b"hello"
    assert s3_error(requests.get(with_query(url, **{"X-Amz-Expires": "1"}), timeout=30)) == (
        403, "SignatureDoesNotMatch")
    assert s3_error(requests.get(with_query(url, versionId="another"), timeout=30)) == (403, "SignatureDoesNotMatch")


def test_a_download_url_given_a_second_content_type_does_not_match_its_signature(stack, api):
    """A download URL is signed with `attachment` and a served type; a second
    `response-content-type` ahead of the signed one would have S3 serve the
    file as HTML, inline."""
    issued = ticket(api, b"hello")
    assert post(issued["upload"], b"hello").status_code == 204
    wait_for(lambda: api("GET", f"/files/{issued['fileId']}").json()["status"] == "processed", 30)
    url = api("POST", f"/files/{issued['fileId']}/download").json()["url"]
    inline_html = with_first(url, **{"response-content-type": "text/html", "response-content-disposition": "inline"})
    refused = requests.get(inline_html, timeout=30)
    assert s3_error(refused) == (403, "SignatureDoesNotMatch")
    assert "text/html" not in refused.headers.get("content-type", "")


@pytest.mark.parametrize("repeated", ["partNumber", "uploadId"])
def test_a_part_url_given_a_second_part_number_or_upload_id_does_not_match_its_signature(stack, api, repeated):
    data = os.urandom(MULTIPART_THRESHOLD + 1)
    issued = create_ticket(api, "big.bin", data)
    other = create_ticket(api, "other.bin", data)
    part = chunks_of(issued, data)[0]
    asked = {"parts": [{"partNumber": 1, "sha256": sha256_b64(part)}]}
    (signed,) = api("POST", f"/uploads/{issued['fileId']}/parts", json=asked).json()["parts"]
    elsewhere = {"partNumber": "2", "uploadId": other["upload"]["uploadId"]}[repeated]
    sent = requests.put(with_first(signed["url"], **{repeated: elsewhere}), data=part, headers=signed["headers"],
                        timeout=60)
    assert s3_error(sent) == (403, "SignatureDoesNotMatch")
    s3 = stack.client("s3")
    for upload in (issued, other):
        parts = s3.list_parts(Bucket=stack.bucket, Key=upload["key"], UploadId=upload["upload"]["uploadId"])
        assert parts.get("Parts", []) == []
    for upload in (issued, other):
        assert api("DELETE", f"/uploads/{upload['fileId']}").status_code == 204


@pytest.mark.parametrize(("header", "value", "code"), [
    ("x-amz-checksum-sha256", sha256_b64(b"other bytes"), "BadDigest"),
    ("x-amz-checksum-sha256", "not base64", "InvalidRequest"),
])
def test_a_put_whose_body_does_not_match_its_declared_checksum_is_refused(stack, header, value, code):
    key = a_key()
    url = stack.client("s3").generate_presigned_url("put_object", Params={"Bucket": stack.bucket, "Key": key})
    assert s3_error(requests.put(url, data=b"hello", headers={header: value}, timeout=30)) == (400, code)
    assert_never_stored(stack, key)


def test_a_checksum_signed_into_a_presigned_put_is_enforced(stack):
    key = a_key()
    url = stack.client("s3").generate_presigned_url(
        "put_object", Params={"Bucket": stack.bucket, "Key": key, "ChecksumSHA256": sha256_b64(b"hello")})
    signed = {"x-amz-checksum-sha256": sha256_b64(b"hello")}
    assert s3_error(requests.put(url, data=b"jello", headers=signed, timeout=30)) == (400, "BadDigest")
    # Leaving the signed header out breaks the signature instead.
    assert s3_error(requests.put(url, data=b"jello", timeout=30)) == (403, "SignatureDoesNotMatch")
    assert_never_stored(stack, key)
    assert requests.put(url, data=b"hello", headers=signed, timeout=30).status_code == 200
    wait_for(lambda: file_status(stack, *owner_and_id(key)) == "processed", 30)


def test_a_post_whose_file_does_not_match_its_checksum_field_is_bad_digest(stack):
    key = a_key()
    declared = {"x-amz-checksum-sha256": sha256_b64(b"hello")}
    upload = stack.client("s3").generate_presigned_post(Bucket=stack.bucket, Key=key, Fields=declared,
                                                        Conditions=[declared])
    assert s3_error(post(upload, b"jello")) == (400, "BadDigest")
    assert_never_stored(stack, key)
    assert post(upload, b"hello").status_code == 204
    wait_for(lambda: file_status(stack, *owner_and_id(key)) == "processed", 30)


def test_a_part_whose_checksum_differs_is_bad_digest_and_the_upload_stays_pending(stack, api):
    data = os.urandom(MULTIPART_THRESHOLD + 1)
    issued = create_ticket(api, "big.bin", data)
    upload = issued["upload"]
    part = chunks_of(issued, data)[0]
    asked = {"parts": [{"partNumber": 1, "sha256": sha256_b64(part)}]}
    (signed,) = api("POST", f"/uploads/{issued['fileId']}/parts", json=asked).json()["parts"]
    # Other bytes under the part's signed checksum:
    refused = requests.put(signed["url"], data=part[::-1], headers=signed["headers"], timeout=60)
    assert s3_error(refused) == (400, "BadDigest")
    # The checksum of the other bytes instead of the signed one:
    forged = {**signed["headers"], "x-amz-checksum-sha256": sha256_b64(part[::-1])}
    assert s3_error(requests.put(signed["url"], data=part[::-1], headers=forged, timeout=60)) == (
        403, "SignatureDoesNotMatch")
    # A longer part than the one signed for:
    longer = requests.put(signed["url"], data=part + b"x", headers=signed["headers"], timeout=60)
    assert s3_error(longer)[0] in (400, 403)
    parts = stack.client("s3").list_parts(Bucket=stack.bucket, Key=issued["key"], UploadId=upload["uploadId"])
    assert parts.get("Parts", []) == []
    assert api("GET", f"/files/{issued['fileId']}").json()["status"] == "pending"

    assert requests.put(signed["url"], data=part, headers=signed["headers"], timeout=60).status_code == 200
    parts = stack.client("s3").list_parts(Bucket=stack.bucket, Key=issued["key"], UploadId=upload["uploadId"])
    assert [p["PartNumber"] for p in parts["Parts"]] == [1]
    assert api("DELETE", f"/uploads/{issued['fileId']}").status_code == 204


def test_a_put_ticket_refuses_other_bytes_and_the_record_carries_the_clients_sha256(stack, api):
    data = b"the bytes the user picked\n"
    issued = create_ticket(api, "picked.txt", data, content_type="text/plain")
    assert issued["upload"]["method"] == "PUT"
    assert s3_error(put_object(issued, b"the bytes an attacker sent\n")) == (403, "SignatureDoesNotMatch")
    assert s3_error(put_object(issued, data[::-1])) == (400, "BadDigest")
    unsigned = requests.put(issued["upload"]["url"], data=data, timeout=30)
    assert s3_error(unsigned) == (403, "SignatureDoesNotMatch")
    assert_never_stored(stack, issued["key"])
    assert put_object(issued, data).status_code == 200
    wait_for(lambda: file_status(stack, *owner_and_id(issued["key"])) == "processed", 30)
    assert api("GET", f"/files/{issued['fileId']}").json()["sha256"] == sha256_b64(data)


def test_a_multipart_upload_records_the_composite_sha256_of_its_parts(stack, api):
    data = os.urandom(MULTIPART_THRESHOLD + 1)
    issued, _ = upload_multipart(api, "big.bin", data)
    wait_for(lambda: file_status(stack, *owner_and_id(issued["key"])) == "processed", 30)
    assert api("GET", f"/files/{issued['fileId']}").json()["sha256"] == composite_sha256(chunks_of(issued, data))


def test_a_complete_naming_a_forged_checksum_for_a_part_is_refused_and_stores_nothing(stack, api):
    # moto checks ETags only, so a forged part checksum would become the record's composite.
    data = os.urandom(MULTIPART_THRESHOLD + 1)
    issued = create_ticket(api, "big.bin", data)
    parts = send_parts(api, issued, data)
    forged = [{**parts[0], "sha256": sha256_b64(b"what the client claims")}, *parts[1:]]
    refused = api("POST", f"/uploads/{issued['fileId']}/complete", json={"parts": forged})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_parts"
    assert "InvalidPart" in refused.json()["error"]["message"]
    assert_never_stored(stack, issued["key"])
    record = api("GET", f"/files/{issued['fileId']}").json()
    assert record["status"] == "pending" and record.get("sha256") is None

    assert api("POST", f"/uploads/{issued['fileId']}/complete", json={"parts": parts}).status_code == 200
    wait_for(lambda: file_status(stack, *owner_and_id(issued["key"])) == "processed", 30)
    assert api("GET", f"/files/{issued['fileId']}").json()["sha256"] == composite_sha256(chunks_of(issued, data))


def test_a_completed_multipart_upload_answers_s3s_composite_checksum(stack):
    s3 = stack.client("s3")
    key = a_key()
    chunks = [os.urandom(MULTIPART_THRESHOLD), b"the last part"]
    upload = s3.create_multipart_upload(Bucket=stack.bucket, Key=key, ChecksumAlgorithm="SHA256")["UploadId"]
    parts = [{"PartNumber": number, "ChecksumSHA256": sha256_b64(chunk),
              "ETag": s3.upload_part(Bucket=stack.bucket, Key=key, UploadId=upload, PartNumber=number, Body=chunk,
                                     ChecksumSHA256=sha256_b64(chunk))["ETag"]}
             for number, chunk in enumerate(chunks, 1)]
    without = [{name: value for name, value in part.items() if name != "ChecksumSHA256"} for part in parts]
    with pytest.raises(ClientError) as refused:
        s3.complete_multipart_upload(Bucket=stack.bucket, Key=key, UploadId=upload,
                                     MultipartUpload={"Parts": without})
    assert refused.value.response["Error"]["Code"] == "InvalidRequest"
    completed = s3.complete_multipart_upload(Bucket=stack.bucket, Key=key, UploadId=upload,
                                             MultipartUpload={"Parts": parts})
    assert completed["ChecksumSHA256"] == composite_sha256(chunks)
    assert completed["ChecksumType"] == "COMPOSITE"


def test_header_signed_requests_with_other_credentials_are_refused(stack):
    def client(key_id: str, secret: str):
        return boto3.client("s3", endpoint_url=stack.outputs["awsEndpointUrlS3"], region_name=stack.outputs["region"],
                            aws_access_key_id=key_id, aws_secret_access_key=secret)

    key = a_key()
    known = stack.credentials()["AWS_ACCESS_KEY_ID"]
    for s3, code in ((client("someone", "local"), "InvalidAccessKeyId"), (client(known, "wrong"),
                                                                          "SignatureDoesNotMatch")):
        with pytest.raises(ClientError) as refused:
            s3.put_object(Bucket=stack.bucket, Key=key, Body=b"hello")
        assert refused.value.response["Error"]["Code"] == code
    assert_never_stored(stack, key)


def declare_other_bytes(request, **_):
    # The CRC32 botocore adds to a PutObject by default, as the worker's thumbnail writes carry it.
    request.headers.replace_header("x-amz-checksum-crc32", crc32_b64(b"other bytes"))


def send_other_bytes(request, **_):
    request.body = b"jello"


@pytest.mark.parametrize(("event", "tamper", "code"), [
    ("before-sign.s3.PutObject", declare_other_bytes, "BadDigest"),
    ("before-send.s3.PutObject", send_other_bytes, "XAmzContentSHA256Mismatch"),
])
def test_a_header_signed_put_whose_body_does_not_match_what_it_declares_is_refused(stack, event, tamper, code):
    s3 = stack.client("s3")
    key = a_key()
    s3.meta.events.register(event, tamper)
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=stack.bucket, Key=key, Body=b"hello")
    assert refused.value.response["Error"]["Code"] == code
    assert_never_stored(stack, key)


def test_anonymous_requests_are_refused_and_cors_preflights_are_answered_from_the_bucket(stack):
    bucket_url = f"{stack.outputs['awsEndpointUrlS3']}/{stack.bucket}"
    assert s3_error(requests.get(f"{bucket_url}/{a_key()}", timeout=30)) == (403, "AccessDenied")
    assert s3_error(requests.put(f"{bucket_url}/{a_key()}", data=b"x", timeout=30)) == (403, "AccessDenied")
    preflight = requests.options(f"{bucket_url}/{a_key()}", timeout=30, headers={
        "Origin": stack.dashboard_origin, "Access-Control-Request-Method": "PUT"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == stack.dashboard_origin


def test_an_upload_from_the_dashboards_origin_gets_the_buckets_cors_headers(stack):
    url = stack.client("s3").generate_presigned_url("put_object", Params={"Bucket": stack.bucket, "Key": a_key()})
    sent = requests.put(url, data=b"hello", headers={"Origin": stack.dashboard_origin}, timeout=30)
    assert sent.status_code == 200
    assert sent.headers["access-control-allow-origin"] == stack.dashboard_origin
    assert "etag" in sent.headers["access-control-expose-headers"].lower()


def test_a_preflight_for_a_presigned_part_url_is_answered_without_a_signature_check(stack):
    # The browser preflights a part PUT with the URL's whole query string, unsigned.
    s3 = stack.client("s3")
    key = a_key()
    upload = s3.create_multipart_upload(Bucket=stack.bucket, Key=key)["UploadId"]
    url = s3.generate_presigned_url("upload_part", Params={
        "Bucket": stack.bucket, "Key": key, "UploadId": upload, "PartNumber": 1})
    preflight = requests.options(url, timeout=30, headers={
        "Origin": stack.dashboard_origin, "Access-Control-Request-Method": "PUT"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == stack.dashboard_origin


def test_a_refusal_carries_the_buckets_cors_headers_so_the_browser_can_read_it(stack):
    url = stack.client("s3").generate_presigned_url("put_object", Params={"Bucket": stack.bucket, "Key": a_key()})
    refused = requests.put(url.replace("X-Amz-Expires=", "X-Amz-Expires=1"), data=b"hello", timeout=30,
                           headers={"Origin": stack.dashboard_origin})
    assert s3_error(refused)[0] == 403
    assert refused.headers["access-control-allow-origin"] == stack.dashboard_origin
    assert refused.headers["vary"] == "Origin"


def test_a_preflight_is_allowed_the_requested_headers_the_buckets_wildcards_match(stack):
    # As S3 answers: the requested names that match, not the rule's `x-amz-*` itself.
    preflight = requests.options(f"{stack.outputs['awsEndpointUrlS3']}/{stack.bucket}/{a_key()}", timeout=30, headers={
        "Origin": stack.dashboard_origin, "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type,x-amz-checksum-sha256"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-headers"] == "content-type, x-amz-checksum-sha256"
