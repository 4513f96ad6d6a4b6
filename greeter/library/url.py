"""Where the face library lives: one resolver for its URL, and a printer that hides passwords.

``--db URL`` > ``db`` in the config file > ``$GREETER_DB`` > the default SQLite file
``sqlite:///<$XDG_DATA_HOME or ~/.local/share>/greeter/library.db``.
"""

import os
import re
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENV_VAR = "GREETER_DB"


def default_db_url() -> str:
    """``sqlite:///<$XDG_DATA_HOME or ~/.local/share>/greeter/library.db`` (an absolute path)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base).expanduser().resolve() / 'greeter' / 'library.db'}"


def resolve_db_url(flag: str | None = None, config: dict | None = None) -> tuple[str, str]:
    """The database URL to use and where it came from.

    Args:
        flag: the ``--db`` value (``None``: not given).
        config: the greeter's config dict (its ``db`` key), or ``None``.

    Returns:
        ``(url, source)`` with ``source`` one of ``"--db"``, ``"config"``, ``"$GREETER_DB"``,
        ``"default"``. Print the URL with :func:`mask_url`, never as is.
    """
    if flag:
        return flag, "--db"
    if config and config.get("db"):
        return str(config["db"]), "config"
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR], f"${ENV_VAR}"
    return default_db_url(), "default"


def mask_url(url) -> str:
    """``postgresql://ana:secret@db/lib`` -> ``postgresql://ana:***@db/lib`` (also for bad URLs)."""
    try:
        return make_url(str(url)).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", str(url))


def mask_secrets(text: str, url) -> str:
    """``text`` with the password of ``url`` (if any) replaced by ``***``, wherever it occurs."""
    text = str(text)
    try:
        password = make_url(str(url)).password
    except (ArgumentError, ValueError):
        match = re.search(r"//[^:/@]*:([^@]*)@", str(url))
        password = match.group(1) if match else None
    if password:
        from urllib.parse import quote

        for form in {str(password), quote(str(password), safe="")}:
            text = text.replace(form, "***")
    return re.sub(r"(//[^:/@\s]*:)[^@\s]*@", r"\1***@", text)
