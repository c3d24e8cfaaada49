"""The dashboard's words for audio and video, run in Node as the browser runs
the module (.ci/run installs Node where it is missing): durations as a player shows them (3:07)."""

import json
import subprocess
from pathlib import Path

FORMAT_JS = Path(__file__).resolve().parents[2] / "web" / "format.js"


def run(expression: str):
    script = f'import * as f from "{FORMAT_JS.as_uri()}"; console.log(JSON.stringify({expression}));'
    done = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_playing_times_read_as_a_player_shows_them():
    assert run("[187, 5, 59.6, 3723.4, -1].map(f.formatPlayingTime)") == ["3:07", "0:05", "1:00", "1:02:03", ""]


def test_a_video_is_described_in_words():
    video = {"kind": "video", "container": "MPEG-4", "durationSeconds": 187, "bitrate": 128708,
             "video": {"codec": "AVC", "width": 320, "height": 240, "frameRate": 25},
             "audio": {"codec": "AAC", "sampleRate": 48000, "channels": 2}, "title": "Holiday"}
    assert run(f"f.fieldsOf({json.dumps(video)})") == [
        ["Duration", "3:07"], ["Container", "MPEG-4"], ["Video", "AVC, 320 × 240 px, 25 fps"],
        ["Audio", "AAC, 48 kHz, stereo"], ["Bit rate", "129 kb/s"], ["Title", "Holiday"]]
    assert run(f"f.describe({json.dumps(video)})") == "MPEG-4, 320×240, 3:07"


def test_a_pdf_says_why_it_has_no_preview():
    pdf = {"kind": "pdf", "pages": 2, "encrypted": True, "preview": "none: encrypted"}
    assert ["Preview", "none: encrypted"] in run(f"f.fieldsOf({json.dumps(pdf)})")


def test_an_exif_orientation_reads_in_words_not_as_its_tag_number():
    assert run("[1, 3, 6, 8, 9, null].map(f.orientationOf)") == [
        "Horizontal (normal)", "Rotate 180", "Rotate 90 CW", "Rotate 270 CW", "unknown (9)", None]
    photo = {"kind": "heif", "width": 4032, "height": 3024, "format": "HEIF", "exif": {"orientation": 6}}
    assert ["Orientation", "Rotate 90 CW"] in run(f"f.fieldsOf({json.dumps(photo)})")
