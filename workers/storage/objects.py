"""Objects in the versioned bucket: whether one is there, and removing one for good."""

from __future__ import annotations

from botocore.exceptions import ClientError

from workers.errors import error_code, is_not_found

# S3's cap on keys in one DeleteObjects call.
_DELETE_BATCH = 1000


class DeleteFailed(Exception):
    """S3 refused to delete some versions; the caller's message is retried."""


def head(s3, bucket: str, key: str, version_id: str | None = None) -> dict | None:
    """HeadObject of `key` (its `version_id`, or the current version); None
    when there is no such object or version. Any other error is raised: a
    caller that cannot tell (a 403 without s3:ListBucket) must not guess."""
    try:
        return s3.head_object(Bucket=bucket, Key=key, **({"VersionId": version_id} if version_id else {}))
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def head_and_first_bytes(s3, bucket: str, key: str, version_id: str | None, first: int) -> tuple[dict, bytes] | None:
    """What HeadObject says of `key` (its `version_id`, or the current version)
    and its first `first` bytes, in one ranged GetObject: a small object is
    then read whole by the call that describes it. `ContentLength` is the
    object's, not the range's. None when there is no such object or version;
    an empty object, which no range fits, is described by a HEAD."""
    try:
        got = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{first - 1}",
                            **({"VersionId": version_id} if version_id else {}))
    except ClientError as exc:
        if is_not_found(exc):
            return None
        if error_code(exc) != "InvalidRange":
            raise
        described = head(s3, bucket, key, version_id)
        return None if described is None else (described, b"")
    data = got.pop("Body").read()
    # "bytes 0-95/96"; S3 answers a range over the whole object with 206 too,
    # and a store that ignores the range with 200 and the whole body.
    total = int(got["ContentRange"].rpartition("/")[2]) if got.get("ContentRange") else len(data)
    return {**got, "ContentLength": total}, data


def exists(s3, bucket: str, key: str) -> bool:
    """Whether `key` has a current version (its latest is not a delete marker).

    By listing the key's versions, not by HeadObject: for a missing key S3
    answers HeadObject with 404 only to a caller that also has s3:ListBucket on
    the bucket, and with 403 to anyone else, so a HEAD cannot tell "not there"
    from "denied" without that grant. ListObjectVersions with the key as the
    prefix is what a role already may do under its own prefixes (to delete for
    good), and its answer for a missing key is an empty listing."""
    return any(entry.get("IsLatest") and not marker for entry, marker in _versions(s3, bucket, key))


def _versions(s3, bucket: str, key: str):
    """(entry, is a delete marker) for every version and delete marker of
    exactly `key`: a listing by prefix also holds longer keys."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        for marker, entries in ((False, page.get("Versions", [])), (True, page.get("DeleteMarkers", []))):
            for entry in entries:
                if entry["Key"] == key:
                    yield entry, marker


def delete_all_versions(s3, bucket: str, key: str) -> None:
    """Remove every version and delete marker of `key`. A plain DeleteObject
    would only hide the bytes behind a delete marker. Idempotent."""
    versions = [{"Key": key, "VersionId": entry["VersionId"]} for entry, _ in _versions(s3, bucket, key)]
    for start in range(0, len(versions), _DELETE_BATCH):
        # Quiet mode lists only the failures, and S3 answers 200 even when there are some.
        errors = s3.delete_objects(
            Bucket=bucket, Delete={"Objects": versions[start : start + _DELETE_BATCH], "Quiet": True}
        ).get("Errors", [])
        if errors:
            raise DeleteFailed(f"{len(errors)} versions of {key} were not deleted: {errors[0].get('Code')}")


def delete_version(s3, bucket: str, key: str, version_id: str) -> None:
    """Remove one version for good. Idempotent: S3 answers a version that is
    already gone with success."""
    s3.delete_object(Bucket=bucket, Key=key, VersionId=version_id)


def abort_upload(s3, bucket: str, record: dict) -> None:
    """Abort the record's multipart upload, if it has one. Idempotent: S3
    answers NoSuchUpload once the upload was completed or aborted."""
    upload_id = record.get("upload", {}).get("uploadId")
    if not upload_id:
        return
    try:
        s3.abort_multipart_upload(Bucket=bucket, Key=record["key"], UploadId=upload_id)
    except ClientError as exc:
        if error_code(exc) != "NoSuchUpload":
            raise
