"""A request as S3 sees it: its target, its headers and its spooled body."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from typing import IO
from urllib.parse import parse_qsl, quote, unquote, urlsplit

COPY_CHUNK = 1024 * 1024


@dataclass
class Request:
    method: str
    target: str
    headers: Message
    body: IO[bytes]
    length: int

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> list[tuple[str, str]]:
        """Every pair, repeats included, in the order sent: a signature covers them all."""
        return parse_qsl(urlsplit(self.target).query, keep_blank_values=True)

    def param(self, name: str) -> str | None:
        """The first value of a query parameter, the one moto acts on."""
        return next((value for key, value in self.query if key == name), None)

    @property
    def host(self) -> str:
        return self.headers.get("host", "")

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def bucket(self) -> str:
        hostname = self.host.rsplit(":", 1)[0]
        if ".s3." in hostname or hostname.endswith(".s3.amazonaws.com"):
            return hostname.split(".s3.", 1)[0]
        return unquote(self.path.lstrip("/").split("/", 1)[0])

    def canonical_url(self) -> str:
        """The URL a client signed: S3 signs the URI-encoded path as it is, with no
        normalisation, and every client encodes it the same way once decoded."""
        return f"http://{self.host}{quote(unquote(self.path), safe='/~')}"

    @property
    def is_aws_chunked(self) -> bool:
        """A body in aws-chunked encoding carries its checksums in chunk signatures or a
        trailer, which the front does not decode; moto does."""
        return ("aws-chunked" in (self.header("content-encoding") or "")
                or (self.header("x-amz-content-sha256") or "").startswith("STREAMING-"))

    def read_body(self) -> bytes:
        self.body.seek(0)
        return self.body.read(self.length)


def copy(source: IO[bytes], target: IO[bytes], length: int) -> int:
    copied = 0
    while copied < length:
        chunk = source.read(min(COPY_CHUNK, length - copied))
        if not chunk:
            break
        target.write(chunk)
        copied += len(chunk)
    return copied
