import os

from evidence.skipped import Skip, SkipKind
from ingest.scan import device_serial_for, is_ignored, scan, walk
from storage_config.settings import DEFAULT_IGNORE


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


def _tree(root, rels):
    for rel in rels:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"1")


def test_litter_is_ignored_by_the_default_list_case_insensitively():
    for rel in [
        "ZFY0001/Thumbs.db",
        "ZFY0001/THUMBS.DB",
        "desktop.ini",
        "ZFY0001/~$notes.docx",
        "$RECYCLE.BIN/S-1-5/x.mp4",
        "System Volume Information/IndexerVolumeGuid",
        ".Trashes/501/a.mp4",
        ".Spotlight-V100/Store-V2/x",
        ".fseventsd/fseventsd-uuid",
    ]:
        assert is_ignored(rel, "_archive", DEFAULT_IGNORE), rel
    assert not is_ignored("ZFY0001/thumbs.mp4", "_archive", DEFAULT_IGNORE)


def test_walk_never_follows_links_and_lists_what_it_leaves(tmp_path):
    root, outside = tmp_path / "up", tmp_path / "outside"
    _tree(root, ["ZFY0001/a.mp4", "ZFY0001/Thumbs.db", "$RECYCLE.BIN/x.mp4", "ZFY0002/b.mp4.part"])
    _tree(outside, ["secret.mp4", "deep/c.mp4"])
    (root / "ZFY0001" / "to-file.mp4").symlink_to(outside / "secret.mp4")
    (root / "ZFY0003").symlink_to(outside)  # a folder outside the upload point
    (root / "ZFY0001" / "loop").symlink_to(root / "ZFY0001" / "loop")  # a link to itself
    (root / "ZFY0002" / "up").symlink_to(root)  # a folder loop
    os.mkfifo(root / "ZFY0002" / "pipe.mp4")
    odd = os.fsdecode(b"ZFY0002/\xff\n.mp4")
    (root / odd).write_bytes(b"1")
    found = list(walk(root, "_archive", DEFAULT_IGNORE))
    files = sorted(p.relative_to(root).as_posix() for p in found if not isinstance(p, Skip))
    assert files == sorted(["ZFY0001/a.mp4", odd])
    skips = {s.rel_path: s for s in found if isinstance(s, Skip)}
    assert {k: s.kind for k, s in skips.items()} == {
        "$RECYCLE.BIN": SkipKind.IGNORED,
        "ZFY0001/Thumbs.db": SkipKind.IGNORED,
        "ZFY0001/loop": SkipKind.LINK,
        "ZFY0001/to-file.mp4": SkipKind.LINK,
        "ZFY0002/b.mp4.part": SkipKind.IGNORED,
        "ZFY0002/pipe.mp4": SkipKind.SPECIAL,
        "ZFY0002/up": SkipKind.LINK,
        "ZFY0003": SkipKind.LINK,
    }
    assert str(outside / "secret.mp4") in skips["ZFY0001/to-file.mp4"].reason
    assert "FIFO" in skips["ZFY0002/pipe.mp4"].reason
    assert "litter" in skips["ZFY0001/Thumbs.db"].reason and "folder" in skips["$RECYCLE.BIN"].reason
    assert all(p.exists() or p.is_symlink() for p in [root / "ZFY0001/Thumbs.db", root / "ZFY0001/loop"])
