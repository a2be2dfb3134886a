"""Real clips for the tests, made by ffmpeg (through ingest.samples.make_clip)."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from ingest.samples import make_clip

CREATION = datetime(2026, 11, 1, 8, 0, 0, tzinfo=UTC)
MJPEG_NAME = "ZFY0003_20261101_163000.avi"  # 16:30 in Asia/Shanghai = 08:30 UTC


def build_library(root: Path) -> dict[str, Path]:
    """Every kind of clip the suite needs, made once per session."""
    root.mkdir(parents=True, exist_ok=True)
    clips = {
        "h264": make_clip(root / "h264.mp4", creation_time=CREATION, seconds=2),
        "h265": make_clip(root / "h265.mp4", codec="h265", creation_time=CREATION, seconds=2),
        "mjpeg": make_clip(root / MJPEG_NAME, codec="mjpeg", seconds=2),
        "tall": make_clip(root / "tall.mp4", size="320x480", creation_time=CREATION, seconds=1),
        # a keyframe every second, so clip boundaries can be checked against the GOP
        "gop": make_clip(
            root / "gop.mp4",
            seconds=6,
            creation_time=CREATION,
            extra=["-g", "25", "-keyint_min", "25", "-sc_threshold", "0"],
        ),
        # one keyframe, at 0 s: a clip from 1.0 s must not start there
        "sparse": make_clip(root / "sparse.mp4", seconds=4, creation_time=CREATION, extra=["-g", "1000"]),
    }
    # A truncated MP4: the index (moov) sits at the end and is cut off.
    whole = make_clip(root / "whole-for-truncation.mp4", seconds=2, creation_time=CREATION)
    data = whole.read_bytes()
    clips["truncated"] = root / "truncated.mp4"
    clips["truncated"].write_bytes(data[: len(data) // 2])
    clips["zero"] = root / "zero.mp4"
    clips["zero"].write_bytes(b"")
    return clips


def drop(src: Path, upload_point: Path, rel: str) -> Path:
    """Put a copy of ``src`` into an upload point, as docking software would."""
    dst = upload_point / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def gray_frames(path: Path, size: tuple[int, int] = (32, 24)) -> list[bytes]:
    """Every video frame of ``path``, decoded and shrunk to a small grey picture (for comparing frames)."""
    w, h = size
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-nostdin",
            "-i",
            str(path),
            "-map",
            "0:v:0",
            "-vf",
            f"scale={w}:{h}:flags=area,format=gray",
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-",
        ],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    return [raw[i : i + w * h] for i in range(0, len(raw), w * h)]


def closest_frame(frame: bytes, frames: list[bytes]) -> int:
    """The index of the frame in ``frames`` that looks most like ``frame``."""
    return min(range(len(frames)), key=lambda i: sum(abs(a - b) for a, b in zip(frame, frames[i], strict=False)))


def streams(path: Path) -> dict[str, dict]:
    """ffprobe's view of each stream type: start time, duration, frame count (counted by decoding)."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_type,start_time,duration,nb_read_frames",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}
