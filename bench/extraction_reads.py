"""What ranged reads buy the worker: for a large object of each kind, the bytes
and time of extraction against a plain full GetObject of the same object,
both over HTTP against the local stack's S3."""

from __future__ import annotations

import os
import tempfile
import time

from local.stack import LocalStack
from tests.extractors import files
from workers.extraction import StoredObject, extract
from workers.storage import clients

SIZE = 64 * 1024 * 1024
KINDS = {
    "pdf": (lambda: files.big_pdf(SIZE), "application/pdf"),
    "zip": (lambda: files.big_zip(SIZE), "application/zip"),
    "image": (lambda: files.big_jpeg(SIZE), "image/jpeg"),
}


def run() -> dict:
    results = {}
    with tempfile.TemporaryDirectory() as state, LocalStack(state_dir=state, moto_port=0) as stack:
        # The reader uses the worker's own clients, pointed at this stack as in an environment.
        os.environ.update({k: v for k, v in stack.function_environment().items()})
        clients.reset()
        s3, bucket = clients.s3(), stack.bucket
        fetched = {"bytes": 0}
        s3.meta.events.register("after-call.s3.GetObject",
                                lambda http_response, **_: fetched.__setitem__(
                                    "bytes", fetched["bytes"] + int(http_response.headers["content-length"])))
        for kind, (make, content_type) in KINDS.items():
            # Outside incoming/: the worker is not asked to process it at the same time.
            key = f"bench/{kind}"
            s3.put_object(Bucket=bucket, Key=key, Body=make(), ContentType=content_type)
            head = s3.head_object(Bucket=bucket, Key=key)
            obj = StoredObject(bucket, key, head.get("VersionId"), head["ContentLength"], content_type,
                               head["ETag"].strip('"'))
            fetched["bytes"] = 0
            started = time.perf_counter()
            extraction = extract(obj)
            ranged_s = time.perf_counter() - started
            ranged_bytes = fetched["bytes"]
            started = time.perf_counter()
            s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            full_s = time.perf_counter() - started
            results[kind] = {
                "object_bytes": obj.size,
                "kind_found": extraction.metadata["kind"],
                "bytes_fetched": ranged_bytes,
                "fetched_share_of_object": round(ranged_bytes / obj.size, 5),
                "full_get_seconds": round(full_s, 3),
                "extraction_seconds": round(ranged_s, 3),
                "full_get_vs_extraction_time_ratio": round(full_s / ranged_s, 1),
            }
        clients.reset()
    return results
