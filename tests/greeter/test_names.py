"""greeter.names: names cleaned of escapes and controls (every script kept), greeting wording."""

import pytest

from greeter.names import clean_name, greeting_text


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
