"""The HTTP contract between the dashboard, the gateway (API Gateway or the
local one), Cognito (deployed or emulated) and the API function: routes, CORS,
scopes, the dashboard's CSP and the password policy."""

from __future__ import annotations

from dataclasses import dataclass

# Every route the HTTP API exposes; the handler implements exactly these and the
# gateway routes exactly these, each behind the JWT authorizer.
API_ROUTES = (
    "POST /uploads",
    "POST /uploads/{fileId}/parts",
    "GET /uploads/{fileId}/parts",
    "POST /uploads/{fileId}/complete",
    "DELETE /uploads/{fileId}",
    "GET /files",
    "GET /files/{fileId}",
    "POST /files/{fileId}/download",
    "DELETE /files/{fileId}",
    "GET /usage",
)
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
# What the HTTP API's CORS configuration allows from the dashboard's origin.
API_CORS_ALLOW_HEADERS = ("authorization", "content-type", IDEMPOTENCY_KEY_HEADER.lower())
API_CORS_ALLOW_METHODS = ("GET", "POST", "DELETE")
# A browser's script may read only these of the API's answers' headers beyond the safelisted ones.
API_CORS_EXPOSE_HEADERS = ("retry-after",)
API_CORS_MAX_AGE_S = 600
# The API's integration timeout is the function's.
API_TIMEOUT_S = 10

# Browsers upload straight to the bucket (presigned POST, UploadPart PUTs) and
# download from it; they need each part's ETag to complete a multipart upload.
BUCKET_CORS_METHODS = ("GET", "HEAD", "POST", "PUT")
BUCKET_CORS_HEADERS = ("content-type", "content-md5", "x-amz-*")
BUCKET_CORS_EXPOSE = ("ETag",)
BUCKET_CORS_MAX_AGE_S = 3600

# The API refuses a bigger upload (413) and the worker fails a bigger object.
MAX_FILE_SIZE = 5 * 1024 ** 3
# A single presigned upload up to this size; multipart above it. The dashboard
# needs it too: a single upload carries the file's SHA-256, multipart its parts'.
MULTIPART_THRESHOLD = 16 * 1024 ** 2

# The bucket aborts a multipart upload left unfinished this long, so the API
# reclaims its ticket's reservation after it too.
ABORT_INCOMPLETE_MULTIPART_DAYS = 1

# Content types a client may declare (the API's ticket request, and the
# dashboard before it asks for one); what the worker accepts is decided by
# sniffing the bytes, never by this header.
ALLOWED_CONTENT_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/tiff",
    # iPhone photos and AVIF, then the audio and video containers the worker
    # describes, under the names browsers give them (.m4a is audio/x-m4a,
    # .wav audio/wav or audio/x-wav, .mkv video/x-matroska).
    "image/heic",
    "image/heif",
    "image/avif",
    "audio/mpeg",
    "audio/mp4",
    "audio/x-m4a",
    "audio/aac",
    "audio/wav",
    "audio/x-wav",
    "audio/flac",
    "audio/ogg",
    "audio/opus",
    "audio/webm",
    "audio/aiff",
    "video/mp4",
    "video/quicktime",
    "video/webm",
    "video/x-matroska",
    "video/ogg",
    "video/x-msvideo",
    "video/3gpp",
    "application/pdf",
    "text/csv",
    "text/tab-separated-values",
    "text/plain",
    "application/json",
    "application/x-ndjson",
    "application/vnd.apache.parquet",
    "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/octet-stream",
)

# The user pool and its one app client, deployed and emulated alike. Users sign
# in by email; the pool is invite-only, because anyone who signs up can store
# files at our cost. The dashboard is a public client (a browser cannot keep a
# secret) using the Hosted UI's authorization code flow with PKCE.
USERNAME_ATTRIBUTES = ("email",)
AUTO_VERIFIED_ATTRIBUTES = ("email",)
ADMIN_CREATE_USER_ONLY = True
OAUTH_FLOWS = ("code",)
OAUTH_SCOPES = ("openid", "email", "profile")
IDENTITY_PROVIDERS = ("COGNITO",)
EXPLICIT_AUTH_FLOWS = ("ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH")


@dataclass(frozen=True)
class PasswordPolicy:
    """Every character class on top of the length."""

    minimum_length: int = 12
    require_lowercase: bool = True
    require_uppercase: bool = True
    require_numbers: bool = True
    require_symbols: bool = True
    temporary_password_validity_days: int = 3


PASSWORD_POLICY = PasswordPolicy()


def issuer(region: str, user_pool_id: str) -> str:
    """The `iss` of the pool's tokens, which the JWT authorizer checks."""
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


def dashboard_csp(connect_sources: list[str], image_sources: list[str] = ()) -> str:
    """The dashboard's Content-Security-Policy, served by CloudFront and by the
    local stack alike. Scripts (and the hashing worker) and styles only from the
    site itself; network calls only to the site, the API, the upload bucket and
    the sign-in domain; images also from the bucket, where thumbnails are."""
    images = " ".join(("'self'", "data:", "blob:", *image_sources))
    connect = " ".join(("'self'", *connect_sources))
    return (
        "default-src 'self'; script-src 'self'; worker-src 'self'; style-src 'self'; "
        f"img-src {images}; connect-src {connect}; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
