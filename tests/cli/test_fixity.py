"""`evidence fixity` as an operator (or a scheduled job) runs it."""

from __future__ import annotations

import os

from tests.cli.test_main import lines
from tests.media import drop


def test_fixity_passes_then_a_flipped_byte_exits_9_and_shows_on_the_item(cli, clips, tmp_path):
    upload = cli.home / "upload"
    other = tmp_path / "other.mp4"
    other.write_bytes(clips["h264"].read_bytes() + b"other")
    a, b = drop(clips["h264"], upload, "ZFY0001/a.mp4"), drop(other, upload, "ZFY0001/b.mp4")
    ingested = lines(cli("ingest", "--no-process", str(a), str(b)))
    ids = [line["item_id"] for line in ingested]

    clean = cli("fixity")
    assert "2 checked" in clean.stdout and "2 passed, 0 failed" in clean.stdout and "0 item(s) in alarm" in clean.stdout

    key = next(line["item"] for line in ingested if line["item_id"] == ids[1])["sha256"]
    path = cli.home / "objects" / "originals" / "sha256" / key[:2] / key[2:4] / key
    assert oct(path.stat().st_mode & 0o777) == "0o444"
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    os.chmod(path, 0o444)

    caught = cli("fixity", "--json", ok=False)
    assert caught.returncode == 9, caught.stderr
    results = {r["item_id"]: r for r in lines(caught)}
    assert results[ids[0]]["ok"] and not results[ids[0]]["alarm"]
    assert not results[ids[1]]["ok"] and results[ids[1]]["alarm"]
    assert f"fixity alarm on item(s) {ids[1]}" in caught.stderr and "1 failed" in caught.stderr

    shown = lines(cli("show", str(ids[1]), "--json"))[0]
    assert shown["fixity"]["alarm"] is True and shown["fixity"]["checked_at"].endswith("Z")
    assert lines(cli("show", str(ids[0]), "--json"))[0]["fixity"]["alarm"] is False
    log = cli("custody", "log", str(ids[1]), "--json")
    assert [e["kind"] for e in lines(log)][-2:] == ["fixity_checked", "fixity_failed"]

    # only the healthy item, by id: it passes; the other was checked just now, so --older-than skips it
    assert cli("fixity", "--item", str(ids[0])).returncode == 0
    recent = cli("fixity", "--older-than", "1")
    assert "0 checked" in recent.stdout and "1 item(s) in alarm in all" in recent.stdout
    sample = cli("fixity", "--sample", "50", "--json", ok=False)
    assert len(lines(sample)) == 1 and sample.returncode in (0, 9)
    bad = cli("fixity", "--sample", "0", ok=False)
    assert bad.returncode == 2 and "--sample" in bad.stderr

    # resolving: refused while the bytes are still wrong, done once they are right again
    still = cli("fixity", "--item", str(ids[1]), "--resolve", "looked at it", ok=False)
    assert still.returncode == 9 and "alarm stays" in still.stderr
    assert cli("fixity", "--resolve", "x", ok=False).returncode == 2
    os.chmod(path, 0o644)
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    os.chmod(path, 0o444)
    fixed = cli("fixity", "--item", str(ids[1]), "--resolve", "restored from the offsite copy")
    assert "alarm resolved" in fixed.stdout and "0 item(s) in alarm" in fixed.stdout
    assert lines(cli("show", str(ids[1]), "--json"))[0]["fixity"]["alarm"] is False
    assert lines(cli("custody", "log", str(ids[1]), "--json"))[-1]["kind"] == "fixity_resolved"
