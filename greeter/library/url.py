"""Where the face library lives: one resolver for its URL, and a printer that hides passwords.

``--db URL`` > ``db`` in the config file > ``$GREETER_DB`` > the default SQLite file
``sqlite:///<$XDG_DATA_HOME or ~/.local/share>/greeter/library.db``.

A PostgreSQL password need not be in the URL: without one, libpq reads it from
``~/.pgpass`` or the file ``$PGPASSFILE`` names (mode 0600, one
``host:port:database:user:password`` line). A password written in a ``--db`` flag works, but
every user of the machine can read it in ``ps``: :func:`resolve_db_url` warns about it once.
"""

import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENV_VAR = "GREETER_DB"
SAFER_PLACES = (
    f"${ENV_VAR}, the config file's 'db' (mode 0600), or ~/.pgpass / $PGPASSFILE "
    "with the password left out of the URL"
)

log = logging.getLogger(__name__)


def default_db_url() -> str:
    """``sqlite:///<$XDG_DATA_HOME or ~/.local/share>/greeter/library.db`` (an absolute path)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base).expanduser().resolve() / 'greeter' / 'library.db'}"


def resolve_db_url(
    flag: str | None = None, config: dict | None = None, *, argv: Sequence[str] | None = None
) -> tuple[str, str]:
    """The database URL to use and where it came from.

    Args:
        flag: the ``--db`` value (``None``: not given).
        config: the greeter's config dict (its ``db`` key), or ``None``.
        argv: the process's command-line arguments (default ``sys.argv``): when the URL's
            password is among them, one warning is logged (:func:`password_on_command_line`).

    Returns:
        ``(url, source)`` with ``source`` one of ``"--db"``, ``"config"``, ``"$GREETER_DB"``,
        ``"default"``. Print the URL with :func:`mask_url`, never as is.
    """
    if flag:
        url, source = flag, "--db"
    elif config and config.get("db"):
        url, source = str(config["db"]), "config"
    elif os.environ.get(ENV_VAR):
        url, source = os.environ[ENV_VAR], f"${ENV_VAR}"
    else:
        url, source = default_db_url(), "default"
    if password_on_command_line(url, argv):
        log.warning(
            "the database password in %s is on the command line, where every user of this "
            "machine can read it (ps); give it in %s.",
            mask_url(url),
            SAFER_PLACES,
        )
    return url, source


def password_on_command_line(url, argv: Sequence[str] | None = None) -> bool:
    """True when the password of ``url`` appears in ``argv`` (default: this process's
    arguments, as ``ps`` shows them), as typed or percent-encoded."""
    password = _password(url)
    if not password:
        return False
    args = sys.argv[1:] if argv is None else argv
    forms = {f":{password}@", f":{quote(password, safe='')}@"}  # user:PASSWORD@host
    return any(form in str(arg) for arg in args for form in forms)


def _password(url) -> str | None:
    try:
        return make_url(str(url)).password
    except (ArgumentError, ValueError):
        match = re.search(r"//[^:/@]*:([^@]*)@", str(url))
        return match.group(1) if match else None


def mask_url(url) -> str:
    """``postgresql://ana:secret@db/lib`` -> ``postgresql://ana:***@db/lib`` (also for bad URLs)."""
    try:
        return make_url(str(url)).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", str(url))


def mask_secrets(text: str, url) -> str:
    """``text`` with the password of ``url`` (if any) replaced by ``***``, wherever it occurs."""
    text = str(text)
    password = _password(url)
    if password:
        for form in {str(password), quote(str(password), safe="")}:
            text = text.replace(form, "***")
    return re.sub(r"(//[^:/@\s]*:)[^@\s]*@", r"\1***@", text)
