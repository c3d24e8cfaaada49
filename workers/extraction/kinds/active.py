"""Active content: what a browser or viewer would run. It is recognised only
to be refused, and declared as an image or a PDF it is a disguise
(`typecheck`)."""

from __future__ import annotations

import re

from workers.extraction.registry import active_content
from workers.extraction.sniff import Magic, Opening

# WHATWG MIME Sniffing, "rules for identifying an unknown MIME type": each tag
# must be followed by a space or '>' to count.
_HTML_TAGS = re.compile(
    r"<(?:!doctype html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p|!--)[ >]",
    re.IGNORECASE,
)
_SVG = re.compile(r"<svg[\s>]", re.IGNORECASE)


def _script(start: str) -> bool:
    return start[:1024].lower().startswith(("#!", "<?php"))


def _svg(start: str) -> bool:
    prologue = start[:1024].lower().startswith(("<?xml", "<!doctype svg"))
    return bool(_SVG.match(start) or (prologue and _SVG.search(start[:4096])))


active_content("executable", signatures=(
    Magic("application/vnd.microsoft.portable-executable", {0: b"MZ"}),
    Magic("application/x-elf", {0: b"\x7fELF"}),
    Magic("application/x-mach-binary", {0: b"\xfe\xed\xfa\xce"}),
    Magic("application/x-mach-binary", {0: b"\xfe\xed\xfa\xcf"}),
    Magic("application/x-mach-binary", {0: b"\xce\xfa\xed\xfe"}),
    Magic("application/x-mach-binary", {0: b"\xcf\xfa\xed\xfe"}),
    Magic("application/java-vm", {0: b"\xca\xfe\xba\xbe"}),
))
active_content("script", signatures=(Opening("text/x-script", _script),))
active_content("svg", signatures=(Opening("image/svg+xml", _svg),))
active_content("html", signatures=(Opening("text/html", lambda start: bool(_HTML_TAGS.match(start))),))
