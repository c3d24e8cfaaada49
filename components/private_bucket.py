"""A bucket nobody can make public by accident: every public-access flag on,
ACLs disabled, encrypted at rest, and a policy that refuses plain HTTP."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam


@dataclass
class PrivateBucketArgs:
    bucket_name: pulumi.Input[str]
    force_destroy: bool
    # None: S3-managed keys (SSE-S3). A key ARN: SSE-KMS with bucket keys.
    kms_key_arn: str | None = None


class PrivateBucket(pulumi.ComponentResource):
    bucket: aws.s3.Bucket
    public_access_block: aws.s3.BucketPublicAccessBlock

    def __init__(self, name: str, args: PrivateBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("uploads:private_bucket:PrivateBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            name, bucket=args.bucket_name, force_destroy=args.force_destroy, opts=child
        )
        self.public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        by_default = (
            {"sse_algorithm": "aws:kms", "kms_master_key_id": args.kms_key_arn}
            if args.kms_key_arn
            else {"sse_algorithm": "AES256"}
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            # Bucket keys cut KMS requests (and their cost) by orders of magnitude.
            rules=[{"apply_server_side_encryption_by_default": by_default,
                    "bucket_key_enabled": bool(args.kms_key_arn)}],
            opts=child,
        )
        self.register_outputs({"bucketName": self.bucket.bucket, "bucketArn": self.bucket.arn})

    def attach_policy(self, name: str, statements: Sequence[Mapping[str, Any]], bucket_symbol: str,
                      values: Mapping[str, pulumi.Input[str]], parent: pulumi.Resource) -> aws.s3.BucketPolicy:
        """The bucket's only policy, from contract/permissions.py: the TLS-only deny
        and any grants, with this bucket as `bucket_symbol`. Separate from the
        constructor because a grant may name a resource (a CloudFront
        distribution) that itself needs the bucket first."""
        return aws.s3.BucketPolicy(
            name,
            bucket=self.bucket.id,
            policy=iam.policy(statements, {**values, bucket_symbol: self.bucket.arn}),
            # Concurrent PutPublicAccessBlock and PutBucketPolicy calls fail with OperationAborted.
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[self.public_access_block]),
        )
