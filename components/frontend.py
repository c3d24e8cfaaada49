"""The dashboard's hosting: a private bucket that only CloudFront can read,
HTTPS only, with security headers on every response.

Two components because of one cycle: the API's CORS and Cognito's callback
URLs need the CloudFront domain, while `config.json` needs the API URL and
the client id. `StaticSite` comes first, `SiteContent` last.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.private_bucket import PrivateBucket, PrivateBucketArgs
from components.web_assets import REVALIDATE, site_files
from contract import permissions
from contract.http import dashboard_csp
from contract.outputs import DashboardConfig

CACHING_OPTIMIZED_POLICY_ID = "658327ea-f89d-4fab-a63d-7e88639e58f6"
HSTS_MAX_AGE_S = 2 * 365 * 24 * 3600
CONFIG_KEY = "config.json"
# Explicit for the types the dashboard serves: the platform's mimetypes table
# varies between machines, and a wrong type breaks module scripts.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


@dataclass
class StaticSiteArgs:
    bucket_name: pulumi.Input[str]
    force_destroy: bool
    region: str
    # What the page may talk to, for the CSP's connect-src.
    upload_bucket_name: pulumi.Input[str]
    auth_url: pulumi.Input[str]


class StaticSite(pulumi.ComponentResource):
    bucket: aws.s3.Bucket
    url: pulumi.Output[str]

    def __init__(self, name: str, args: StaticSiteArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("uploads:frontend:StaticSite", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        private = PrivateBucket(f"{name}-bucket", PrivateBucketArgs(args.bucket_name, args.force_destroy), opts=child)
        self.bucket = private.bucket
        access_control = aws.cloudfront.OriginAccessControl(
            f"{name}-oac",
            name=args.bucket_name,
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=child,
        )
        headers = aws.cloudfront.ResponseHeadersPolicy(
            f"{name}-headers",
            name=args.bucket_name,
            security_headers_config={
                "content_security_policy": {
                    "content_security_policy": _content_security_policy(args),
                    "override": True,
                },
                "strict_transport_security": {
                    "access_control_max_age_sec": HSTS_MAX_AGE_S,
                    "include_subdomains": True,
                    "override": True,
                },
                "content_type_options": {"override": True},
                "frame_options": {"frame_option": "DENY", "override": True},
                "referrer_policy": {"referrer_policy": "strict-origin-when-cross-origin", "override": True},
            },
            opts=child,
        )
        origin_id = "site"
        distribution = aws.cloudfront.Distribution(
            f"{name}-cdn",
            enabled=True,
            comment=args.bucket_name,
            default_root_object="index.html",
            http_version="http2and3",
            is_ipv6_enabled=True,
            price_class="PriceClass_100",
            origins=[{
                "origin_id": origin_id,
                "domain_name": self.bucket.bucket_regional_domain_name,
                "origin_access_control_id": access_control.id,
            }],
            default_cache_behavior={
                "target_origin_id": origin_id,
                "viewer_protocol_policy": "redirect-to-https",
                "allowed_methods": ["GET", "HEAD"],
                "cached_methods": ["GET", "HEAD"],
                "compress": True,
                "cache_policy_id": CACHING_OPTIMIZED_POLICY_ID,
                "response_headers_policy_id": headers.id,
            },
            restrictions={"geo_restriction": {"restriction_type": "none"}},
            viewer_certificate={"cloudfront_default_certificate": True},
            opts=child,
        )
        private.attach_policy(f"{name}-policy", permissions.SITE_BUCKET_POLICY, permissions.SITE_BUCKET,
                              {permissions.DISTRIBUTION: distribution.arn}, parent=self)
        self.url = pulumi.Output.concat("https://", distribution.domain_name)
        self.register_outputs({"webUrl": self.url, "distributionId": distribution.id})


def _content_security_policy(args: StaticSiteArgs) -> pulumi.Output[str]:
    # The API's id is unknown until it exists, and it needs this site's
    # domain first; the regional execute-api wildcard breaks that cycle.
    sources = pulumi.Output.all(
        pulumi.Output.concat("https://", args.upload_bucket_name, ".s3.", args.region, ".amazonaws.com"),
        f"https://*.execute-api.{args.region}.amazonaws.com",
        args.auth_url,
    )
    # Thumbnails are presigned GETs on the upload bucket, the first source.
    return sources.apply(lambda known: dashboard_csp(known, image_sources=known[:1]))


@dataclass
class SiteContentArgs:
    bucket: aws.s3.Bucket
    web_dir: Path
    # Written as config.json: what the dashboard needs to find the API and sign in.
    config: DashboardConfig


class SiteContent(pulumi.ComponentResource):
    def __init__(self, name: str, args: SiteContentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("uploads:frontend:SiteContent", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        keys = []
        # The generated config.json below is authoritative.
        for file in site_files(args.web_dir, skip=frozenset({CONFIG_KEY})):
            keys.append(file.key)
            aws.s3.BucketObjectv2(
                # Named for the source file: a new hash replaces the object.
                f"{name}-{file.path.relative_to(args.web_dir).as_posix()}",
                bucket=args.bucket.id,
                key=file.key,
                source=pulumi.FileAsset(str(file.path)) if file.text is None else None,
                content=file.text,
                content_type=content_type(file.path),
                cache_control=file.cache_control,
                # A page loaded before the deploy still fetches what it names
                # (the hash worker, when a file is dropped): old names stay.
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=file.immutable),
            )
        aws.s3.BucketObjectv2(
            f"{name}-{CONFIG_KEY}",
            bucket=args.bucket.id,
            key=CONFIG_KEY,
            content=pulumi.Output.json_dumps(args.config.as_dict()),
            content_type=CONTENT_TYPES[".json"],
            cache_control=REVALIDATE,
            opts=child,
        )
        self.register_outputs({"keys": keys + [CONFIG_KEY]})
