"""An in-process moto S3 bucket, and a helper that stores bytes and describes
them the way the worker does after HeadObject."""

from __future__ import annotations

import os

import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
}.items():
    os.environ.setdefault(_name, _value)
os.environ.pop("AWS_ENDPOINT_URL", None)

from tests.invocation import extract
from workers.errors import FileRejected
from workers.extraction import StoredObject
from workers.storage import clients

BUCKET = "uploads-test-files"
KEY = "incoming/owner-1/file-1/upload.bin"


@pytest.fixture
def s3():
    with mock_aws():
        clients.reset()
        client = clients.s3()
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client
    clients.reset()


@pytest.fixture
def store(s3):
    """store(data, content_type) -> StoredObject, as the worker sees it after HeadObject.

    `direct` writes into moto's backend instead of through boto3: a 200 MB PUT
    over moto's HTTP emulation costs ten seconds of signing and parsing, and
    only the reads are under test. Reads always go through boto3."""

    def put(data: bytes, content_type: str = "application/octet-stream", key: str = KEY, *,
            direct: bool = False) -> StoredObject:
        if direct:
            s3_backends[DEFAULT_ACCOUNT_ID]["aws"].put_object(BUCKET, key, data)
        else:
            s3.put_object(Bucket=BUCKET, Key=key, Body=data, ContentType=content_type)
        head = s3.head_object(Bucket=BUCKET, Key=key)
        return StoredObject(
            bucket=BUCKET,
            key=key,
            version_id=head.get("VersionId"),
            size=head["ContentLength"],
            content_type=content_type,
            etag=head["ETag"].strip('"'),
        )

    return put


@pytest.fixture
def rejection(store):
    """rejection(data, content_type) -> the FileRejected that extraction must raise."""

    def run(data: bytes, content_type: str) -> FileRejected:
        with pytest.raises(FileRejected) as caught:
            extract(store(data, content_type))
        return caught.value

    return run
