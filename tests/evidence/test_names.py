import os

from evidence.names import on_disk, printable, stored_form

NOT_UTF8 = os.fsdecode(b"clip\xff\xfe.mp4")


def test_printable_escapes_bytes_controls_and_terminal_sequences():
    assert printable(NOT_UTF8) == "clip\\xff\\xfe.mp4"
    assert printable("a\nINFO forged line.mp4") == "a\\x0aINFO forged line.mp4"
    assert printable("\x1b[2J\x1b]0;title\x07.mp4") == "\\x1b[2J\\x1b]0;title\\x07.mp4"
    assert printable("evil\u202egpj.mp4") == "evil\\u202egpj.mp4"  # right-to-left override
    assert printable("执法记录 01.mp4") == "执法记录 01.mp4"
    assert printable(b"raw\xff") == "raw\\xff"


def test_escaped_forms_never_collide():
    # a name that literally spells an escape is not the name with the byte
    assert printable("clip\\xff\\xfe.mp4") != printable(NOT_UTF8)
    assert printable("a\\b", backslash=False) == "a\\b"


def test_stored_form_keeps_exact_bytes_only_when_needed():
    assert stored_form("ZFY0001/a.mp4") == ("ZFY0001/a.mp4", None)
    text, raw = stored_form("ZFY0001/" + NOT_UTF8)
    assert text == "ZFY0001/clip\\xff\\xfe.mp4" and raw == b"ZFY0001/clip\xff\xfe.mp4"
    assert on_disk(text, raw) == "ZFY0001/" + NOT_UTF8
    text, raw = stored_form("a\nb.mp4")
    assert "\n" not in text and raw == b"a\nb.mp4"
    text.encode("utf-8")  # always storable
