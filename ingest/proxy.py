"""Browser-playable proxies and poster frames.

Argument lists are built by small pure functions with ffmpeg-python (tested
without running ffmpeg); ``make_proxy`` runs them with a timeout. Most
recorders already write H.264 yuv420p + AAC, which is remuxed without
re-encoding; anything else is transcoded to H.264 at most ``transcode_height``.
The input is a file or a presigned URL (ingest/reading.py), which gets its read options.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from evidence.errors import MediaError
from ingest.probe import MediaInfo
from ingest.reading import input_options
from ingest.tools import run_tool

BROWSER_AUDIO = {None, "aac"}
GLOBAL = ["-hide_banner", "-nostdin", "-y", "-loglevel", "error"]


@dataclass(frozen=True)
class ProxyProfile:
    max_height: int = 1080  # remux only at or below this height
    transcode_height: int = 720
    preset: str = "veryfast"
    crf: int = 23
    audio_bitrate: str = "128k"
    threads: int = 0  # decoder and encoder threads of a transcode; 0: ffmpeg decides (EVIDENCE_TRANSCODE_THREADS)


def can_remux(info: MediaInfo, profile: ProxyProfile) -> bool:
    """True when the original already plays in every browser and is not too tall."""
    return (
        info.video_codec == "h264"
        and info.pix_fmt == "yuv420p"
        and info.audio_codec in BROWSER_AUDIO
        and (info.height or 0) <= profile.max_height
    )


def _compile(stream: Any) -> list[str]:  # an ffmpeg-python node: the library has no types
    args = ffmpeg.compile(stream, cmd="ffmpeg")
    return args[1:]


def remux_args(src: str | Path, dst: Path) -> list[str]:
    """Copy the first video and audio streams into an MP4 with the index at the front."""
    inp = ffmpeg.input(str(src), **input_options(src))
    out = ffmpeg.output(inp["v:0"], inp["a:0?"], str(dst), c="copy", movflags="+faststart", f="mp4")
    return GLOBAL + _compile(out)


def transcode_args(src: str | Path, dst: Path, info: MediaInfo, profile: ProxyProfile) -> list[str]:
    """H.264 yuv420p at most ``transcode_height`` lines, AAC audio, +faststart; ``threads`` bounds both codecs."""
    # -threads before -i bounds the decoder, after it the encoder: both, else the other still fans out
    bound = {"threads": profile.threads} if profile.threads else {}
    inp = ffmpeg.input(str(src), **input_options(src), **bound)
    height = min(profile.transcode_height, profile.max_height, info.height or profile.transcode_height)
    height -= height % 2
    video = inp["v:0"].filter("scale", -2, height).filter("format", "yuv420p")
    streams = [video] + ([inp["a:0"]] if info.audio_codec else [])
    options = {
        "c:v": "libx264",
        "preset": profile.preset,
        "crf": profile.crf,
        **bound,
        "movflags": "+faststart",
        "f": "mp4",
    }
    if info.audio_codec:
        options.update({"c:a": "aac", "b:a": profile.audio_bitrate})
    # the scale filter has threads of its own too
    graph = ["-filter_complex_threads", str(profile.threads)] if profile.threads else []
    return GLOBAL + graph + _compile(ffmpeg.output(*streams, str(dst), **options))


def poster_args(src: str | Path, dst: Path, info: MediaInfo) -> list[str]:
    """One JPEG frame from a second in (or the middle of a shorter clip), at most 360 lines."""
    at = min(1.0, (info.duration_s or 0) / 2)
    inp = ffmpeg.input(str(src), ss=f"{at:.3f}", **input_options(src))
    frame = inp["v:0"].filter("scale", -2, "min(360,ih)")
    return GLOBAL + _compile(ffmpeg.output(frame, str(dst), vframes=1, f="image2", **{"q:v": 3}))


@dataclass(frozen=True)
class ProxyResult:
    method: str  # "remux" or "transcode"
    args: list[str]
    fallback_from: str | None = None


def make_proxy(
    src: str | Path,
    dst: Path,
    info: MediaInfo,
    profile: ProxyProfile,
    *,
    ffmpeg_bin: str,
    timeout: float,
    transcode: bool,
) -> ProxyResult:
    """Write a proxy of ``src`` to ``dst``; remux when possible, else (or on failure) transcode."""
    if info.video_codec is None:
        raise MediaError("no video stream to make a proxy from")
    fallback_from = None
    if can_remux(info, profile):
        args = [ffmpeg_bin] + remux_args(src, dst)
        try:
            run_tool(args, timeout)
            return ProxyResult("remux", args)
        except MediaError as exc:
            fallback_from = f"remux failed: {exc}"
    if not transcode:
        raise MediaError("proxy needs a transcode and transcoding is off (EVIDENCE_TRANSCODING=false)")
    args = [ffmpeg_bin] + transcode_args(src, dst, info, profile)
    run_tool(args, timeout)
    return ProxyResult("transcode", args, fallback_from)


def make_poster(src: str | Path, dst: Path, info: MediaInfo, *, ffmpeg_bin: str, timeout: float) -> list[str]:
    args = [ffmpeg_bin] + poster_args(src, dst, info)
    run_tool(args, timeout)
    if not dst.exists() or dst.stat().st_size == 0:
        raise MediaError("ffmpeg wrote no poster frame")
    return args
