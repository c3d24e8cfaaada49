"""Small builders for least-privilege IAM statements: exact ARNs, exact
actions, so a reviewer can read a role's reach off one list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi


def allow(actions: Sequence[str], resources: Sequence[pulumi.Input[str]], condition: dict | None = None) -> dict:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": list(actions), "Resource": list(resources)}
    if condition:
        statement["Condition"] = condition
    return statement


def under(arn: pulumi.Output[str], suffix: str) -> pulumi.Output[str]:
    """An ARN below `arn`: objects under a key prefix, a table's index, a log group's streams."""
    return arn.apply(lambda value: f"{value}{suffix}")


def delete_for_good_statements(bucket_arn: pulumi.Output[str], prefixes: Sequence[str]) -> list[dict]:
    """What `workers.storage.objects.delete_all_versions` needs under `prefixes`: list the
    key's versions, then DeleteObjects, which wants DeleteObject on each key and
    DeleteObjectVersion on each version."""
    return [
        allow(["s3:DeleteObject", "s3:DeleteObjectVersion"], [under(bucket_arn, f"/{p}*") for p in prefixes]),
        allow(["s3:ListBucketVersions"], [bucket_arn], {"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}}),
    ]


def s3_kms_statements(kms_key_arn: str | None) -> list[dict]:
    """Reading and writing SSE-KMS objects needs the key too, and only that key,
    and only through S3: the role cannot use it directly or via another service."""
    if kms_key_arn is None:
        return []
    # SSE-KMS needs the key in the bucket's region, which is the key ARN's.
    region = kms_key_arn.split(":")[3]
    return [allow(["kms:Decrypt", "kms:GenerateDataKey"], [kms_key_arn],
                  {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}})]
