"""Presigned URLs name the bucket's regional endpoint. The global one answers a
new bucket outside us-east-1 with a redirect for up to a day, and a browser's
CORS preflight cannot follow a redirect. Presigning is offline: no AWS needed."""

from urllib.parse import urlsplit

import pytest

from workers.storage import clients

BUCKET = "uploads-test-files"


@pytest.fixture
def presigning_in(monkeypatch):
    def use(region: str, endpoint: str | None = None):
        monkeypatch.setenv("AWS_REGION", region)
        monkeypatch.setenv("AWS_DEFAULT_REGION", region)
        monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
        if endpoint:
            monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        else:
            monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        clients.reset()
        s3 = clients.s3()
        return {
            "POST": s3.generate_presigned_post(Bucket=BUCKET, Key="k")["url"],
            "PUT": s3.generate_presigned_url(
                "upload_part", Params={"Bucket": BUCKET, "Key": "k", "UploadId": "u", "PartNumber": 1}
            ),
            "GET": s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "k"}),
        }

    yield use
    clients.reset()


@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1"])
def test_presigned_urls_name_the_regional_virtual_hosted_endpoint(presigning_in, region):
    urls = presigning_in(region)
    assert {method: urlsplit(url).netloc for method, url in urls.items()} == dict.fromkeys(
        urls, f"{BUCKET}.s3.{region}.amazonaws.com"
    )


def test_presigned_urls_go_to_the_local_stack_endpoint_when_one_is_set(presigning_in):
    urls = presigning_in("eu-west-1", "http://127.0.0.1:5000")
    assert all(url.startswith(f"http://127.0.0.1:5000/{BUCKET}") for url in urls.values())
