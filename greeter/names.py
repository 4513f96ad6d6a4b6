"""People's names: the one rule for what a name may be, how a file name becomes one, and how
it is spoken and printed.

Every tool goes through here: the store (:mod:`greeter.library.store`), the folder sync, the
admin page, ``greeter-library`` and the greeting itself, so a name the page accepts is one
the command line and the folder accept too, and the other way round.

* :func:`display_name`: what a person is called in the library. Whitespace is collapsed;
  empty names, names longer than :data:`MAX_NAME_LENGTH` characters, names with ``/`` or
  ``\\``, a leading ``.`` (the name is also a folder name in ``greeter-library export``) or
  control and format characters (C0, C1, bidi overrides, zero-width spaces: they can hide or
  reorder text on a terminal or a page) are refused with :class:`InvalidName`. Letters of
  every script are kept, and the zero-width joiners some scripts are written with.
* :func:`name_from_file`: the person a photo in ``images/`` names: the file's name
  (``images/<Name>.jpg``) or its folder's (``images/<Name>/*.jpg``), kept as written, hyphens
  and apostrophes included, except that ``_`` stands for a space (file names often cannot
  hold one, and no one's name has an underscore): ``Lin-Manuel_Miranda.jpg`` and
  ``Lin-Manuel Miranda/1.jpg`` both name "Lin-Manuel Miranda". Then :func:`display_name`.
* :func:`clean_name`: a name made safe to speak and to draw on the video without refusing
  it: terminal escape sequences and control or format characters removed, ``_`` and ``-``
  turned into spaces ("Lin-Manuel" is spoken "Lin Manuel").
* :func:`kiosk_name`: what a kiosk may be called (printable, at most
  :data:`MAX_KIOSK_NAME_LENGTH` characters: the library's column).
* :func:`greeting_text`: "Welcome Ana, have a nice day!".
* :func:`printable`: any text (a name, a kiosk name, an event message) made safe to print on
  a terminal, every character kept visible: controls as ``\\x1b``, bidi overrides and other
  invisible formatting as ``\\u202e``.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_LENGTH = 100  # characters, after whitespace is collapsed
MAX_KIOSK_NAME_LENGTH = 200  # the kiosks/events columns (greeter.library.schema.NAME_LENGTH)
REMOVED_NAME = "(removed)"  # what old events say instead of the name of a person removed

# Terminal escape sequences (CSI "ESC [ ... m", OSC "ESC ] ... BEL", and two-byte ESC X).
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
_JOINERS = {"\u200c", "\u200d"}  # zero-width (non-)joiner: part of how some scripts are written


class InvalidName(ValueError):
    """A person's name that cannot be used (empty, too long, or with unsafe characters)."""


def _unsafe(char: str) -> bool:
    """Control, format, unassigned, private-use and surrogate characters (Unicode category
    ``C*``), except the joiners; tabs and newlines count too."""
    return char not in _JOINERS and unicodedata.category(char).startswith("C")


def display_name(name) -> str:
    """``name`` as the library stores it: NFC, whitespace collapsed, checked.

    Raises:
        InvalidName: empty, longer than :data:`MAX_NAME_LENGTH`, holding ``/``, ``\\`` or a
            control/format character, or starting with ``.``; the message says what to do.
    """
    if not isinstance(name, str):
        raise InvalidName(f"A person's name must be text. Received: {name!r}")
    cleaned = " ".join(unicodedata.normalize("NFC", name).split())
    if not cleaned:
        raise InvalidName(f"A person's name cannot be empty. Received: name={name!r}")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidName(
            f"The name has {len(cleaned)} characters; use at most {MAX_NAME_LENGTH}: "
            f"{cleaned[:40]!r}..."
        )
    if cleaned.startswith(".") or "/" in cleaned or "\\" in cleaned or any(map(_unsafe, cleaned)):
        raise InvalidName(
            f"Name {cleaned!r} has '/', '\\', a control or invisible formatting character, or "
            "a leading '.'; use letters, spaces, hyphens or apostrophes."
        )
    return cleaned


def name_from_file(stem: str, folder_form: bool = False) -> str:
    """The person a photo in ``images/`` names (see the module docstring): ``_`` is a space,
    everything else is kept (``-`` too).

    Args:
        stem: the file's name without its suffix (file form), or the folder's name.
        folder_form: ``True`` for ``images/<Name>/photo.jpg`` (messages name the folder).

    Raises:
        InvalidName: what :func:`display_name` refuses (empty, too long, a control
            character...), or a name with no letter or digit (``__-.jpg``), with the file's
            name in the message.
    """
    name = str(stem).replace("_", " ")
    where = f"folder {stem!r}" if folder_form else f"file name {stem!r}"
    try:
        name = display_name(name)
    except InvalidName as err:
        raise InvalidName(f"The {where} is not a usable name: {err}") from None
    if not any(unicodedata.category(c)[0] in "LN" for c in name):
        raise InvalidName(f"The {where} is not a usable name: it has no letter or digit.")
    return name


def kiosk_name(name) -> str:
    """``name`` as a kiosk's name in the library: whitespace at the ends removed, checked.

    Raises:
        InvalidName: empty, longer than :data:`MAX_KIOSK_NAME_LENGTH` characters, or holding
            a control or invisible formatting character; the message says what to do.
    """
    if not isinstance(name, str):
        raise InvalidName(f"A kiosk name must be text. Received: {name!r}")
    cleaned = unicodedata.normalize("NFC", name).strip()
    if not cleaned:
        raise InvalidName("A kiosk name cannot be empty; give --kiosk NAME (e.g. lobby).")
    if len(cleaned) > MAX_KIOSK_NAME_LENGTH:
        raise InvalidName(
            f"The kiosk name has {len(cleaned)} characters; use at most "
            f"{MAX_KIOSK_NAME_LENGTH} (e.g. lobby, side-door): {printable(cleaned[:40])!r}..."
        )
    if not cleaned.isprintable():
        raise InvalidName(
            f"The kiosk name {printable(cleaned)!r} holds a control or invisible formatting "
            "character; use letters, digits, spaces and - _ ."
        )
    return cleaned


def clean_name(name) -> str:
    """``"Lin-Manuel_Miranda"`` -> ``"Lin Manuel Miranda"``: a name made safe, never refused.

    Terminal escape sequences and control or format characters (bidi overrides included)
    are removed, ``_`` and ``-`` become spaces, runs of white space one space. Letters of
    every script are kept. The result may be empty (``"__"``): callers refuse that.
    """
    text = unicodedata.normalize("NFC", _ESCAPES.sub("", str(name)))
    text = "".join(c if c in "\t\n\r" or not _unsafe(c) else "" for c in text)
    return re.sub(r"\s+", " ", re.sub(r"[_-]+", " ", text)).strip()


def _escaped(char: str) -> str:
    """``\\x1b``, ``\\u202e`` or ``\\U000e0001``: how :func:`printable` writes ``char``."""
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _invisible(char: str) -> bool:
    """Controls (C0, DEL, C1: escape sequences start with them), format characters (bidi
    overrides and isolates, zero-width spaces; not the joiners), surrogates, and the line and
    paragraph separators: characters that act on a terminal instead of showing."""
    category = unicodedata.category(char)
    return category in ("Cc", "Cf", "Cs", "Zl", "Zp") and char not in _JOINERS


def printable(text) -> str:
    """``text`` safe to print on a terminal, nothing hidden: each control, bidi or other
    invisible formatting character is written as its escape (``"Ana\\x1b[31m"`` ->
    ``"Ana\\\\x1b[31m"``, U+202E -> ``\\u202e``); tabs and newlines too, so one value stays on
    one line. Everything else (letters of every script, the zero-width joiners) is kept.

    For output only (``greeter-library list``, ``events``, error messages): the library keeps
    the text as it is.
    """
    return "".join(_escaped(c) if _invisible(c) else c for c in str(text))


def greeting_text(names) -> str:
    """``Welcome Ana, have a nice day!``, ``Welcome Ana and Ben, ...``,
    ``Welcome Ana, Ben, and Chloe, ...``.

    Names are cleaned (:func:`clean_name`); empty ones are left out.
    """
    cleaned = [clean_name(n) for n in names]
    names = [n for n in cleaned if n]  # never "Welcome , ..."
    if not names:
        raise ValueError(f"greeting_text needs at least one non-empty name. Received: {cleaned}")
    if len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = ", ".join(names[:-1]) + f", and {names[-1]}"
    return f"Welcome {who}, have a nice day!"
