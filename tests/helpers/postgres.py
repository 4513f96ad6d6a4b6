"""A REAL PostgreSQL 15 server for tests: ``initdb`` + ``pg_ctl`` in a temporary folder.

The server listens on 127.0.0.1 on a free port, with password (SCRAM) authentication
for TCP, so the URLs the tests use carry a password (for the masking tests). When the
tests run as root (CI), the server runs as the ``postgres`` system user
(``runuser -u postgres -- …``; PostgreSQL refuses to run as root), with its data folder
owned by that user inside a folder everyone can traverse.

Fixtures (tests/conftest.py loads this module as a plugin): ``postgres_server``
(session-scoped: started once) and ``postgres_url`` (a fresh database per test). Under
``CI=true`` a test that needs the server FAILS when it cannot start; otherwise it is skipped
with the reason (:func:`tests.helpers.needs.unavailable`).
"""

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.helpers.needs import unavailable
from tests.helpers.servers import free_port

PG_BIN_DEFAULT = "/usr/lib/postgresql/15/bin"  # Debian's postgresql-15; $PG_BIN overrides
SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """The test server could not be started (no binaries, no postgres user, ...)."""


class PostgresServer:
    """One throw-away cluster; :meth:`stop` / :meth:`start` may be called repeatedly."""

    def __init__(self):
        self.bin = Path(os.environ.get("PG_BIN", PG_BIN_DEFAULT))
        if not (self.bin / "initdb").exists():
            raise PostgresUnavailable(
                f"{self.bin / 'initdb'} not found: install the Debian 'postgresql' package "
                "(apt-get install postgresql) or set PG_BIN to its bin folder"
            )
        self.as_root = os.geteuid() == 0
        if self.as_root and shutil.which("runuser") is None:
            raise PostgresUnavailable("running as root, but runuser is missing")
        self.base = Path(tempfile.mkdtemp(prefix="greeter-pg-"))
        self.data = self.base / "data"
        self.socket_dir = self.base / "sock"
        self.logfile = self.base / "server.log"
        try:
            self._create()
        except BaseException:
            self.destroy()
            raise

    def _create(self) -> None:
        self.base.chmod(0o755)  # traversable by the postgres user
        self.password = secrets.token_urlsafe(12)
        self.port = free_port()
        self.socket_dir.mkdir()
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.password + "\n")
        self.data.mkdir(mode=0o700)
        if self.as_root:
            for path in (self.data, self.socket_dir, pwfile):
                shutil.chown(path, user="postgres")
            self.logfile.touch()
            shutil.chown(self.logfile, user="postgres")
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "-E", "UTF8", "--locale=C",
            "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
        )  # fmt: skip
        pwfile.unlink()
        self.start()

    def _run(self, tool, *args, check=True, timeout=120):
        cmd = [str(self.bin / tool), *args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            log = self.logfile.read_text()[-2000:] if self.logfile.exists() else ""
            raise PostgresUnavailable(
                f"{tool} failed ({done.returncode}): {done.stderr.strip()[-2000:]}\n{log}"
            )
        return done

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=60 "
            "-c wal_recycle=off"  # as docs/library.md asks of a library's server (purge)
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.logfile),
                  "-w", "-t", "60", "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def url(self, dbname: str = "postgres", password: str | None = None) -> str:
        password = self.password if password is None else password
        return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{self.port}/{dbname}"

    def psql(self, sql: str) -> str:
        done = self._run(
            "psql", "-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER,
            "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql,
        )  # fmt: skip
        return done.stdout

    def create_database(self) -> str:
        name = f"t_{secrets.token_hex(6)}"
        self.psql(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self._run(
            "psql", "-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER,
            "-d", "postgres", "-qAt", "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            check=False,
        )  # fmt: skip

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    """A running :class:`PostgresServer` for the whole session."""
    try:
        server = PostgresServer()
    except (PostgresUnavailable, OSError, subprocess.SubprocessError, LookupError) as err:
        unavailable(f"PostgreSQL test server: {err}")
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def postgres_url(postgres_server):
    """``postgresql://postgres:<password>@127.0.0.1:<port>/<fresh database>``."""
    deadline = time.monotonic() + 30
    while True:  # a test that stopped the server may have left it starting up
        try:
            name = postgres_server.create_database()
            break
        except PostgresUnavailable:
            if time.monotonic() > deadline:
                raise
            postgres_server.start()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)
