"""Database URL resolution and password masking (no database needed)."""

from greeter.library.url import default_db_url, mask_secrets, mask_url, resolve_db_url


def test_resolution_order(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.delenv("GREETER_DB", raising=False)
    assert resolve_db_url() == (f"sqlite:///{tmp_path}/greeter/library.db", "default")
    assert default_db_url() == f"sqlite:///{tmp_path}/greeter/library.db"
    monkeypatch.setenv("GREETER_DB", "sqlite:///env.db")
    assert resolve_db_url(None, {}) == ("sqlite:///env.db", "$GREETER_DB")
    assert resolve_db_url(None, {"db": "sqlite:///cfg.db"}) == ("sqlite:///cfg.db", "config")
    assert resolve_db_url("sqlite:///flag.db", {"db": "x"}) == ("sqlite:///flag.db", "--db")


def test_passwords_are_masked_plain_and_percent_encoded():
    url = "postgresql://ana:p%40ss%2Fw@db.example:5432/lib"
    assert mask_url(url) == "postgresql://ana:***@db.example:5432/lib"
    text = f"failed for p@ss/w and p%40ss%2Fw at {url}"
    masked = mask_secrets(text, url)
    assert "p@ss/w" not in masked and "p%40ss" not in masked
    assert mask_url("not a url://a:b@c").count("b@") == 0
