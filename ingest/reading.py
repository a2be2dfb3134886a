"""Giving ffprobe and ffmpeg an original to read, without downloading it where they can do without.

``store.tool_input`` gives the folder store's file itself, or on S3 a short-lived presigned GET URL
that ffmpeg reads with ranged requests (its http protocol seeks like a file: the MP4 index at the
end, ``-ss`` seeks for posters and clips). Every tool the workers run on an original reads a URL:
ffprobe (probe), ffmpeg's remux and transcode (proxy), the poster grab and the clip cut. A URL
input gets ``-rw_timeout`` (a stalled store fails the read instead of hanging until the tool's own
timeout) and reconnects on network errors.

Fallback: when a run on the URL fails, the original is downloaded to staging (``store.local_path``)
and the tool runs again on the copy. Any failure counts, not only network ones: ffmpeg reports an
expired or refused URL, a reset connection and a truncated file alike as a failed run, and a
verdict recorded on evidence ("corrupt", "cannot be remuxed") must come from the bytes themselves,
so only a run on the local copy may give one. The outputs are the same either way (same tool, same
arguments but the input; clips are bit-exact).

A presigned URL is a bearer credential: it is never logged nor recorded. Tool error text is
redacted (``redact``) and custody records name the object key in its place (``portable_args``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from evidence.errors import MediaError, ToolTimeout
from evidence.objectstore import ObjectStore, is_url

log = logging.getLogger(__name__)

T = TypeVar("T")

# a URL stays valid this long after the tool's own timeout: ffmpeg makes range requests until it ends
URL_MARGIN_S = 300.0
# no byte from the store for this long: ffmpeg's read fails (and the job falls back to a download)
STALL_S = 30.0
URL_PATTERN = re.compile(r"https?://[^\s'\"]*[^\s'\":,.;]")  # not the punctuation after it


def input_options(src: str | Path) -> dict[str, int]:
    """ffmpeg/ffprobe input options for reading ``src``: none for a file, time-outs and reconnects for a URL."""
    if not is_url(str(src)):
        return {}
    return {
        "rw_timeout": int(STALL_S * 1_000_000),  # microseconds
        "reconnect": 1,
        "reconnect_on_network_error": 1,
        "reconnect_delay_max": 2,  # seconds: a short blip is retried, a dead store fails fast
    }


def option_args(src: str | Path) -> list[str]:
    """``input_options`` as command-line arguments, to go before ``-i``."""
    return [part for name, value in input_options(src).items() for part in (f"-{name}", str(value))]


def redact(text: str) -> str:
    """``text`` with any URL in it replaced: tool errors quote their input."""
    return URL_PATTERN.sub("<presigned URL>", text)


def portable_args(args: list[str], source_key: str) -> list[str]:
    """Tool arguments for the custody record: the input (file path, download or presigned URL) is
    recorded as the object key it was read from, staging outputs as ``<output>``."""
    return [
        source_key
        if is_url(a) or a.endswith(".get") or "/originals/" in a
        else "<output>"
        if "/.staging/" in a or "/s3-staging/" in a
        else a
        for a in args
    ]


def run_on(
    store: ObjectStore,
    key: str,
    timeout_s: float,
    run: Callable[[str], T],
    accept: Callable[[T], bool] = lambda _: True,
) -> T:
    """``run(input)`` on the object at ``key``: on its URL when the store gives one, on a downloaded
    copy when that fails (or ``accept`` turns the URL run's result down); its result.

    ``timeout_s`` is the tool's timeout (the URL must outlive it). A ToolTimeout is not retried here:
    the URL read has its own stall timeout, so a run that still overruns is the tool's, and the job
    is retried by the worker.
    """
    src = store.tool_input(key, timeout_s + URL_MARGIN_S)
    if not is_url(src):
        return run(src)
    try:
        result = run(src)
    except ToolTimeout:
        raise
    except MediaError as exc:
        log.warning("reading %s through a presigned URL failed (%s); downloading it", key, redact(str(exc)))
    else:
        if accept(result):
            return result
        log.info("%s: the run on the presigned URL is checked on a downloaded copy", key)
    with store.local_path(key) as path:
        return run(str(path))
