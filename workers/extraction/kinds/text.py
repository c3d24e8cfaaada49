"""Plain text: its encoding and how many lines it has."""

from __future__ import annotations

from workers.extraction import textio
from workers.extraction.limits import STREAMED_BUDGET
from workers.extraction.registry import Source, extractor
from workers.extraction.sniff import AnyText

_CHUNK_CHARS = 1024 * 1024


@extractor("text", signatures=(AnyText("text/plain"),),
           streamed=True, budget=STREAMED_BUDGET)
def describe(source: Source) -> dict:
    # Universal newlines: \r\n and a lone \r each end one line.
    text = textio.open_text(source.stream, source.sniffed.encoding, newline=None)
    newlines, last = 0, "\n"
    while chunk := text.read(_CHUNK_CHARS):
        source.deadline.check()
        newlines += chunk.count("\n")
        last = chunk[-1]
        scanned = source.stream.tell()
        if source.stop_scanning(scanned):
            return {"encoding": source.sniffed.encoding, "linesEstimated": round(newlines * source.size / scanned)}
    return {"encoding": source.sniffed.encoding, "lines": newlines + (last != "\n")}
