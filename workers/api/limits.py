"""What the API accepts and how long what it signs stays valid."""

MiB = 1024 * 1024
# Presigned POST up to this size; multipart above it.
MULTIPART_THRESHOLD = 16 * MiB
MIN_PART_SIZE = 5 * MiB  # S3's floor for every part but the last
MAX_PARTS = 10_000
# One call presigns at most this many part URLs; a client asks again for the rest.
MAX_PART_URLS_PER_REQUEST = 100
UPLOAD_URL_EXPIRY_S = 15 * 60
DOWNLOAD_URL_EXPIRY_S = 5 * 60
# Thumbnails are signed into every listing, so a page left open still shows them for a while.
THUMBNAIL_URL_EXPIRY_S = 60 * 60
# The name a client declares is shown back verbatim; this only bounds the item size.
MAX_DISPLAY_FILENAME_CHARS = 1024
MAX_IDEMPOTENCY_KEY_LENGTH = 255
LIST_DEFAULT_LIMIT = 25
LIST_MAX_LIMIT = 100

# Content types a client may declare; what the worker accepts is decided by
# sniffing the bytes, never by this header.
ALLOWED_CONTENT_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/tiff",
    "application/pdf",
    "text/csv",
    "text/tab-separated-values",
    "text/plain",
    "application/json",
    "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/octet-stream",
)
