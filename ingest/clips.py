"""Cutting evidence clips with ffmpeg: stream copy from the nearest preceding keyframe where the
codec allows, otherwise a re-encode. Argument lists are pure functions; ``cut`` runs them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from evidence.errors import MediaError
from ingest.proxy import GLOBAL
from ingest.tools import run_tool

# bitexact: no encoder version or time in the file, so the same request gives the same bytes (and hash)
EXACT = {"fflags": "+bitexact", "map_metadata": -1}


@dataclass(frozen=True)
class Cut:
    method: str  # "copy" or "reencode"
    args: list[str]
    extension: str
    fallback_from: str | None = None


def container_for(container: str | None) -> tuple[str, str]:
    """(ffmpeg muxer, file extension) that can hold the source's streams unchanged."""
    names = set((container or "").split(","))
    if names & {"mp4", "mov"}:
        return "mp4", "mp4"
    if "avi" in names:
        return "avi", "avi"
    return "matroska", "mkv"


def _compile(out) -> list[str]:
    return GLOBAL + ffmpeg.compile(out, cmd="ffmpeg")[1:]


def copy_args(src: Path, dst: Path, start_s: float, end_s: float, muxer: str) -> list[str]:
    """Seek before the input (lands on the keyframe at or before start) and copy the streams."""
    inp = ffmpeg.input(str(src), ss=f"{start_s:.3f}")
    options = {"c": "copy", "t": f"{end_s - start_s:.3f}", "avoid_negative_ts": "make_zero", "f": muxer, **EXACT}
    if muxer == "mp4":
        options["movflags"] = "+faststart"
    return _compile(ffmpeg.output(inp["v:0"], inp["a:0?"], str(dst), **options))


def reencode_args(src: Path, dst: Path, start_s: float, end_s: float, audio: bool) -> list[str]:
    """Frame-accurate H.264 (visually lossless CRF 18) for codecs that cannot be stream-copied."""
    inp = ffmpeg.input(str(src), ss=f"{start_s:.3f}")
    streams = [inp["v:0"].filter("format", "yuv420p")] + ([inp["a:0"]] if audio else [])
    options = {"t": f"{end_s - start_s:.3f}", "c:v": "libx264", "preset": "veryfast", "crf": 18,
               "movflags": "+faststart", "f": "mp4", "flags:v": "+bitexact", **EXACT}
    if audio:
        options.update({"c:a": "aac", "b:a": "192k"})
    return _compile(ffmpeg.output(*streams, str(dst), **options))


def cut(src: Path, out_dir: Path, stem: str, start_s: float, end_s: float, container: str | None,
        has_audio: bool, *, ffmpeg_bin: str, timeout: float) -> tuple[Cut, Path]:
    """Cut [start_s, end_s) of ``src`` into ``out_dir``; copy first, re-encode when copy fails."""
    muxer, ext = container_for(container)
    dst = out_dir / f"{stem}.{ext}"
    args = [ffmpeg_bin] + copy_args(src, dst, start_s, end_s, muxer)
    try:
        run_tool(args, timeout)
        if dst.stat().st_size > 0:
            return Cut("copy", args, ext), dst
        failure = "stream copy wrote an empty file"
    except MediaError as exc:
        failure = f"stream copy failed: {exc}"
    dst.unlink(missing_ok=True)
    dst = out_dir / f"{stem}.mp4"
    args = [ffmpeg_bin] + reencode_args(src, dst, start_s, end_s, has_audio)
    try:
        run_tool(args, timeout)
    except BaseException:
        dst.unlink(missing_ok=True)
        raise
    return Cut("reencode", args, "mp4", failure), dst
