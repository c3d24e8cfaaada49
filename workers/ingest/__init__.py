"""The ingest worker: S3 notifications from SQS in, file records out."""
