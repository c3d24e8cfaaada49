"""The dashboard as deployed: every asset under a name that carries a hash of
its content, and every reference to it rewritten to that name.

`index.html` keeps its name and is revalidated on every load; what it names
is immutable, so a browser never runs a new page with old modules (or the
reverse) while caches catch up, and a deploy needs no CloudFront invalidation:
https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/UpdatingExistingObjects.html
A module's hash covers the hashed names it imports, so changing `format.js`
renames every module that imports it, up to `index.html`.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

ENTRY = "index.html"
# What a browser must ask the origin for on every load: the page and the
# stack's config (fetched by name, generated at deploy time).
REVALIDATE = "no-cache"
# A hashed name's content never changes: https://www.rfc-editor.org/rfc/rfc8246
IMMUTABLE = "public, max-age=31536000, immutable"
HASH_LENGTH = 12
# The files whose text names other files: import specifiers, `new URL(...)`,
# `src` and `href` are all quoted relative paths.
REWRITTEN = {".html", ".js", ".mjs", ".css"}
QUOTED_PATH = re.compile(r"""(?P<quote>["'])(?P<path>(?:\./)?[\w./-]+)(?P=quote)""")


@dataclass(frozen=True)
class SiteFile:
    key: str
    path: Path
    # The rewritten text for files that name others; None uploads `path` as it is.
    text: str | None
    cache_control: str

    @property
    def immutable(self) -> bool:
        return self.cache_control == IMMUTABLE


def site_files(web_dir: Path, skip: frozenset[str] = frozenset()) -> list[SiteFile]:
    """Every file under `web_dir` (dot files and `skip` aside), in key order."""
    paths = {
        path.relative_to(web_dir).as_posix(): path
        for path in sorted(web_dir.rglob("*"))
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(web_dir).parts)
        and path.relative_to(web_dir).as_posix() not in skip
    }
    built: dict[str, SiteFile] = {}

    def build(name: str, naming: tuple[str, ...]) -> SiteFile:
        if name in naming:
            raise ValueError(f"web/{name} imports itself through {' -> '.join(naming)}: "
                             "content hashes cannot name a cycle")
        if name not in built:
            path = paths[name]
            text = None
            if path.suffix in REWRITTEN:
                text = _rewrite(name, path.read_text(encoding="utf-8"), lambda ref: build(ref, (*naming, name)).key,
                                set(paths))
            data = path.read_bytes() if text is None else text.encode("utf-8")
            key = name if name == ENTRY else _hashed(name, data)
            built[name] = SiteFile(key, path, text, REVALIDATE if name == ENTRY else IMMUTABLE)
        return built[name]

    for name in paths:
        build(name, ())
    return sorted(built.values(), key=lambda file: file.key)


def _rewrite(name: str, text: str, key_of, names: set[str]) -> str:
    here = posixpath.dirname(name)

    def replace(match: re.Match) -> str:
        target = posixpath.normpath(posixpath.join(here, match["path"]))
        if target not in names or target == ENTRY:
            return match[0]
        prefix = "./" if match["path"].startswith("./") else ""
        relative = posixpath.relpath(key_of(target), here or ".")
        return f"{match['quote']}{prefix}{relative}{match['quote']}"

    return QUOTED_PATH.sub(replace, text)


def _hashed(name: str, data: bytes) -> str:
    stem, suffix = posixpath.splitext(name)
    return f"{stem}.{hashlib.sha256(data).hexdigest()[:HASH_LENGTH]}{suffix}"
