"""Cutting evidence clips with ffmpeg: a frame-accurate re-encode of exactly the requested range.

A stream copy would have to start at a keyframe, up to a GOP before the in point, while the
record says the in point; for evidence the clip's first frame must be the one asked for, so
every clip is decoded from the keyframe before the in point and re-encoded from the in point
on. The argument list is a pure function; ``cut`` runs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from ingest.proxy import GLOBAL
from ingest.reading import input_options
from ingest.tools import run_tool

# bitexact: no encoder version or time in the file, so the same request gives the same bytes (and hash)
EXACT = {"fflags": "+bitexact", "map_metadata": -1, "flags:v": "+bitexact", "flags:a": "+bitexact"}
# x264's output depends on its thread count, which it would otherwise take from the machine's CPUs:
# fixed, the same request gives the same bytes on any machine with the same ffmpeg.
THREADS = 2


@dataclass(frozen=True)
class Cut:
    method: str  # "reencode"
    args: list[str]
    extension: str


def _seconds(value: float) -> str:
    # ffmpeg counts in microseconds; rounding down keeps a frame that starts exactly at ``value``
    # (at 30000/1001 fps, frame 1 is at 0.0333667 s: "0.033367" would drop it)
    return f"{math.floor(value * 1e6 + 1e-3) / 1e6:.6f}"


def reencode_args(src: str | Path, dst: Path, start_s: float, end_s: float, audio: bool) -> list[str]:
    """[start_s, end_s) as H.264 (visually lossless CRF 18) + AAC; the cut points are frame times
    (``evidence.clips.cut_points``), so the clip starts on the frame at ``start_s``.

    ``-ss`` before ``-i`` with transcoding seeks accurately (ffmpeg decodes from the preceding
    keyframe and drops what comes before the in point), for video and audio alike.
    """
    inp = ffmpeg.input(str(src), ss=_seconds(start_s), **input_options(src))
    # yuv420p needs even sizes: an odd one gets a black line rather than losing a line of picture
    video = inp["v:0"].filter("pad", "ceil(iw/2)*2", "ceil(ih/2)*2").filter("format", "yuv420p")
    streams = [video] + ([inp["a:0"]] if audio else [])
    options = {
        "t": _seconds(end_s - start_s),
        "c:v": "libx264",
        "preset": "veryfast",
        "crf": 18,
        "threads": THREADS,
        "movflags": "+faststart",
        "f": "mp4",
        **EXACT,
    }
    if audio:
        options.update({"c:a": "aac", "b:a": "192k"})
    return GLOBAL + ffmpeg.compile(ffmpeg.output(*streams, str(dst), **options), cmd="ffmpeg")[1:]


def cut(
    src: str | Path,
    out_dir: Path,
    stem: str,
    start_s: float,
    end_s: float,
    has_audio: bool,
    *,
    ffmpeg_bin: str,
    timeout: float,
) -> tuple[Cut, Path]:
    """Cut [start_s, end_s) of ``src`` into ``out_dir`` as an MP4."""
    dst = out_dir / f"{stem}.mp4"
    args = [ffmpeg_bin] + reencode_args(src, dst, start_s, end_s, has_audio)
    try:
        run_tool(args, timeout)
    except BaseException:
        dst.unlink(missing_ok=True)
        raise
    return Cut("reencode", args, "mp4"), dst
