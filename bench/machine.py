"""What both benchmarks need from the machine: settling it between runs, and CPU accounting.

On this VM the kernel hands freed RAM back to the host in batches about 2 s
apart (virtio-balloon free page reporting); writing into RAM handed back costs
~2 s/GB, so a timed run must not start while that is going on (see
docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

REPORTED_KIB = Path("/sys/module/page_reporting/parameters/reported_kib")


def log(msg: str) -> None:
    print(msg, flush=True)


def _reported_kib() -> int | None:
    try:
        return int(REPORTED_KIB.read_text())
    except (OSError, ValueError):
        return None


def settle(wait: bool = True) -> None:
    """Flush dirty pages; where the kernel reports free RAM to the host, wait until it has stopped."""
    os.sync()
    last = _reported_kib()
    if last is None or not wait:
        return
    deadline = time.monotonic() + 15
    time.sleep(2.2)
    while time.monotonic() < deadline:
        now = _reported_kib()
        if now == last:
            return
        last = now
        time.sleep(2.2)


def begin(
    parser: argparse.ArgumentParser, tools: tuple[str, ...], out: Path | None, prefix: str, machine: str
) -> tuple[Path, float]:
    """Check the tools, make the working folder, log the machine and its load: (folder, 1-min load)."""
    for tool in tools:
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not on PATH")
    if out:
        out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=out))
    log(f"machine: {machine}")
    load = os.getloadavg()[0]
    log(
        f"load average before: {load:.2f} (1 min)"
        + ("  -- WARNING: something else is using the CPU; numbers will be noisy" if load > 0.5 else "")
    )
    log(f"working folder: {work}")
    return work, load


def busy_cpu_s() -> float:
    """CPU seconds the whole machine spent busy (all CPUs; steal counts as busy) since boot."""
    vals = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(vals) - vals[3] - vals[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_s(children: bool = False) -> float:
    """CPU seconds of this process (and, with ``children``, of the children it waited for)."""
    t = os.times()
    return t.user + t.system + ((t.children_user + t.children_system) if children else 0.0)


def reporting_free_ram() -> bool:
    """Whether this kernel hands freed RAM back to a hypervisor (the cost ``settle`` waits out)."""
    return _reported_kib() is not None


def print_results(headers: list[str], rows: list[list]) -> int:
    """The results table (column 6 is PASS/FAIL/blank); returns the exit code: 1 if a target was missed."""
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    line = "+".join("-" * (w + 2) for w in widths)
    log("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    log("|" + line.replace("+", "|") + "|")
    for r in rows:
        log("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    failed = [r[0].strip() for r in rows if r[5] == "FAIL"]
    log("all targets met" if not failed else "targets missed: " + "; ".join(failed))
    return 1 if failed else 0


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"
