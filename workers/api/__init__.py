"""The HTTP API: upload tickets, multipart uploads, listing, download and delete."""
