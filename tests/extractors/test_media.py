"""Audio and video: files made with known properties come back with exactly
those, whatever the container, and an index at the end is read by range."""

import pytest

from tests.invocation import extract

from . import files
from .test_read_bound import BOUND, SIZE

TAGS = {"title": "Analytical Engine", "artist": "Ada Lovelace", "album": "Notes"}


def test_a_wav_made_with_known_duration_and_format_comes_back_with_them(store):
    metadata = extract(store(files.wav(seconds=3.0, rate=8000, channels=2), "audio/wav")).metadata
    assert {key: metadata[key] for key in ("kind", "sniffedType", "container", "durationSeconds", "video")} == {
        "kind": "audio", "sniffedType": "audio/wav", "container": "Wave", "durationSeconds": 3.0, "video": None}
    assert metadata["audio"] == {"codec": "PCM", "sampleRate": 8000, "channels": 2, "bitrate": 8000 * 2 * 16}


@pytest.mark.parametrize(("fmt", "codec", "mime", "container", "video_codec"), [
    ("mp4", "mpeg4", "video/mp4", "MPEG-4", "MPEG-4 Visual"),
    ("mov", "mpeg4", "video/quicktime", "MPEG-4", "MPEG-4 Visual"),
    ("webm", "libvpx", "video/webm", "WebM", "VP8"),
    ("matroska", "libx264", "video/x-matroska", "Matroska", "AVC"),
])
def test_a_video_made_with_known_duration_and_dimensions_comes_back_with_them(store, fmt, codec, mime, container,
                                                                               video_codec):
    made = files.video(fmt, codec, seconds=2, size=(320, 240), rate=25, title="Holiday")
    metadata = extract(store(made, mime)).metadata
    assert (metadata["kind"], metadata["sniffedType"], metadata["container"]) == ("video", mime, container)
    assert metadata["durationSeconds"] == 2.0
    assert metadata["video"] == {"codec": video_codec, "width": 320, "height": 240, "frameRate": 25.0}
    assert metadata["title"] == "Holiday"
    assert "declaredType" not in metadata


@pytest.mark.parametrize(("fmt", "codec", "mime", "container", "audio_codec"), [
    ("mp3", "libmp3lame", "audio/mpeg", "MPEG Audio", "MPEG Audio"),
    ("ipod", "aac", "audio/mp4", "MPEG-4", "AAC"),
    ("flac", "flac", "audio/flac", "FLAC", "FLAC"),
    ("ogg", "libopus", "audio/ogg", "Ogg", "Opus"),
])
def test_audio_comes_back_with_its_codec_rate_channels_and_tags(store, fmt, codec, mime, container, audio_codec):
    metadata = extract(store(files.audio(fmt, codec, seconds=2, rate=48000, tags=TAGS), mime)).metadata
    assert (metadata["kind"], metadata["sniffedType"], metadata["container"]) == ("audio", mime, container)
    assert (metadata["audio"]["codec"], metadata["audio"]["sampleRate"], metadata["audio"]["channels"]) == (
        audio_codec, 48000, 2)
    # Encoders pad to whole frames: a few tens of milliseconds past the samples.
    assert 2.0 <= metadata["durationSeconds"] < 2.1
    assert {key: metadata[key] for key in TAGS} == TAGS
    assert metadata["video"] is None


@pytest.mark.parametrize("fmt", ["mp4", "wav", "mp3", "flac"])
def test_a_200_mb_file_is_described_from_under_1_mib_of_reads(store, caplog, fmt):
    """The MP4 has its index at the end, past 200 MB of other boxes: it is read
    there by range."""
    body, mime = files.big_media(fmt, SIZE)
    obj = store(body, mime, direct=True)
    del body
    with caplog.at_level("INFO"):
        metadata = extract(obj).metadata
    read = next(r for r in caplog.records if r.getMessage() == "Read the object")
    print(f"\n{fmt}: {read.bytesFetched} bytes in {read.rangeRequests} requests for {obj.size} bytes")
    assert read.bytesFetched <= BOUND
    if fmt == "mp4":
        assert (metadata["durationSeconds"], metadata["video"]["width"], metadata["video"]["height"]) == (2.0, 320, 240)
    else:
        assert metadata["durationSeconds"] > 1


def test_a_recording_time_comes_back_in_iso_8601_and_the_mp4_epoch_as_none(store):
    dated = extract(store(files.video(created="2024-05-17T10:42:00.000000Z"), "video/mp4")).metadata
    undated = extract(store(files.video(), "video/mp4")).metadata
    assert (dated["creationTime"], undated["creationTime"]) == ("2024-05-17T10:42:00Z", None)


def test_an_audio_file_declared_as_video_is_judged_by_its_bytes(store):
    metadata = extract(store(files.wav(), "video/mp4")).metadata
    assert (metadata["kind"], metadata["sniffedType"], metadata["declaredType"]) == ("audio", "audio/wav", "video/mp4")


@pytest.mark.parametrize(("make", "mime"), [
    (lambda: files.wav()[:20], "audio/wav"),
    (lambda: b"OggS" + bytes(100), "audio/ogg"),
    (lambda: b"ID3" + bytes(50), "audio/mpeg"),
    (lambda: b"\x1aE\xdf\xa3" + b"\xff" * 4096, "video/webm"),
])
def test_a_container_with_no_readable_track_fails_as_corrupt(rejection, make, mime):
    assert rejection(make(), mime).code == "corrupt"
