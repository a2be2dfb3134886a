from ingest.scan import device_serial_for, is_ignored, scan


def test_ignore_rules():
    assert is_ignored(".hidden.mp4", "_archive")
    assert is_ignored("ZFY0001/.sync/x.mp4", "_archive")
    assert is_ignored("ZFY0001/a.mp4.part", "_archive")
    assert is_ignored("ZFY0001/a.TMP", "_archive")
    assert is_ignored("ZFY0001/a.mp4~", "_archive")
    assert is_ignored("_archive/ZFY0001/a.mp4", "_archive")
    assert not is_ignored("ZFY0001/_archive/a.mp4", "_archive")
    assert not is_ignored("ZFY0001/执法记录 01.mp4", "_archive")


def test_device_serial_is_the_first_folder():
    assert device_serial_for("ZFY0001/a.mp4") == "ZFY0001"
    assert device_serial_for("ZFY0001/2026/11/a.mp4") == "ZFY0001"
    assert device_serial_for("a.mp4") is None


def test_scan_walks_deep_and_skips_ignored(tmp_path):
    for rel in ["ZFY0001/a.mp4", "ZFY0001/x/y/b.avi", ".h/c.mp4", "_archive/ZFY0001/d.mp4", "ZFY0002/e.part"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"1")
    found = sorted(p.relative_to(tmp_path).as_posix() for p in scan(tmp_path, "_archive"))
    assert found == ["ZFY0001/a.mp4", "ZFY0001/x/y/b.avi"]
