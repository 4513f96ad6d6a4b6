"""``greeter.names.printable``: any text made safe for a terminal, nothing hidden (issue 19,
item 10): controls (C0, DEL, C1, so every escape sequence), bidi overrides and isolates,
zero-width and other invisible characters are written as escapes; letters of every script
and the joiners some scripts need are kept."""

import unicodedata

import pytest

from greeter.names import printable


@pytest.mark.parametrize(
    "text, shown",
    [
        ("Ana Lima", "Ana Lima"),
        ("Zoë Ñúñez-O'Brien", "Zoë Ñúñez-O'Brien"),
        ("محمد علي", "محمد علي"),  # right-to-left letters stay as they are
        ("क्‍ष", "क्‍ष"),  # the zero-width joiner inside Devanagari is kept
        ("Ana\x1b[2J\x1b[31mroot", "Ana\\x1b[2J\\x1b[31mroot"),  # CSI: clear screen, red
        ("Ana\x1b]0;pwned\x07", "Ana\\x1b]0;pwned\\x07"),  # OSC: set the window title
        ("a\x9b31mb", "a\\x9b31mb"),  # C1 CSI (one byte): an escape without ESC
        ("a\x85b\x9db", "a\\x85b\\x9db"),  # C1 NEL, OSC
        ("evil\u202etxt.exe", "evil\\u202etxt.exe"),  # right-to-left override
        ("\u2066x\u2069\u200f", "\\u2066x\\u2069\\u200f"),  # isolates, RLM
        ("a\u200bb\ufeffc", "a\\u200bb\\ufeffc"),  # zero-width space, BOM
        ("one\ntwo\rthree\tfour", "one\\x0atwo\\x0dthree\\x09four"),  # one value, one line
        ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),  # line and paragraph separators
        ("tag\U000e0041", "tag\\U000e0041"),  # a tag character (format, invisible)
        ("del\x7f", "del\\x7f"),
    ],
)
def test_printable(text, shown):
    assert printable(text) == shown


def test_printable_output_has_no_control_or_format_character():
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    shown = printable(every)
    bad = {c for c in shown if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")}
    assert bad <= {"\u200c", "\u200d"}  # only the joiners, kept on purpose
    assert printable(None) == "None" and printable(42) == "42"
