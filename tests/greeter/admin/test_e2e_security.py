"""The admin page under attack (issue 19, items 1-3 and 10), on a real ``greeter-admin`` process
(uvicorn on 127.0.0.1, a real SQLite library, a production-cost Argon2 password) where
concurrency, memory or the wire matter, and over Starlette's TestClient where they do not:

* 30 logins at once from one address (29 wrong, then the right one) are refused, and the
  server's peak memory stays bounded (Argon2 runs in a small pool);
* ``X-Forwarded-For``/``-Proto`` count only from a configured ``--trusted-proxy``;
* a 100 MB body to ``/login`` is refused at once (413), never read;
* a foreign ``Host`` (DNS rebinding) gets 400: nothing listed, nothing deleted;
* HTTPS with ``--certfile``/``--keyfile`` sets ``Secure`` cookies; a non-loopback ``--host``
  over plain HTTP is refused unless ``--allow-plain-http``.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from greeter.admin import app as admin_app
from greeter.admin import cli as admin_cli
from tests.helpers.admin import csrf_of, no_enroller

REPO = Path(__file__).resolve().parents[3]
PASSWORD = "the-right-password"
MAX_PEAK_MB = 400  # the server's peak resident memory through a 30-login burst


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _memory_mb(pid: int, key: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (the peak resident) of process ``pid``, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"{key} not in /proc/{pid}/status")


class AdminServer:
    """``python -m greeter.admin.cli --db sqlite:///... --port P [flags]`` with
    ``$GREETER_ADMIN_PASSWORD`` (hashed at start with argon2-cffi's default cost: 64 MiB a
    verification); stopped with SIGTERM."""

    def __init__(self, tmp_path: Path, *flags: str, scheme: str = "http") -> None:
        self.port = _free_port()
        self.base = f"{scheme}://127.0.0.1:{self.port}"
        self.log = tmp_path / f"admin-{self.port}.log"
        env = {**os.environ, "PYTHONPATH": str(REPO), "GREETER_CONFIG": "",
               "GREETER_ADMIN_PASSWORD": PASSWORD}  # fmt: skip
        db = f"sqlite:///{tmp_path / 'library.db'}"
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "greeter.admin.cli", "--db", db, "--port", str(self.port),
                 *flags],
                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while not self._up():
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.1)

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.base, verify=False, timeout=60, **kwargs)

    def _up(self) -> bool:
        try:
            with self.client() as web:
                return web.get("/login").status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.log.read_text()


@pytest.fixture
def start_server(tmp_path):
    started = []

    def start(*flags, scheme="http"):
        started.append(AdminServer(tmp_path, *flags, scheme=scheme))
        return started[-1]

    yield start
    for server in started:
        assert "Traceback" not in server.stop(), server.log.read_text()


def _login_form(web: httpx.Client) -> tuple[str, dict]:
    """A session's CSRF token and cookies, as a browser has them after opening /login."""
    page = web.get("/login")
    assert page.status_code == 200
    return csrf_of(page.text), dict(web.cookies)


# ---- 1. the login under a burst


@pytest.mark.slow
def test_30_logins_at_once_are_refused_and_memory_stays_bounded(start_server):
    server = start_server()
    with server.client() as web:
        token, cookies = _login_form(web)
    pid = server.process.pid
    before = _memory_mb(pid, "VmRSS")
    barrier = threading.Barrier(30)
    answers: list = [None] * 30

    def log_in(i: int) -> None:
        password = PASSWORD if i == 29 else f"wrong-guess-{i}"
        with server.client(cookies=cookies) as web:
            barrier.wait()
            if i == 29:
                time.sleep(0.05)  # 29 wrong, then the right one
            started = time.monotonic()
            response = web.post("/login", data={"password": password, "csrf_token": token})
            answers[i] = (response.status_code, time.monotonic() - started)

    threads = [threading.Thread(target=log_in, args=(i,)) for i in range(30)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    wall = time.monotonic() - started
    peak, after = _memory_mb(pid, "VmHWM"), _memory_mb(pid, "VmRSS")
    statuses = Counter(status for status, _ in answers)
    print(
        f"\n30 logins at once: {dict(statuses)}; server RSS {before:.0f} MB before, peak "
        f"{peak:.0f} MB, {after:.0f} MB after; burst {wall:.2f} s, slowest answer "
        f"{max(t for _, t in answers):.2f} s"
    )
    assert answers[29][0] == 429, answers  # the right password, sent after 29 wrong ones
    assert 303 not in statuses and set(statuses) <= {401, 429, 503}, statuses
    assert peak < MAX_PEAK_MB, f"peak RSS {peak:.0f} MB"
    with server.client(cookies=cookies) as web:  # still locked out after the burst
        late = web.post("/login", data={"password": PASSWORD, "csrf_token": token})
        assert late.status_code == 429 and int(late.headers["retry-after"]) > 0


def _attempts(server, forwarded: list[str], proto: str | None = None) -> list[httpx.Response]:
    """One wrong login per ``X-Forwarded-For`` value, from one real client (127.0.0.1)."""
    with server.client() as web:
        token, _ = _login_form(web)
        answers = []
        for address in forwarded:
            headers = {"X-Forwarded-For": address}
            if proto:
                headers["X-Forwarded-Proto"] = proto
            answers.append(
                web.post("/login", data={"password": "wrong", "csrf_token": token}, headers=headers)
            )
        return answers


@pytest.mark.slow
def test_forwarded_headers_count_only_from_a_trusted_proxy(start_server):
    addresses = [f"203.0.113.{n}" for n in range(1, 7)]
    untrusted = start_server()  # uvicorn's own default would trust 127.0.0.1
    statuses = [r.status_code for r in _attempts(untrusted, addresses)]
    assert statuses == [401, 401, 401, 401, 429, 429], statuses  # all one address: 127.0.0.1
    with untrusted.client() as web:
        web.headers["X-Forwarded-Proto"] = "https"
        assert "secure" not in web.get("/login").headers["set-cookie"].lower()

    proxied = start_server("--trusted-proxy", "127.0.0.1")
    statuses = [r.status_code for r in _attempts(proxied, addresses)]
    assert statuses == [401] * 6, statuses  # six addresses, one attempt each
    with proxied.client() as web:
        cookie = web.get("/login", headers={"X-Forwarded-Proto": "https"}).headers["set-cookie"]
        assert "secure" in cookie.lower()


# ---- request bodies before authentication


def _send_and_read(port: int, head: bytes, body=()) -> tuple[bytes, int, float]:
    """Send ``head``, then the bytes of ``body`` (an iterable of chunks) until the server
    answers or closes, on a raw socket; returns the server's first bytes, how many body bytes
    went out (socket buffers included), and the seconds it took."""
    started, sent, pending, chunks = time.monotonic(), 0, b"", iter(body)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        answer = b""
        while not answer:
            try:
                answer = sock.recv(65536)
                break
            except BlockingIOError:
                pass
            if not pending:
                pending = next(chunks, b"")
                if not pending:
                    break  # all sent
            try:
                count = sock.send(pending)  # may send part of it: the rest goes next
                sent, pending = sent + count, pending[count:]
            except BlockingIOError:
                time.sleep(0.001)
            except OSError:  # the server closed the connection: it read no more
                break
        sock.setblocking(True)
        while b"\r\n\r\n" not in answer:
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    return answer, sent, time.monotonic() - started


@pytest.mark.slow
def test_a_100_mb_body_to_login_is_refused_at_once_unread(start_server):
    server = start_server()
    before = _memory_mb(server.process.pid, "VmRSS")
    size = 100 * 1024 * 1024
    head = (
        f"POST /login HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()
    answer, _, declared = _send_and_read(server.port, head)  # the declared size is enough
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert declared < 1.0, declared

    chunk = b"password=" + b"x" * (64 * 1024)
    chunked = (
        f"POST /login HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    answer, sent, seconds = _send_and_read(
        server.port, chunked, (framed for _ in range(size // len(chunk)))
    )
    print(
        f"\n100 MB to /login: declared -> 413 in {declared * 1000:.1f} ms; streamed -> 413 after "
        f"{sent / 1e6:.1f} MB sent (socket buffers included) in {seconds * 1000:.1f} ms"
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < size / 4, sent  # the server stopped reading long before 100 MB
    assert _memory_mb(server.process.pid, "VmRSS") < before + 50


# ---- TLS


@pytest.mark.slow
def test_tls_serves_https_and_the_cookie_is_secure(start_server, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl not found (needed to make a test certificate)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server = start_server("--certfile", str(cert), "--keyfile", str(key), scheme="https")
    with server.client() as web:
        token, _ = _login_form(web)
        response = web.post("/login", data={"password": PASSWORD, "csrf_token": token})
        assert response.status_code == 303
        cookie = response.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        assert web.get("/people").status_code == 200
    with pytest.raises(httpx.TransportError):  # plain HTTP on the TLS port: no answer
        httpx.get(f"http://127.0.0.1:{server.port}/login", timeout=10)


# ---- the command line's refusals


def _build(tmp_path, monkeypatch, *flags):
    monkeypatch.setenv("GREETER_ADMIN_PASSWORD", PASSWORD)
    monkeypatch.delenv("GREETER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    argv = ["--db", f"sqlite:///{tmp_path / 'l.db'}", *flags]
    return admin_cli.build_from_args(admin_cli._parser().parse_args(argv), argv=argv)


def test_a_non_loopback_host_over_plain_http_is_refused(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="in clear: give --certfile and --keyfile") as refused:
        _build(tmp_path, monkeypatch, "--host", "0.0.0.0", "--allowed-host", "door.lan")
    assert "--allow-plain-http" in str(refused.value) and "\n" not in str(refused.value)
    assert not (tmp_path / "l.db").exists()  # refused before touching the library
    _, server = _build(
        tmp_path, monkeypatch, "--host", "0.0.0.0", "--allowed-host", "door.lan",
        "--allow-plain-http",
    )  # fmt: skip
    assert server["host"] == "0.0.0.0" and server["ssl_certfile"] is None
    assert server["proxy_headers"] is False  # nothing trusted unless configured


def test_no_password_is_refused_before_anything_else(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("GREETER_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("GREETER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    argv = ["--host", "0.0.0.0", "--allow-plain-http", "--db", f"sqlite:///{tmp_path / 'l.db'}"]
    assert admin_cli.main(argv) == 2
    assert "no password is set" in capsys.readouterr().err


def test_every_address_needs_the_host_names(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="--allowed-host NAME"):
        _build(tmp_path, monkeypatch, "--host", "0.0.0.0", "--allow-plain-http")
    app, _ = _build(
        tmp_path, monkeypatch, "--host", "192.168.7.9", "--allow-plain-http",
        "--allowed-host", "*.office.lan",
    )  # fmt: skip
    hosts = app.state.admin.allowed_hosts
    assert hosts == ["localhost", "127.0.0.1", "[::1]", "*.office.lan", "192.168.7.9"]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--certfile", "c.pem"], "go together"),
        (["--certfile", "c.pem", "--keyfile", "k.pem"], "not found"),
        (["--allowed-host", "http://door.lan"], "not a host name"),
        (["--allowed-host", "door.lan:8080"], "not a host name"),
        (["--allowed-host", "a.*.lan"], "not a host name"),
        (["--trusted-proxy", "proxy.lan"], "not an IP address"),
        (["--session-idle", "0"], "must be > 0"),
    ],
)
def test_bad_security_settings_are_refused(tmp_path, monkeypatch, flags, message):
    with pytest.raises(ValueError, match=message):
        _build(tmp_path, monkeypatch, *flags)


def test_security_settings_from_the_config_file(tmp_path, monkeypatch):
    config = tmp_path / "greeter.json"
    config.write_text(
        '{"admin_allowed_hosts": ["door.lan"], "admin_trusted_proxies": ["10.0.0.0/24"], '
        '"admin_allow_plain_http": true, "admin_session_idle_minutes": 5, "threshold": 0.7}'
    )
    app, server = _build(tmp_path, monkeypatch, "--config", str(config), "--host", "0.0.0.0")
    assert app.state.admin.allowed_hosts[-1] == "door.lan"
    assert server["proxy_headers"] is True and server["forwarded_allow_ips"] == ["10.0.0.0/24"]
    assert app.state.admin.sessions.idle == 300
    flagged, _ = _build(
        tmp_path, monkeypatch, "--config", str(config), "--host", "0.0.0.0",
        "--allowed-host", "other.lan",
    )  # fmt: skip
    assert flagged.state.admin.allowed_hosts[-1] == "other.lan"  # a flag wins over the file
    config.write_text('{"admin_allowed_hosts": "door.lan"}')
    with pytest.raises(ValueError, match="admin_allowed_hosts' must be list"):
        _build(tmp_path, monkeypatch, "--config", str(config))
    config.write_text('{"admin_allowed_host": ["door.lan"]}')  # a typo is not ignored
    with pytest.raises(ValueError, match="unknown setting 'admin_allowed_host'"):
        _build(tmp_path, monkeypatch, "--config", str(config))
    # ... and the kiosk's own config reader ignores the admin_ keys
    from greeter.config import load_config

    config.write_text('{"admin_allowed_hosts": ["door.lan"], "threshold": 0.7}')
    assert load_config(config) == {"threshold": 0.7}


def test_help_names_the_password_variable_and_set_password(capsys):
    with pytest.raises(SystemExit):
        admin_cli.main(["--help"])
    text = capsys.readouterr().out
    for needed in ("$GREETER_ADMIN_PASSWORD", "greeter-admin set-password", "--allowed-host",
                   "--trusted-proxy", "--certfile", "--keyfile", "--allow-plain-http",
                   "--session-idle", "--session-max", "admin_allowed_hosts"):  # fmt: skip
        assert needed in text, needed
    assert max(len(line) for line in text.splitlines()) <= 100


# ---- the Host check (DNS rebinding), over TestClient


def _client(store, host="127.0.0.1", **kwargs):
    from starlette.testclient import TestClient

    app = admin_app.create_app(store, enroller_factory=no_enroller, **kwargs)
    return TestClient(app, base_url=f"http://{host}", follow_redirects=False)


def test_a_foreign_host_gets_400_lists_nothing_and_deletes_nothing(store):
    store.add_person("Ana Lima")
    (ana,) = store.people()
    with _client(store, password_hash=None) as web:  # the password-less page on loopback
        page = web.get("/people")
        assert page.status_code == 200 and "Ana Lima" in page.text
        token = csrf_of(page.text)
        for host in ("rebind.evil.example", "rebind.evil.example:8080", "127.0.0.1.evil.example"):
            for path in ("/people", "/people/new", f"/people/{ana.id}", "/greetings.csv"):
                refused = web.get(path, headers={"Host": host})
                assert refused.status_code == 400, (host, path)
                assert "Ana" not in refused.text and "csrf" not in refused.text
            deleted = web.post(
                f"/people/{ana.id}/delete", data={"csrf_token": token}, headers={"Host": host}
            )
            assert deleted.status_code == 400
        assert [p.name for p in store.people()] == ["Ana Lima"]
        for host in ("localhost:8080", "LOCALHOST", "127.0.0.1:9", "[::1]:8080"):
            assert web.get("/people", headers={"Host": host}).status_code == 200, host


def test_allowed_hosts_are_accepted_besides_loopback(store):
    with _client(store, password_hash=None, allowed_hosts=["door.lan", "*.office.lan"]) as web:
        for host, status in [("door.lan", 200), ("door.lan:8443", 200), ("a.office.lan", 200),
                             ("office.lan", 400), ("door.lan.evil.example", 400),
                             ("evil-door.lan", 400)]:  # fmt: skip
            assert web.get("/people", headers={"Host": host}).status_code == status, host


# ---- body limits before authentication, over TestClient (the form parser is watched)


@pytest.fixture
def form_reads(monkeypatch):
    """Counts the requests whose form Starlette parsed."""
    from starlette.requests import Request

    reads = []
    original = Request.form

    def counted(self, *args, **kwargs):
        reads.append(self.url.path)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Request, "form", counted)
    return reads


def _argon2(password: str) -> str:
    """A low-cost Argon2 hash: these tests are about bodies, not about Argon2's cost."""
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(password)


@pytest.mark.parametrize("password", [None, "the password"])
def test_a_100_mb_login_body_is_413_and_never_parsed(store, form_reads, password):
    with _client(store, password_hash=password and _argon2(password)) as web:
        web.get("/login")
        response = web.post(
            "/login",
            content=b"password=x",
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "content-length": str(100 * 1024 * 1024),
            },
        )
        assert response.status_code == 413 and "KB" in response.text
        assert form_reads == []  # refused on the declared size alone
        streamed = web.post(
            "/login",
            content=(b"x" * 4096 for _ in range(8)),  # 32 KB, no Content-Length
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        if password is None:  # no login to parse: the form is never read
            assert streamed.status_code == 303 and form_reads == []
        else:  # read up to the 16 KB limit, then refused
            assert streamed.status_code == 413 and form_reads == ["/login"]


@pytest.mark.parametrize("password", [None, "the password"])
def test_a_post_without_a_session_gets_the_small_limit(store, password):
    store.add_person("Ana")
    (ana,) = store.people()
    big_name = {"name": "x" * 20_000}  # 20 KB: over the small limit, far under the big one
    with _client(store, password_hash=password and _argon2(password)) as web:
        refused = web.post(f"/people/{ana.id}/rename", data=big_name)
        assert refused.status_code == 413
        if password:
            token = csrf_of(web.get("/login").text)
            logged_in = web.post("/login", data={"password": password, "csrf_token": token})
            assert logged_in.status_code == 303
            # logged in: the uploads' limit; read, and refused for its missing CSRF token
            assert web.post(f"/people/{ana.id}/rename", data=big_name).status_code == 403
        token = csrf_of(web.get("/people/new").text)
        renamed = web.post(f"/people/{ana.id}/rename", data={**big_name, "csrf_token": token})
        assert renamed.status_code == 400 and "use at most" in renamed.text  # read, refused
    assert [p.name for p in store.people()] == ["Ana"]
