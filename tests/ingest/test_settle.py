"""A file is taken only when unchanged over the settle window and closed."""

from __future__ import annotations

from ingest.settle import Settler, files_open_for_writing, open_for_writing


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_unchanged_file_is_ready_after_the_window(tmp_path):
    f = tmp_path / "a.mp4"
    f.write_bytes(b"x")
    clock = Clock()
    settler = Settler(10, clock=clock, writers=set)
    settler.observe(f)
    clock.t = 9.9
    assert settler.ready() == []
    clock.t = 10.0
    assert settler.ready() == [f]


def test_growth_restarts_the_window(tmp_path):
    f = tmp_path / "a.mp4"
    f.write_bytes(b"x")
    clock = Clock()
    settler = Settler(10, clock=clock, writers=set)
    settler.observe(f)
    for t in range(5, 60, 5):  # grows every 5 s for a minute
        clock.t = t
        with open(f, "ab") as out:
            out.write(b"more")
        assert settler.ready() == []
    clock.t = 64.9
    assert settler.ready() == []
    clock.t = 65
    assert settler.ready() == [f]


def test_a_file_open_for_writing_is_not_ready(tmp_path):
    f = tmp_path / "a.mp4"
    clock = Clock()
    with open(f, "wb") as out:
        out.write(b"x")
        out.flush()
        assert open_for_writing(f)
        settler = Settler(1, clock=clock)
        settler.observe(f)
        clock.t = 5
        assert settler.ready() == []
    assert not open_for_writing(f)
    clock.t = 6.1
    assert settler.ready() == [f]


def test_read_only_handles_do_not_count(tmp_path):
    f = tmp_path / "a.mp4"
    f.write_bytes(b"x")
    with open(f, "rb"):
        assert not open_for_writing(f)


def test_vanished_file_is_forgotten(tmp_path):
    f = tmp_path / "a.mp4"
    f.write_bytes(b"x")
    settler = Settler(0, writers=set)
    settler.observe(f)
    f.unlink()
    assert settler.ready() == [] and len(settler) == 0


def test_only_regular_files_are_tracked_never_through_a_link(tmp_path):
    import os

    real = tmp_path / "real.mp4"
    real.write_bytes(b"x")
    (tmp_path / "link.mp4").symlink_to(real)
    (tmp_path / "loop.mp4").symlink_to(tmp_path / "loop.mp4")
    os.mkfifo(tmp_path / "pipe.mp4")
    clock = Clock()
    settler = Settler(1, clock=clock, writers=set)
    for name in ("link.mp4", "loop.mp4", "pipe.mp4", "real.mp4"):
        settler.observe(tmp_path / name)  # a loop raises nothing
    clock.t = 5
    assert settler.ready() == [real]
    real.unlink()
    real.symlink_to(tmp_path / "loop.mp4")  # swapped for a link while settling
    assert settler.ready() == [] and len(settler) == 0


def test_one_look_at_the_writers_serves_a_whole_burst(tmp_path):
    files = [tmp_path / f"{n:03}.mp4" for n in range(200)]
    for f in files:
        f.write_bytes(b"x")
    looks = []

    def writers():
        looks.append(1)
        return files_open_for_writing()

    clock = Clock()
    settler = Settler(1, clock=clock, writers=writers)
    for f in files:
        settler.observe(f)
    assert settler.ready() == [] and looks == []  # nothing stable yet: /proc is not read at all
    clock.t = 5
    with open(files[7], "ab") as still_writing:
        still_writing.write(b"y")
        still_writing.flush()
        settler.observe(files[7])
        clock.t = 10
        ready = settler.ready()
    assert len(looks) == 1
    assert files[7] not in ready and sorted(ready) == sorted(set(files) - {files[7]})
