"""Proxy argument builders (pure) and the remux/transcode decision."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from evidence.errors import ConfigError, MediaError, ToolTimeout
from ingest.probe import MediaInfo, parse_probe
from ingest.proxy import ProxyProfile, can_remux, poster_args, remux_args, transcode_args
from ingest.tools import run_tool

H264 = MediaInfo("mov,mp4", "h264", "aac", "yuv420p", 1920, 1080, 30.0, 60.0, None)


@pytest.mark.parametrize(
    "change, remux",
    [
        ({}, True),
        ({"audio_codec": None}, True),
        ({"video_codec": "hevc"}, False),
        ({"pix_fmt": "yuvj420p"}, False),
        ({"pix_fmt": "yuv422p"}, False),
        ({"audio_codec": "pcm_s16le"}, False),
        ({"height": 1512, "width": 2688}, False),
    ],
)
def test_remux_only_when_browsers_already_play_it(change, remux):
    info = MediaInfo(**{**H264.__dict__, **change})
    assert can_remux(info, ProxyProfile()) is remux


def test_remux_args_copy_streams_with_faststart():
    args = remux_args(Path("in.mp4"), Path("out.mp4"))
    assert args[:3] == ["-hide_banner", "-nostdin", "-y"]
    assert ["-c", "copy"] == args[args.index("-c") : args.index("-c") + 2]
    assert "+faststart" in args and args[-1] == "out.mp4"
    assert "0:a:0?" in args  # audio optional


def test_transcode_args_cap_height_and_force_yuv420p():
    tall = MediaInfo(**{**H264.__dict__, "video_codec": "hevc", "height": 1512, "width": 2688})
    args = transcode_args(Path("in.mp4"), Path("out.mp4"), tall, ProxyProfile())
    graph = args[args.index("-filter_complex") + 1]
    assert "scale=-2:720" in graph and "format=yuv420p" in graph
    assert "libx264" in args and "aac" in args and "+faststart" in args


def test_transcode_threads_bound_decoder_filters_and_encoder():
    hevc = MediaInfo(**{**H264.__dict__, "video_codec": "hevc"})
    args = transcode_args(Path("in.mp4"), Path("out.mp4"), hevc, ProxyProfile(threads=1))
    i = args.index("-i")
    assert args[i - 2 : i] == ["-threads", "1"]  # before the input: the decoder's
    assert args.count("-threads") == 2 and args[args.index("-threads", i) + 1] == "1"  # after it: x264's
    assert args[args.index("-filter_complex_threads") + 1] == "1"
    assert args.index("-filter_complex_threads") < i and args[-1] == "out.mp4"


def test_transcode_threads_zero_leaves_ffmpeg_its_choice():
    hevc = MediaInfo(**{**H264.__dict__, "video_codec": "hevc"})
    args = transcode_args(Path("in.mp4"), Path("out.mp4"), hevc, ProxyProfile())
    assert "-threads" not in args and "-filter_complex_threads" not in args


def test_transcode_threads_setting_is_checked(make_settings, monkeypatch):
    monkeypatch.setenv("EVIDENCE_TRANSCODE_THREADS", "2")
    assert make_settings().transcode_threads == 2
    monkeypatch.setenv("EVIDENCE_TRANSCODE_THREADS", "-1")
    with pytest.raises(ConfigError, match="EVIDENCE_TRANSCODE_THREADS"):
        make_settings()


def test_transcode_without_audio_maps_no_audio():
    silent = MediaInfo(**{**H264.__dict__, "video_codec": "mjpeg", "audio_codec": None, "height": 480})
    args = transcode_args(Path("in.avi"), Path("out.mp4"), silent, ProxyProfile())
    assert "aac" not in args and "scale=-2:480" in args[args.index("-filter_complex") + 1]


def test_poster_from_the_middle_of_short_clips():
    short = MediaInfo(**{**H264.__dict__, "duration_s": 0.8})
    assert "0.400" in poster_args(Path("i"), Path("o.jpg"), short)


def test_parse_probe_picks_first_streams_and_rates():
    info = parse_probe(
        {
            "format": {
                "format_name": "mov,mp4",
                "duration": "2.000",
                "tags": {"creation_time": "2026-11-01T08:00:00Z"},
            },
            "streams": [
                {"codec_type": "data"},
                {
                    "codec_type": "video",
                    "codec_name": "h264",
                    "pix_fmt": "yuv420p",
                    "width": 1920,
                    "height": 1080,
                    "avg_frame_rate": "30000/1001",
                },
                {"codec_type": "audio", "codec_name": "aac"},
            ],
        }
    )
    assert (info.video_codec, info.audio_codec, info.fps, info.duration_s) == ("h264", "aac", 29.97, 2.0)
    assert info.creation_time == "2026-11-01T08:00:00Z"


def test_parse_probe_without_streams_is_a_media_error():
    with pytest.raises(MediaError):
        parse_probe({"format": {}, "streams": []})


def test_tools_are_killed_on_timeout():
    import time

    start = time.monotonic()
    with pytest.raises(ToolTimeout):
        run_tool(
            ["ffmpeg", "-hide_banner", "-re", "-f", "lavfi", "-i", "testsrc2=duration=30", "-f", "null", "-"], timeout=1
        )
    assert time.monotonic() - start < 5


def test_tool_failure_is_a_media_error_with_the_reason(tmp_path):
    bad = tmp_path / "x.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(MediaError, match="ffprobe failed"):
        run_tool(["ffprobe", "-v", "error", str(bad)], timeout=10)


def test_a_tool_dies_with_the_process_that_ran_it(processes):
    """A worker SIGKILLed with its process group (the OOM killer, kill -9) takes its ffmpeg with it: the tool
    runs in a session of its own, so without the parent-death signal it ran on for nobody."""
    root = Path(__file__).resolve().parents[2]
    started = "import threading; from ingest.tools import run_tool; " + (
        "t = threading.Thread(target=run_tool, args=(['sleep', '60'], 120)); t.start(); t.join()"
    )
    worker = processes([sys.executable, "-c", started], cwd=root, env={**os.environ, "PYTHONPATH": str(root)})

    def tools() -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == worker.pid and fields[0] != "Z":
                found.append(int(entry.name))
        return found

    deadline = time.monotonic() + 30
    while not (running := tools()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running, "the tool never started"
    (tool,) = running
    assert os.getpgid(tool) == tool != os.getpgid(worker.pid)  # a session of its own
    try:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker's process group: not the tool's
        worker.wait()
        deadline = time.monotonic() + 10
        while alive(tool) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(tool), "the tool outlived the worker that ran it"
    finally:
        if alive(tool):
            os.kill(tool, signal.SIGKILL)  # not left behind when this fails


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
