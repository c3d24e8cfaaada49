"""S3 requests as IAM sees them, and the decision for each, for local/s3/front.py.

The operation is identified from botocore's S3 model (method, path shape, the
query's subresources and required parameters, required headers), then mapped
to the IAM action(s) and resource(s) S3 checks, as "Required permissions for
Amazon S3 API operations" lists them
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html)
and each operation's API reference says:

- GetObject and HeadObject: s3:GetObject on the object, s3:GetObjectVersion
  when the request names a version. A missing key answers 404 only to a
  caller who also has s3:ListBucket on the bucket; anyone else gets 403
  AccessDenied (HeadObject's and GetObject's "Permissions" sections). What S3
  puts in the request context for that ListBucket check is not documented, in
  particular whether `s3:prefix` is set; the front evaluates it with the
  GET's or HEAD's own context, which has no `s3:prefix`, so a ListBucket
  limited by a prefix condition does not turn the 403 into a 404 here. That
  is the stricter reading: code that passes locally passes on AWS whichever
  reading AWS uses.
- PutObject, CreateMultipartUpload, UploadPart, CompleteMultipartUpload, and a
  browser's presigned POST: s3:PutObject (plus s3:PutObjectTagging with
  `x-amz-tagging`, s3:PutObjectAcl with an ACL header).
- CopyObject and UploadPartCopy: s3:PutObject on the destination and
  s3:GetObject (s3:GetObjectVersion for a `?versionId=` source) on the source.
- DeleteObject: "you must always have the s3:DeleteObject permission", and
  s3:DeleteObjectVersion too to delete a version. DeleteObjects: the same for
  every key (and version) in its body. S3 answers a DeleteObjects whose keys
  are partly denied with an `Errors` entry per refused key; the front refuses
  the whole request instead (both fail the caller's delete; only the
  exception differs).
- ListObjects(V2) s3:ListBucket, ListObjectVersions s3:ListBucketVersions,
  ListMultipartUploads s3:ListBucketMultipartUploads, with `s3:prefix`,
  `s3:delimiter` and `s3:max-keys` from the query, as condition keys.
- ListParts s3:ListMultipartUploadParts, AbortMultipartUpload
  s3:AbortMultipartUpload; bucket configuration operations their own action
  (DeleteBucketCors is s3:PutBucketCORS, and so on).

Presigned URLs and presigned POSTs act with the rights of the key that signed
them: the caller is the access key in their credential scope. Every check
also meets the bucket's own policy (the TLS-only deny).
"""

from __future__ import annotations

import http.client
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import IO
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.etree import ElementTree

import botocore.session
from botocore.credentials import Credentials

from local.iam.authority import DEPLOYER, Authority, Check

OBJECT, BUCKET, ANYTHING = "object", "bucket", "*"
# Requests whose IAM checks S3 gives the object's existing tags
# (`s3:ExistingObjectTag/<key>`): reading it, and reading or changing its tags.
_TAG_CONDITIONED = {"GetObject", "HeadObject", "GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging"}
_AUTH_PARAMS = {"x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-expires", "x-amz-signedheaders",
                "x-amz-signature", "x-amz-security-token", "x-id"}
# (action, resource, action when the request names a versionId)
_ACTIONS: dict[str, tuple[str, str, str | None]] = {
    "GetObject": ("s3:GetObject", OBJECT, "s3:GetObjectVersion"),
    "HeadObject": ("s3:GetObject", OBJECT, "s3:GetObjectVersion"),
    "GetObjectAttributes": ("s3:GetObjectAttributes", OBJECT, "s3:GetObjectVersionAttributes"),
    "GetObjectTagging": ("s3:GetObjectTagging", OBJECT, "s3:GetObjectVersionTagging"),
    "PutObjectTagging": ("s3:PutObjectTagging", OBJECT, "s3:PutObjectVersionTagging"),
    "DeleteObjectTagging": ("s3:DeleteObjectTagging", OBJECT, "s3:DeleteObjectVersionTagging"),
    "GetObjectAcl": ("s3:GetObjectAcl", OBJECT, "s3:GetObjectVersionAcl"),
    "PutObjectAcl": ("s3:PutObjectAcl", OBJECT, "s3:PutObjectVersionAcl"),
    "GetObjectRetention": ("s3:GetObjectRetention", OBJECT, None),
    "PutObjectRetention": ("s3:PutObjectRetention", OBJECT, None),
    "GetObjectLegalHold": ("s3:GetObjectLegalHold", OBJECT, None),
    "PutObjectLegalHold": ("s3:PutObjectLegalHold", OBJECT, None),
    "RestoreObject": ("s3:RestoreObject", OBJECT, None),
    "CreateMultipartUpload": ("s3:PutObject", OBJECT, None),
    "UploadPart": ("s3:PutObject", OBJECT, None),
    "CompleteMultipartUpload": ("s3:PutObject", OBJECT, None),
    "AbortMultipartUpload": ("s3:AbortMultipartUpload", OBJECT, None),
    "ListParts": ("s3:ListMultipartUploadParts", OBJECT, None),
    "ListBuckets": ("s3:ListAllMyBuckets", ANYTHING, None),
    "CreateBucket": ("s3:CreateBucket", BUCKET, None),
    "DeleteBucket": ("s3:DeleteBucket", BUCKET, None),
    "HeadBucket": ("s3:ListBucket", BUCKET, None),
    "ListObjects": ("s3:ListBucket", BUCKET, None),
    "ListObjectsV2": ("s3:ListBucket", BUCKET, None),
    "ListObjectVersions": ("s3:ListBucketVersions", BUCKET, None),
    "ListMultipartUploads": ("s3:ListBucketMultipartUploads", BUCKET, None),
    "GetBucketLocation": ("s3:GetBucketLocation", BUCKET, None),
    "GetBucketVersioning": ("s3:GetBucketVersioning", BUCKET, None),
    "PutBucketVersioning": ("s3:PutBucketVersioning", BUCKET, None),
    "GetBucketCors": ("s3:GetBucketCORS", BUCKET, None),
    "PutBucketCors": ("s3:PutBucketCORS", BUCKET, None),
    "DeleteBucketCors": ("s3:PutBucketCORS", BUCKET, None),
    "GetBucketEncryption": ("s3:GetEncryptionConfiguration", BUCKET, None),
    "PutBucketEncryption": ("s3:PutEncryptionConfiguration", BUCKET, None),
    "DeleteBucketEncryption": ("s3:PutEncryptionConfiguration", BUCKET, None),
    "GetPublicAccessBlock": ("s3:GetBucketPublicAccessBlock", BUCKET, None),
    "PutPublicAccessBlock": ("s3:PutBucketPublicAccessBlock", BUCKET, None),
    "DeletePublicAccessBlock": ("s3:PutBucketPublicAccessBlock", BUCKET, None),
    "GetBucketNotification": ("s3:GetBucketNotification", BUCKET, None),
    "GetBucketNotificationConfiguration": ("s3:GetBucketNotification", BUCKET, None),
    "PutBucketNotification": ("s3:PutBucketNotification", BUCKET, None),
    "PutBucketNotificationConfiguration": ("s3:PutBucketNotification", BUCKET, None),
    "GetBucketPolicy": ("s3:GetBucketPolicy", BUCKET, None),
    "PutBucketPolicy": ("s3:PutBucketPolicy", BUCKET, None),
    "DeleteBucketPolicy": ("s3:DeleteBucketPolicy", BUCKET, None),
    "GetBucketPolicyStatus": ("s3:GetBucketPolicyStatus", BUCKET, None),
    "GetBucketLifecycle": ("s3:GetLifecycleConfiguration", BUCKET, None),
    "GetBucketLifecycleConfiguration": ("s3:GetLifecycleConfiguration", BUCKET, None),
    "PutBucketLifecycle": ("s3:PutLifecycleConfiguration", BUCKET, None),
    "PutBucketLifecycleConfiguration": ("s3:PutLifecycleConfiguration", BUCKET, None),
    "DeleteBucketLifecycle": ("s3:PutLifecycleConfiguration", BUCKET, None),
    "GetBucketTagging": ("s3:GetBucketTagging", BUCKET, None),
    "PutBucketTagging": ("s3:PutBucketTagging", BUCKET, None),
    "DeleteBucketTagging": ("s3:PutBucketTagging", BUCKET, None),
    "GetBucketOwnershipControls": ("s3:GetBucketOwnershipControls", BUCKET, None),
    "PutBucketOwnershipControls": ("s3:PutBucketOwnershipControls", BUCKET, None),
    "DeleteBucketOwnershipControls": ("s3:PutBucketOwnershipControls", BUCKET, None),
    "GetBucketAcl": ("s3:GetBucketAcl", BUCKET, None),
    "PutBucketAcl": ("s3:PutBucketAcl", BUCKET, None),
    "GetBucketWebsite": ("s3:GetBucketWebsite", BUCKET, None),
    "PutBucketWebsite": ("s3:PutBucketWebsite", BUCKET, None),
    "DeleteBucketWebsite": ("s3:DeleteBucketWebsite", BUCKET, None),
    "GetBucketLogging": ("s3:GetBucketLogging", BUCKET, None),
    "PutBucketLogging": ("s3:PutBucketLogging", BUCKET, None),
    "GetBucketRequestPayment": ("s3:GetBucketRequestPayment", BUCKET, None),
    "PutBucketRequestPayment": ("s3:PutBucketRequestPayment", BUCKET, None),
    "GetBucketAccelerateConfiguration": ("s3:GetAccelerateConfiguration", BUCKET, None),
    "PutBucketAccelerateConfiguration": ("s3:PutAccelerateConfiguration", BUCKET, None),
    "GetObjectLockConfiguration": ("s3:GetBucketObjectLockConfiguration", BUCKET, None),
    "PutObjectLockConfiguration": ("s3:PutBucketObjectLockConfiguration", BUCKET, None),
    "GetBucketReplication": ("s3:GetReplicationConfiguration", BUCKET, None),
    "PutBucketReplication": ("s3:PutReplicationConfiguration", BUCKET, None),
    "DeleteBucketReplication": ("s3:PutReplicationConfiguration", BUCKET, None),
}
_LISTINGS = {"ListObjects", "ListObjectsV2", "ListObjectVersions", "ListMultipartUploads"}
_LIST_KEYS = {"prefix": "s3:prefix", "delimiter": "s3:delimiter", "max-keys": "s3:max-keys"}
_WRITES = {"PutObject", "CopyObject", "PostObject"}
# Directory buckets' (S3 Express) own operations: never a general purpose bucket's.
_EXPRESS_ONLY = {"ListDirectoryBuckets", "CreateSession"}
_READS_THAT_DISCLOSE_EXISTENCE = {"GetObject", "HeadObject"}


class Unclassified(Exception):
    """A request the front cannot map to IAM actions: refused, never let through."""


@dataclass(frozen=True)
class _Route:
    operation: str
    method: str
    shape: str  # "root", "bucket" or "object"
    literals: tuple[tuple[str, str | None], ...]  # query names (and values) the URI fixes
    query: frozenset[str]  # required query parameters
    headers: frozenset[str]  # required headers, lower-cased
    deprecated: bool

    @property
    def specificity(self) -> int:
        return len(self.literals) + len(self.query) + len(self.headers)

    def fits(self, method: str, shape: str, query: Mapping[str, str], headers: Mapping[str, str]) -> bool:
        return (self.method == method and self.shape == shape
                and all(name in query and (value is None or query[name] == value) for name, value in self.literals)
                and self.query <= set(query) and self.headers <= set(headers))


@cache
def _routes() -> tuple[_Route, ...]:
    model = botocore.session.get_session().get_service_model("s3")
    routes = []
    for name in model.operation_names:
        if name in _EXPRESS_ONLY:
            continue
        operation = model.operation_model(name)
        uri = operation.http["requestUri"]
        path, _, literal_query = uri.partition("?")
        shape = "object" if "{Key+}" in path else "bucket" if "{Bucket}" in path else "root"
        if shape == "root" and path != "/":
            continue  # WriteGetObjectResponse and such: not bucket operations
        literals = []
        for part in filter(None, literal_query.split("&")):
            name_, eq, value = part.partition("=")
            literals.append((name_, value if eq else None))
        required_query, required_headers = set(), set()
        if operation.input_shape is not None:
            for member, member_shape in operation.input_shape.members.items():
                if member not in operation.input_shape.required_members:
                    continue
                location = member_shape.serialization.get("location")
                if location == "querystring":
                    required_query.add(member_shape.serialization["name"])
                elif location == "header":
                    required_headers.add(member_shape.serialization["name"].lower())
        routes.append(_Route(name, operation.http["method"], shape, tuple(literals), frozenset(required_query),
                             frozenset(required_headers), bool(operation.deprecated)))
    return tuple(routes)


def identify(method: str, bucket: str | None, key: str | None, query: Mapping[str, str],
             headers: Mapping[str, str], form_post: bool = False) -> str:
    """The S3 operation a request is, by botocore's model."""
    if form_post:
        return "PostObject"
    if "x-id" in query:
        return query["x-id"]
    shape = "object" if key else "bucket" if bucket else "root"
    fitting = [route for route in _routes() if route.fits(method, shape, query, headers)]
    if not fitting:
        raise Unclassified(f"no S3 operation is {method} on a {shape} with query {sorted(query)}")
    best = max(route.specificity for route in fitting)
    fitting = [route for route in fitting if route.specificity == best]
    if len(fitting) > 1:
        fitting = [route for route in fitting if not route.deprecated] or fitting
    actions = {_ACTIONS.get(route.operation, (route.operation,))[0] for route in fitting}
    if len(actions) > 1:
        raise Unclassified(f"{method} on a {shape} could be any of {sorted(r.operation for r in fitting)}")
    return fitting[0].operation


def object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def _copy_source(value: str) -> tuple[str, str, str | None]:
    """(bucket, key, versionId) of an `x-amz-copy-source` header."""
    path, _, query = unquote(value).lstrip("/").partition("?versionId=")
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise Unclassified(f"x-amz-copy-source {value!r} names no object")
    return bucket, key, query or None


def _raw(body: IO[bytes] | bytes) -> bytes:
    if isinstance(body, bytes):
        return body
    body.seek(0)
    raw = body.read()
    body.seek(0)
    return raw


def _tag_set(raw: bytes) -> dict[str, str]:
    """The Key/Value pairs of a Tagging document (PutObjectTagging's body, GetObjectTagging's answer)."""
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError:
        return {}
    tags = {}
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "Tag":
            fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in element}
            if "Key" in fields:
                tags[fields["Key"]] = fields.get("Value", "")
    return tags


def request_tag_context(operation: str, headers: Mapping[str, str],
                        body: IO[bytes] | bytes | None) -> dict[str, object]:
    """`s3:RequestObjectTag/<key>` and `s3:RequestObjectTagKeys` of a request
    that sets tags: an upload's `x-amz-tagging` header (a query string), or
    PutObjectTagging's body (Amazon S3 User Guide, "Tagging and access control
    policies")."""
    if operation == "PutObjectTagging" and body is not None:
        tags = _tag_set(_raw(body))
    elif "x-amz-tagging" in headers:
        tags = dict(parse_qsl(headers["x-amz-tagging"], keep_blank_values=True))
    else:
        return {}
    return {**{f"s3:RequestObjectTag/{name}": value for name, value in tags.items()},
            "s3:RequestObjectTagKeys": list(tags)}


def _deleted_objects(body: IO[bytes] | bytes | None) -> list[tuple[str, str | None]]:
    """(key, versionId) of each object a DeleteObjects body names."""
    if body is None:
        raise Unclassified("DeleteObjects without a body")
    raw = _raw(body)
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError as error:
        raise Unclassified(f"DeleteObjects body is not XML: {error}") from None
    found = []
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] != "Object":
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in element}
        if "Key" not in fields:
            raise Unclassified("a DeleteObjects entry names no Key")
        found.append((fields["Key"], fields.get("VersionId") or None))
    return found


def checks(operation: str, bucket: str | None, key: str | None, query: Mapping[str, str],
           headers: Mapping[str, str], body: IO[bytes] | bytes | None = None) -> list[Check]:
    """The IAM checks S3 makes for one request."""
    versioned = "versionId" in query
    context = {"s3:versionid": query["versionId"]} if versioned else {}
    if operation in _WRITES:
        if not (bucket and key):
            raise Unclassified(f"{operation} names no object")
        found = [Check("s3:PutObject", object_arn(bucket, key))]
        if operation == "CopyObject":
            source_bucket, source_key, version = _copy_source(headers["x-amz-copy-source"])
            found.append(Check("s3:GetObjectVersion" if version else "s3:GetObject",
                               object_arn(source_bucket, source_key),
                               {"s3:versionid": version} if version else {}, note="copy source"))
        if "x-amz-tagging" in headers:
            found.append(Check("s3:PutObjectTagging", object_arn(bucket, key)))
        if "x-amz-acl" in headers or any(name.startswith("x-amz-grant-") for name in headers):
            found.append(Check("s3:PutObjectAcl", object_arn(bucket, key)))
        return found
    if operation == "UploadPartCopy":
        source_bucket, source_key, version = _copy_source(headers["x-amz-copy-source"])
        return [Check("s3:PutObject", object_arn(bucket, key)),
                Check("s3:GetObjectVersion" if version else "s3:GetObject", object_arn(source_bucket, source_key),
                      {"s3:versionid": version} if version else {}, note="copy source")]
    if operation == "DeleteObject":
        found = [Check("s3:DeleteObject", object_arn(bucket, key))]
        if versioned:
            found.append(Check("s3:DeleteObjectVersion", object_arn(bucket, key), context))
        return found
    if operation == "DeleteObjects":
        found: list[Check] = []
        for deleted_key, version in _deleted_objects(body):
            found.append(Check("s3:DeleteObject", object_arn(bucket, deleted_key)))
            if version:
                found.append(Check("s3:DeleteObjectVersion", object_arn(bucket, deleted_key),
                                   {"s3:versionid": version}))
        # One check per distinct question: a key's versions ask the same one.
        unique: dict[tuple[str, str], Check] = {}
        for check in found:
            unique.setdefault((check.action, check.resource), check)
        return list(unique.values())
    if operation not in _ACTIONS:
        raise Unclassified(f"the IAM actions of S3's {operation} are not listed in local/iam/s3.py")
    action, target, version_action = _ACTIONS[operation]
    if versioned and version_action:
        action = version_action
    if target == OBJECT:
        if not (bucket and key):
            raise Unclassified(f"{operation} names no object")
        return [Check(action, object_arn(bucket, key), context)]
    if target == BUCKET:
        if not bucket:
            raise Unclassified(f"{operation} names no bucket")
        listing = {name: query[param] for param, name in _LIST_KEYS.items()
                   if operation in _LISTINGS and param in query}
        return [Check(action, bucket_arn(bucket), listing)]
    return [Check(action, "*")]


def object_key(path: str, bucket: str, host: str) -> str | None:
    """The key a path names, path-style (`/bucket/key`) or virtual-hosted (`/key`)."""
    hostname = host.rsplit(":", 1)[0]
    raw = path.lstrip("/")
    if not hostname.startswith(f"{bucket}."):
        raw = raw.partition("/")[2]
    return unquote(raw) or None


class S3Authorizer:
    """What local/s3/front.py asks: whose key signed a request, and whether that
    principal may make it."""

    def __init__(self, authority: Authority, upstream: str) -> None:
        self.authority = authority
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname, parts.port)

    def credentials(self, access_key: str) -> Credentials | None:
        principal = self.authority.principal(access_key)
        return None if principal is None else Credentials(principal.access_key, principal.secret_key)

    def authorize(self, access_key: str, method: str, bucket: str | None, key: str | None,
                  query: Sequence[tuple[str, str]], headers: Mapping[str, str],
                  body: IO[bytes] | None = None, form_post: bool = False) -> tuple[int, str, str] | None:
        """None when the request may go on; else S3's (status, code, message).
        `key` is the object key (a POST's from its form); `query` the request's
        query string, signature parameters included; `headers` any mapping
        with case-insensitive `get`."""
        principal = self.authority.principal(access_key)
        if principal is None:
            return 403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
        params = {name: value for name, value in query if name.lower() not in _AUTH_PARAMS or name == "x-id"}
        lowered = {name.lower(): value for name, value in headers.items()}
        try:
            operation = identify(method, bucket, key, params, lowered, form_post)
            asked = checks(operation, bucket, key, params, lowered, body)
        except Unclassified as unclassified:
            message = self.authority.refuse_unclassified(principal, "s3", f"{method} {'object' if key else 'bucket'}",
                                                         str(unclassified))
            return 501, "NotImplemented", message
        signed_in_query = any(name == "X-Amz-Signature" for name, _ in query)
        context = {"s3:authType": "POST" if form_post else "REST-QUERY-STRING" if signed_in_query else "REST-HEADER",
                   "s3:signatureversion": "AWS4-HMAC-SHA256"}
        tags = {**request_tag_context(operation, lowered, body),
                **(self._existing_tag_context(bucket, key, params.get("versionId"))
                   if operation in _TAG_CONDITIONED and key else {})}
        refusal = self.authority.decide(principal, asked, service="s3", operation=operation,
                                        context={**context, **tags})
        if refusal is not None:
            return 403, "AccessDenied", refusal.message
        if operation in _READS_THAT_DISCLOSE_EXISTENCE and principal.name != DEPLOYER \
                and not self._exists(bucket, key, params.get("versionId")):
            # S3 tells "no such key" only to a caller who may list the bucket.
            listing = Check("s3:ListBucket", bucket_arn(bucket), note=f"{operation} of a missing key: 404 or 403")
            refusal = self.authority.decide(principal, [listing], service="s3", operation=operation, context=context)
            if refusal is not None:
                return 403, "AccessDenied", "Access Denied"
        return None

    def _existing_tag_context(self, bucket: str, key: str, version: str | None) -> dict[str, str]:
        """`s3:ExistingObjectTag/<key>` for each tag the object (or version) has,
        as moto holds them; none for a missing object."""
        target = (f"/{quote(bucket)}/{quote(key, safe='/~')}?tagging"
                  + (f"&versionId={quote(version)}" if version else ""))
        status, body = self._upstream_request("GET", target)
        if status != 200:
            return {}
        return {f"s3:ExistingObjectTag/{name}": value for name, value in _tag_set(body).items()}

    def _upstream_request(self, method: str, target: str) -> tuple[int, bytes]:
        """A request to moto nobody else sees. The credential scope only routes
        it to S3; moto checks no signature."""
        connection = http.client.HTTPConnection(*self._upstream, timeout=30)
        try:
            connection.request(method, target, headers={
                "Authorization": f"AWS4-HMAC-SHA256 Credential=probe/20200101/{self.authority.region}/s3/"
                                 "aws4_request, SignedHeaders=host, Signature=0"})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def _exists(self, bucket: str, key: str, version: str | None) -> bool:
        """Whether moto has the object (or version)."""
        target = f"/{quote(bucket)}/{quote(key, safe='/~')}" + (f"?versionId={quote(version)}" if version else "")
        return self._upstream_request("HEAD", target)[0] != 404
