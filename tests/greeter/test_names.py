"""greeter.names: names cleaned of escapes and controls (every script kept), greeting wording."""

import unicodedata

import pytest

from greeter.names import clean_name, greeting_text, printable


def test_clean_name():
    assert clean_name("Lin-Manuel_Miranda") == "Lin Manuel Miranda"
    assert clean_name("ana__maria--lopez ") == "ana maria lopez"


def test_clean_name_removes_escapes_and_controls_keeps_every_script():
    assert clean_name("\x1b[31mEvil\x1b[0m_Name\x07") == "Evil Name"
    assert clean_name("x\x1b]0;owned\x07y") == "xy"  # terminal title sequence
    assert clean_name("Ann\u202eA") == "AnnA"  # bidi override
    assert clean_name("Zo\u00eb_\u7f8e\u73b2") == "Zo\u00eb \u7f8e\u73b2"
    assert clean_name("__-_") == "" and clean_name("\x1b[2J") == ""


def test_greeting_text_never_has_an_empty_name():
    assert greeting_text(["__", "Ana"]) == "Welcome Ana, have a nice day!"
    with pytest.raises(ValueError, match="non-empty name"):
        greeting_text(["_-_"])


def test_greeting_text_one_two_three():
    assert greeting_text(["Ana"]) == "Welcome Ana, have a nice day!"
    assert greeting_text(["Ana", "Ben"]) == "Welcome Ana and Ben, have a nice day!"
    assert (
        greeting_text(["Ana", "Ben", "Chloe_X"])
        == "Welcome Ana, Ben, and Chloe X, have a nice day!"
    )
    with pytest.raises(ValueError, match="at least one non-empty name"):
        greeting_text([])


# ---- printable: any text made safe for a terminal


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


def test_name_from_file_keeps_hyphens_and_folder_names_verbatim():
    from greeter.names import InvalidName, name_from_file

    assert name_from_file("Lin-Manuel_Miranda") == "Lin-Manuel Miranda"  # '_' is a space
    assert name_from_file("ana__maria  lopez") == "ana maria lopez"
    assert name_from_file("Lin-Manuel Miranda", folder_form=True) == "Lin-Manuel Miranda"
    assert name_from_file("Jean_Paul", folder_form=True) == "Jean Paul"  # '_': one rule
    assert name_from_file("Mary-Kate O'Neil", folder_form=True) == "Mary-Kate O'Neil"
    assert name_from_file("Zo\u00eb_\u7f8e\u73b2") == "Zo\u00eb \u7f8e\u73b2"
    for bad, why in (("__-_", "no letter"), ("\x1b[2J", "control"), ("x" * 101, "at most")):
        with pytest.raises(InvalidName, match=why) as info:
            name_from_file(bad)
        assert "file name" in str(info.value)


def test_kiosk_name_fits_the_library():
    from greeter.library.schema import NAME_LENGTH
    from greeter.names import MAX_KIOSK_NAME_LENGTH, InvalidName, kiosk_name

    assert MAX_KIOSK_NAME_LENGTH == NAME_LENGTH  # the column it is stored in
    assert (
        kiosk_name("  lobby ") == "lobby"
        and kiosk_name("Hall d'entr\u00e9e 2") == "Hall d'entr\u00e9e 2"
    )
    assert kiosk_name("k" * 200) == "k" * 200
    with pytest.raises(InvalidName, match="201 characters; use at most 200"):
        kiosk_name("k" * 201)
    for bad in ("", "   ", "door\n2", "door\x1b[31m", "a\u202eb"):
        with pytest.raises(InvalidName):
            kiosk_name(bad)
