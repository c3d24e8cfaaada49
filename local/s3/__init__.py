"""moto's S3 behind a front that checks what S3 checks (docs/local-s3.md)."""

from local.s3.front import S3Front

__all__ = ["S3Front"]
