"""What ffprobe says of a file: container, codecs, size, rate, duration, creation_time."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from evidence.errors import MediaError
from ingest.reading import option_args
from ingest.tools import run_tool


@dataclass(frozen=True)
class MediaInfo:
    container: str | None
    video_codec: str | None
    audio_codec: str | None
    pix_fmt: str | None
    width: int | None
    height: int | None
    fps: float | None
    duration_s: float | None
    creation_time: str | None

    def as_dict(self) -> dict:
        return asdict(self)


def _rate(text: str | None) -> float | None:
    try:
        value = float(Fraction(text)) if text else None
    except (ValueError, ZeroDivisionError):
        return None
    return round(value, 3) if value else None


def _float(text: str | float | None) -> float | None:
    if text is None:
        return None
    try:
        return round(float(text), 3)
    except (TypeError, ValueError):
        return None


def parse_probe(data: dict) -> MediaInfo:
    """MediaInfo from ffprobe's JSON; MediaError when it holds no decodable stream."""
    streams = data.get("streams") or []
    fmt = data.get("format") or {}
    video = next((s for s in streams if s.get("codec_type") == "video" and s.get("codec_name")), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio" and s.get("codec_name")), None)
    main = video if video is not None else audio
    if main is None:
        raise MediaError("no audio or video stream found")
    tags = fmt.get("tags") or {}
    creation = tags.get("creation_time") or ((video or {}).get("tags") or {}).get("creation_time")
    duration = _float(fmt.get("duration")) or _float(main.get("duration"))
    return MediaInfo(
        container=fmt.get("format_name"),
        video_codec=video.get("codec_name") if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        pix_fmt=video.get("pix_fmt") if video else None,
        width=video.get("width") if video else None,
        height=video.get("height") if video else None,
        fps=_rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate")) if video else None,
        duration_s=duration,
        creation_time=creation,
    )


def probe_args(src: str | Path, ffprobe: str = "ffprobe") -> list[str]:
    """The ffprobe command for a file or a (presigned) URL."""
    return [ffprobe, "-v", "error", *option_args(src), "-show_format", "-show_streams", "-of", "json", str(src)]


def probe(path: str | Path, ffprobe: str = "ffprobe", timeout: float = 60) -> MediaInfo:
    """Run ffprobe on a file or URL (killed after ``timeout``) and parse what it found."""
    run = run_tool(
        probe_args(path, ffprobe),
        timeout=timeout,
    )
    try:
        data = json.loads(run.stdout.decode("utf-8", "replace"))
    except json.JSONDecodeError as exc:
        raise MediaError(f"ffprobe gave unreadable output: {exc}") from exc
    if run.stderr.strip() and not data.get("streams"):
        raise MediaError("ffprobe: " + run.stderr.decode("utf-8", "replace").strip().splitlines()[-1])
    return parse_probe(data)
