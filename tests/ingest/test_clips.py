"""Evidence clips cut by real ffmpeg: the first frame is the one asked for, the length is to the frame."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest

from evidence.clips import cut_points
from evidence.errors import InvalidInput
from evidence.models import Item
from ingest.clips import cut, reencode_args
from ingest.samples import make_clip
from tests.media import closest_frame, gray_frames, streams


def _cut(src: Path, out: Path, start: float, end: float, stem: str = "clip", audio: bool = True) -> Path:
    made, path = cut(src, out, stem, start, end, audio, ffmpeg_bin="ffmpeg", timeout=120)
    assert made.method == "reencode" and made.extension == "mp4" and path.exists()
    return path


@pytest.fixture(scope="module")
def ntsc(tmp_path_factory) -> Path:
    """29.97 fps: frame times are not whole microseconds, so rounding must not drop the first frame."""
    return make_clip(tmp_path_factory.mktemp("ntsc") / "ntsc.mp4", seconds=4, fps="30000/1001", extra=["-g", "1000"])


@pytest.mark.parametrize(
    ("name", "fps", "start", "end"),
    [
        ("sparse", 25, 1.0, 3.0),
        ("sparse", 25, 2.5, 3.7),
        ("sparse", 25, 0.0, 0.04),
        ("sparse", 25, 3.96, 4.0),
        ("sparse", 25, 1.01, 1.05),
        ("ntsc", 30000 / 1001, 2.5, 3.7),
        ("ntsc", 30000 / 1001, 1.0, 3.0),
    ],
)
def test_a_clip_starts_and_ends_on_the_requested_frames(clips, ntsc, tmp_path, name, fps, start, end):
    """The sources have one keyframe, at 0 s: a stream copy would start there, not at the in point."""
    src = ntsc if name == "ntsc" else clips[name]
    cut_start, cut_end = cut_points(Item(fps=fps, duration_s=4.0), start, end)
    first, stop = math.ceil(start * fps - 1e-3), math.ceil(end * fps - 1e-3)  # the frames at or after
    assert (cut_start, cut_end) == (first / fps, stop / fps)
    path = _cut(src, tmp_path, cut_start, cut_end)
    source, frames = gray_frames(src), gray_frames(path)
    assert [closest_frame(f, source) for f in frames] == list(range(first, stop)), "each frame once, in order"
    facts = streams(path)
    assert float(facts["video"]["start_time"]) == 0 and int(facts["video"]["nb_read_frames"]) == stop - first
    assert abs(float(facts["video"]["duration"]) - (cut_end - cut_start)) < 1e-3
    assert abs(float(facts["audio"]["start_time"])) < 1e-6, "audio starts with the picture"
    assert abs(float(facts["audio"]["duration"]) - (cut_end - cut_start)) <= 1024 / 48000, "within one AAC frame"


def test_cut_points_stay_inside_the_recording():
    item = Item(fps=25.0, duration_s=4.0)
    assert cut_points(item, 2.52, 3.0) == (2.52, 3.0), "float noise (2.52 * 25 = 62.99…) moves nothing"
    assert cut_points(item, 3.88, 4.001) == (3.88, 4.0), "the out point clamped to the last frame"
    with pytest.raises(InvalidInput, match="no whole frame"):
        cut_points(item, 3.961, 4.001)
    assert cut_points(Item(fps=None, duration_s=1.0), 0.5, 0.6) == (0.52, 0.6), "25 fps when unknown"


def test_the_same_request_gives_the_same_bytes(clips, tmp_path):
    one = _cut(clips["gop"], tmp_path, 1.32, 2.92, "one")
    two = _cut(clips["gop"], tmp_path, 1.32, 2.92, "two")
    assert hashlib.sha256(one.read_bytes()).hexdigest() == hashlib.sha256(two.read_bytes()).hexdigest()


def test_odd_sizes_and_silent_sources_are_cut(tmp_path):
    src = make_clip(tmp_path / "odd.avi", codec="mjpeg", size="161x121", seconds=1, audio=False)
    path = _cut(src, tmp_path, 0.2, 0.6, audio=False)
    facts = streams(path)
    assert set(facts) == {"video"} and int(facts["video"]["nb_read_frames"]) == 10


def test_clip_arguments_seek_accurately_and_write_bit_exactly():
    args = reencode_args(Path("in.avi"), Path("out.mp4"), 2.5, 4.5, audio=False)
    assert args[args.index("-ss") + 1] == "2.500000" and args.index("-ss") < args.index("-i")
    assert args[args.index("-t") + 1] == "2.000000" and "-c:v" in args and "libx264" in args
    assert "aac" not in args and "+bitexact" in args and args[args.index("-threads") + 1] == "2"
    assert "copy" not in args, "no stream copy: it would start at a keyframe"
    ntsc = reencode_args(Path("in.mp4"), Path("out.mp4"), 1001 / 30000, 1, audio=True)
    assert ntsc[ntsc.index("-ss") + 1] == "0.033366", "rounded down: the frame at 0.0333667 s is kept"
