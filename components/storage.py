"""The upload bucket: private, versioned, browser-reachable only from the
dashboard's origin, and tidy (no orphaned multipart parts, no endless history)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.private_bucket import PrivateBucket, PrivateBucketArgs
from contract import permissions
from contract.http import (
    ABORT_INCOMPLETE_MULTIPART_DAYS,
    BUCKET_CORS_EXPOSE,
    BUCKET_CORS_HEADERS,
    BUCKET_CORS_MAX_AGE_S,
    BUCKET_CORS_METHODS,
)


@dataclass
class UploadStorageArgs:
    bucket_name: pulumi.Input[str]
    force_destroy: bool
    kms_key_arn: str | None
    cors_origins: pulumi.Input[Sequence[pulumi.Input[str]]]
    noncurrent_version_days: int
    cold_storage_days: int | None
    cold_storage_class: str
    # `uploads:malwareScan`: the bucket policy's tag-based release (permissions.scan_release),
    # naming the roles it excepts.
    malware_scan: bool = False
    role_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


class UploadStorage(pulumi.ComponentResource):
    bucket: aws.s3.Bucket

    def __init__(self, name: str, args: UploadStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("uploads:storage:UploadStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        private = PrivateBucket(
            f"{name}-bucket",
            PrivateBucketArgs(args.bucket_name, args.force_destroy, args.kms_key_arn),
            opts=child,
        )
        self.bucket = private.bucket
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        rules = [
            {
                "id": "abort-incomplete-multipart",
                "status": "Enabled",
                "filter": {},
                "abort_incomplete_multipart_upload": {"days_after_initiation": ABORT_INCOMPLETE_MULTIPART_DAYS},
            },
            {
                # Versioning protects against a bad overwrite or delete; old
                # versions beyond this window are only cost.
                "id": "expire-noncurrent-versions",
                "status": "Enabled",
                "filter": {},
                "noncurrent_version_expiration": {"noncurrent_days": args.noncurrent_version_days},
            },
        ]
        if args.cold_storage_days is not None:
            rules.append({
                "id": "cold-storage",
                "status": "Enabled",
                "filter": {},
                "transitions": [{"days": args.cold_storage_days, "storage_class": args.cold_storage_class}],
            })
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=rules,
            # Noncurrent-version rules are rejected until versioning is on.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        aws.s3.BucketCorsConfiguration(
            f"{name}-cors",
            bucket=self.bucket.id,
            cors_rules=[{
                "allowed_origins": args.cors_origins,
                "allowed_methods": list(BUCKET_CORS_METHODS),
                "allowed_headers": list(BUCKET_CORS_HEADERS),
                "expose_headers": list(BUCKET_CORS_EXPOSE),
                "max_age_seconds": BUCKET_CORS_MAX_AGE_S,
            }],
            opts=child,
        )
        private.attach_policy(f"{name}-policy", permissions.upload_bucket_policy(args.malware_scan), permissions.BUCKET,
                              args.role_arns, parent=self)
        self.register_outputs({"bucketName": self.bucket.bucket, "bucketArn": self.bucket.arn})
