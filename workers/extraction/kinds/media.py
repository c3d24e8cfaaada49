"""Audio and video: duration, container, codecs, bit rate, sample rate and
channels, width, height and frame rate, creation time and common tags, by
MediaInfo (pymediainfo, whose wheel bundles libmediainfo).

MediaInfo reads from the ranged reader and asks to seek where a container
keeps its index: an MP4 whose `moov` follows its `mdat` is read at the end,
by range, not scanned. Why MediaInfo rather than mutagen or hachoir, with
the bytes each read: docs/kinds.md.

Sniffing knows the containers; what the container holds decides the kind:
`video` when there is a video track, else `audio`.
"""

from __future__ import annotations

import functools
import math
import re

from workers.errors import FileRejected
from workers.extraction.limits import ExtractBudget, MiB
from workers.extraction.registry import Source, extractor
from workers.extraction.sniff import Magic

_MAX_TEXT_CHARS = 256
_UTC = re.compile(r"(?:UTC )?(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.\d+)?(?: UTC)?")
# How far MediaInfo reads past the headers to confirm what they say (0 to 1):
# at 0 it trusts them, and a 200 MB MP3 costs its first block.
_PARSE_SPEED = 0
# MediaInfo's name for a container, as a MIME type: what the bytes are, past
# what the magic number alone could say (WebM and Matroska share theirs).
_CONTAINERS = {
    ("MPEG-4", False): "audio/mp4", ("MPEG-4", True): "video/mp4", ("QuickTime", True): "video/quicktime",
    ("WebM", False): "audio/webm", ("WebM", True): "video/webm",
    ("Matroska", False): "audio/x-matroska", ("Matroska", True): "video/x-matroska",
    ("Ogg", False): "audio/ogg", ("Ogg", True): "video/ogg",
}


@functools.cache
def mediainfo():
    """pymediainfo's MediaInfo, with libmediainfo loaded (by ctypes, on first use)."""
    from pymediainfo import MediaInfo

    MediaInfo.can_parse()
    return MediaInfo


def _mp4(brand: bytes, mime: str) -> Magic:
    # ISO/IEC 14496-12 `ftyp`: the major brand follows the box type.
    return Magic(mime, {4: b"ftyp", 8: brand})


@extractor(
    "video", "audio",
    signatures=(
        *(_mp4(brand, "video/mp4") for brand in (b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42",
                                                  b"avc1", b"M4V ", b"dash", b"mmp4", b"f4v ", b"MSNV", b"XAVC")),
        *(_mp4(brand, "audio/mp4") for brand in (b"M4A ", b"M4B ", b"M4P ", b"F4A ")),
        _mp4(b"qt  ", "video/quicktime"),
        *(_mp4(brand, "video/3gpp") for brand in (b"3gp4", b"3gp5", b"3gp6", b"3g2a")),
        # QuickTime files older than `ftyp` open with their first atom.
        *(Magic("video/quicktime", {4: atom}) for atom in (b"moov", b"mdat", b"wide")),
        Magic("video/x-matroska", {0: b"\x1aE\xdf\xa3"}),
        Magic("video/x-msvideo", {0: b"RIFF", 8: b"AVI "}),
        Magic("audio/mpeg", {0: b"ID3"}),
        # MPEG audio frame sync (MPEG-1/2 layer III, then ADTS AAC).
        *(Magic("audio/mpeg", {0: sync}) for sync in (b"\xff\xfb", b"\xff\xfa", b"\xff\xf3", b"\xff\xf2", b"\xff\xe3")),
        *(Magic("audio/aac", {0: sync}) for sync in (b"\xff\xf1", b"\xff\xf9")),
        Magic("audio/wav", {0: b"RIFF", 8: b"WAVE"}),
        Magic("audio/aiff", {0: b"FORM", 8: b"AIFF"}),
        Magic("audio/flac", {0: b"fLaC"}),
        Magic("audio/ogg", {0: b"OggS"}),
    ),
    # MediaInfo holds what it read of the headers; its reads go through the
    # reader's block cache.
    budget=ExtractBudget(fetch_bytes=8 * MiB, memory_bytes=128 * MiB),
    library=mediainfo,
)
def describe(source: Source) -> dict:
    parsed = mediainfo().parse(source.stream, parse_speed=_PARSE_SPEED)
    source.deadline.check()
    general = next(iter(parsed.general_tracks), None)
    video = next(iter(parsed.video_tracks), None)
    audio = next(iter(parsed.audio_tracks), None)
    if general is None or general.format is None or (video is None and audio is None):
        raise FileRejected("corrupt", "MediaInfo found no audio or video track in it")
    if _number(general.duration) is None and (video is None or _number(video.width) is None):
        raise FileRejected("corrupt", "MediaInfo read neither a duration nor a picture size in it")
    return {
        "kind": "video" if video is not None else "audio",
        "sniffedType": _refined(source.sniffed.mime, general.format, video is not None),
        "container": _text(general.format),
        "durationSeconds": _seconds(general.duration),
        "bitrate": _number(general.overall_bit_rate),
        "creationTime": _created(general),
        "title": _text(general.title or general.track_name),
        "artist": _text(general.performer or general.artist),
        "album": _text(general.album),
        "audio": audio and {
            "codec": _text(audio.format),
            "sampleRate": _number(audio.sampling_rate),
            "channels": _number(audio.channel_s),
            "bitrate": _number(audio.bit_rate),
        },
        "video": video and {
            "codec": _text(video.format),
            "width": _number(video.width),
            "height": _number(video.height),
            "frameRate": _number(video.frame_rate, float),
        },
    }


def _refined(sniffed: str, container: str, has_video: bool) -> str:
    # MediaInfo calls QuickTime and 3GPP files MPEG-4 (their profile names them).
    if sniffed in ("video/quicktime", "video/3gpp"):
        return sniffed
    return _CONTAINERS.get((container, has_video), sniffed)


def _created(general) -> str | None:
    """When it was recorded, as the container says: ISO 8601 where MediaInfo
    gives a UTC time ("2024-05-17 10:42:00 UTC"), else as tagged ("2024").
    MP4 files that never had a date say 1904-01-01 (their epoch): no date."""
    for value in (general.recorded_date, general.encoded_date, general.tagged_date):
        text = _text(value)
        if not text or "1904-01-01" in text:
            continue
        moment = _UTC.fullmatch(text)
        return f"{moment[1]}T{moment[2]}Z" if moment else text
    return None


def _seconds(milliseconds) -> float | None:
    value = _number(milliseconds, float)
    return round(value / 1000, 3) if value is not None else None


def _number(value, kind: type = int):
    """MediaInfo's first figure for a field: it writes several ("2 / 6") when a
    field differs across the parts of a stream."""
    try:
        number = float(str(value).split("/")[0].strip())
    except ValueError:
        return None
    return kind(number) if math.isfinite(number) and abs(number) < 1e15 else None


def _text(value) -> str | None:
    if value is None:
        return None
    return str(value).replace("\x00", "").strip()[:_MAX_TEXT_CHARS] or None
