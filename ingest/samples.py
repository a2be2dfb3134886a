"""Real clips made with ffmpeg: the newcomer's sample footage, and the test suite's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

from ingest.tools import run_tool

CODECS = {
    "h264": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
    "h265": ["-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-x265-params", "log-level=error"],
    "mjpeg": ["-c:v", "mjpeg", "-q:v", "5", "-pix_fmt", "yuvj420p"],
}


def make_clip(
    path: Path,
    *,
    codec: str = "h264",
    seconds: float = 2.0,
    size: str = "320x240",
    fps: int | str = 25,  # or a ratio such as "30000/1001"
    audio: bool = True,
    creation_time: datetime | None = None,
    ffmpeg: str = "ffmpeg",
    extra: list[str] | None = None,
) -> Path:
    """Write a test-pattern clip (with a tone when ``audio``) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    args = [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-y",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}:rate={fps}:duration={seconds}",
    ]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    args += CODECS[codec]
    if audio:
        args += ["-c:a", "pcm_s16le" if path.suffix.lower() == ".avi" else "aac", "-shortest"]
    args += ["-map_metadata", "-1", "-fflags", "+bitexact"]
    if creation_time is not None:
        args += ["-metadata", f"creation_time={creation_time.isoformat().replace('+00:00', 'Z')}"]
    args += (extra or []) + [str(path)]
    run_tool(args, timeout=120)
    return path


def make_samples(upload_point: Path, now: datetime, zone: tzinfo) -> list[Path]:
    """A small docking session: two recorders, an on-time and a late clip, and an H.265 one."""
    made = []
    recent = (now - timedelta(hours=2)).astimezone(UTC)
    made.append(make_clip(upload_point / "ZFY0001" / "patrol-morning.mp4", creation_time=recent, seconds=4))
    old = (now - timedelta(days=2)).astimezone(zone)
    made.append(make_clip(upload_point / "ZFY0002" / f"ZFY0002_{old:%Y%m%d_%H%M%S}.avi", codec="mjpeg", seconds=3))
    made.append(
        make_clip(upload_point / "ZFY0002" / "inspection-hevc.mp4", codec="h265", creation_time=recent, seconds=3)
    )
    return made
