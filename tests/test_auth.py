"""Serving the app on a network: the password check (`explorer.auth`, `make run HOST=...`) and the
app's password form (AppTest, no browser)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from explorer import auth

REPO = Path(__file__).resolve().parents[1]


def _secrets(tmp_path: Path, password: str = "s3cret", salt: str = "ab12") -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text(f'[auth]\npassword_sha256 = "{auth.hash_password(password, salt)}"\nsalt = "{salt}"\n')
    return path


def test_the_check_refuses_without_a_password(tmp_path):
    problem = auth.serve_check(tmp_path / "missing.toml")
    assert problem and "does not exist" in problem and "python -m explorer.auth hash" in problem
    (tmp_path / "other.toml").write_text('[server]\nport = 1\n')
    assert "has no [auth] password_sha256" in auth.serve_check(tmp_path / "other.toml")
    (tmp_path / "short.toml").write_text('[auth]\npassword_sha256 = "abc"\n')
    assert "64 hex digits" in auth.serve_check(tmp_path / "short.toml")
    (tmp_path / "broken.toml").write_text('[auth\n')
    assert "not valid TOML" in auth.serve_check(tmp_path / "broken.toml")


def test_the_check_accepts_a_configured_password(tmp_path):
    path = _secrets(tmp_path)
    assert auth.serve_check(path) is None
    config = auth.load_auth(path)
    assert auth.check_password("s3cret", config)
    assert not auth.check_password("s3cret ", config) and not auth.check_password("", config)
    unsalted = tmp_path / "plain.toml"
    unsalted.write_text(f'[auth]\npassword_sha256 = "{auth.hash_password("pw").upper()}"\n')
    assert auth.check_password("pw", auth.load_auth(unsalted))  # no salt; upper-case hex is fine


def test_the_check_command_exits_non_zero_with_one_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(auth, "SECRETS_FILE", tmp_path / "secrets.toml")
    assert auth.main(["check"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("Refusing to serve on a network without a password:") and err.count("\n") == 0
    _secrets(tmp_path)
    assert auth.main(["check"]) == 0
    # the module runs without torch or streamlit (make run calls it before starting the server)
    out = subprocess.run([sys.executable, "-c", "import sys, explorer.auth; "
                          "print(sorted(m for m in ('torch', 'streamlit') if m in sys.modules))"],
                         cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_hash_command_prints_the_secrets_lines(monkeypatch, capsys):
    answers = iter(["pw", "pw"])
    monkeypatch.setattr(auth.getpass, "getpass", lambda prompt="": next(answers))
    assert auth.main(["hash"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "[auth]"
    digest, salt = (line.split('"')[1] for line in lines[1:3])
    assert auth.check_password("pw", auth.AuthConfig(digest, salt))
    answers = iter(["pw", "other"])
    assert auth.main(["hash"]) == 1  # the two entries differ


def test_password_required_by_the_env_var_or_a_network_address():
    assert not auth.password_required({}, None)
    assert not auth.password_required({}, "127.0.0.1") and not auth.password_required({"DAS_REQUIRE_PASSWORD": "0"})
    assert auth.password_required({"DAS_REQUIRE_PASSWORD": "1"}, "127.0.0.1")
    assert auth.password_required({}, "0.0.0.0")


def test_makefile_run_passes_the_host_and_checks_the_password():
    text = (REPO / "Makefile").read_text()
    run = text[text.index("\nrun:"):].split("\n\n")[0]
    assert "--server.address $(HOST)" in run and "DAS_REQUIRE_PASSWORD" in run and "explorer.auth check" in run
    assert "HOST ?= 127.0.0.1" in text
    assert ".streamlit/secrets.toml" in (REPO / ".gitignore").read_text().split()


# ----------------------------------------------------------------------------- the app's password form

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(REPO / "app.py")


@pytest.fixture
def locked_app(monkeypatch, tmp_path):
    monkeypatch.setenv(auth.REQUIRE_ENV, "1")
    monkeypatch.setattr(auth, "SECRETS_FILE", _secrets(tmp_path))
    return AppTest.from_file(APP, default_timeout=60)


def _page_content(at) -> list:
    return [t.value for t in at.title if t.value != "DAS Explorer"] + [w.key for w in at.sidebar.selectbox]


def test_the_app_asks_for_the_password_and_shows_nothing_else(locked_app):
    at = locked_app.run()
    assert not at.exception
    assert at.text_input(key="auth_password").proto.type == at.text_input(key="auth_password").proto.PASSWORD
    assert not _page_content(at) and not at.get("plotly_chart")
    at.text_input(key="auth_password").input("wrong")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong password; try again."]
    assert not _page_content(at)
    at.text_input(key="auth_password").input("s3cret")
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert at.title[0].value == "Explore" and "ds_name" in _page_content(at)
    assert not [w for w in at.text_input if w.key == "auth_password"]
    at.switch_page("pages/compare.py").run()  # remembered for the session
    assert at.title[0].value == "Compare samplers"


def test_a_page_requested_first_is_locked_too(locked_app):
    """A session's first request may name a page (Streamlit then runs it without app.py)."""
    locked_app.switch_page("pages/results.py")
    at = locked_app.run()
    assert not at.exception and not _page_content(at)
    assert [w.key for w in at.text_input] == ["auth_password"]


def test_the_app_refuses_without_a_configured_password(monkeypatch, tmp_path):
    monkeypatch.setenv(auth.REQUIRE_ENV, "1")
    monkeypatch.setattr(auth, "SECRETS_FILE", tmp_path / "none.toml")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception and len(at.error) == 1 and "No password is configured" in at.error[0].value
    assert not at.text_input and not _page_content(at)


def test_without_the_env_var_the_app_opens_directly(monkeypatch):
    monkeypatch.delenv(auth.REQUIRE_ENV, raising=False)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception and at.title[0].value == "Explore"
    assert not [w for w in at.text_input if w.key == "auth_password"]
