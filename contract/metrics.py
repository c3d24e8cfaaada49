"""The metrics the workers emit and the alarms and CloudWatch board read.
Powertools adds a `service` dimension to every EMF metric; alarms must match it."""

NAMESPACE = "Uploads"
SERVICE_DIMENSION = "service"
STACK_DIMENSION = "stack"
INGEST_SERVICE = "ingest"
API_SERVICE = "api"
# The lifecycle event producer (contract/events.py).
EVENTS_SERVICE = "events"
WEBHOOKS_SERVICE = "webhooks"

FILES_PROCESSED = "FilesProcessed"
FILES_FAILED = "FilesFailed"
INGEST_LAG = "IngestLagMs"
BYTES_FETCHED = "BytesFetched"
RANGE_REQUESTS = "RangeRequests"
THUMBNAIL_BYTES_FETCHED = "ThumbnailBytesFetched"
# GuardDuty results that leave a file blocked by no fault of its own (FAILED,
# ACCESS_DENIED), as the worker records them: on-call's to rescan or fix.
SCANS_FAILED = "ScansFailed"
# Uploaded files still waiting for their scan past the bound, counted by the
# scheduled sweep (contract/scan.py): a result that never comes sends no event.
SCANS_STUCK = "ScansStuck"
# Webhook deliveries a receiver acknowledged with a 2xx, and attempts that
# failed (and will be retried or dead-lettered), per endpoint (ENDPOINT_DIMENSION).
WEBHOOKS_DELIVERED = "WebhooksDelivered"
WEBHOOK_ATTEMPTS_FAILED = "WebhookAttemptsFailed"
ENDPOINT_DIMENSION = "endpoint"
