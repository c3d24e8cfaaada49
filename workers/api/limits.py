"""What the API accepts and how long what it signs stays valid."""

# The content types and the threshold are the contract's: the dashboard needs them too.
from contract.http import ALLOWED_CONTENT_TYPES, MULTIPART_THRESHOLD  # noqa: F401

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB  # S3's floor for every part but the last
MAX_PARTS = 10_000
# Every upload the dashboard makes carries a SHA-256 that S3 checks; multipart
# uploads get S3's composite form, a SHA-256 of the parts' SHA-256s.
CHECKSUM_ALGORITHM = "SHA256"
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
