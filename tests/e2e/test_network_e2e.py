"""Serving on a network, in Chromium: the real stack (`explorer.network`: Caddy + the login gate + Streamlit on
127.0.0.1) with a bcrypt user and single sign-on against a local OpenID provider (PyPI `oidc-provider-mock`);
and a server started on another address than loopback refusing to serve."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from explorer import auth, network

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


@pytest.fixture(scope="module")
def idp():
    mock = pytest.importorskip("oidc_provider_mock")
    with mock.run_server_in_thread(require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def sso_stack(tmp_path_factory, idp):
    tmp = tmp_path_factory.mktemp("sso")
    secrets = tmp / "secrets.toml"
    secrets.write_text(
        f'[das_login]\nusers = {{ alice = "{auth.hash_password(PASSWORD, cost=auth.BCRYPT_MIN_COST)}" }}\n\n'
        f'[das_login.oidc]\nserver_metadata_url = "{idp}/.well-known/openid-configuration"\n'
        f'client_id = "das-explorer"\nclient_secret = "test-secret"\ncookie_secret = "{"k" * 40}"\n'
        f'allowed_domains = ["hospital.org"]\n')
    s = network.start("127.0.0.1", network.free_port(), secrets=secrets, server_names=("localhost",),
                      storage=str(tmp / "caddy"), env={"DAS_APP_RUNS": str(tmp / "runs")})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def password_stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pw")
    secrets = tmp / "secrets.toml"
    secrets.write_text(f'[das_login]\nusers = {{ alice = "{auth.hash_password(PASSWORD, cost=auth.BCRYPT_MIN_COST)}" }}\n')
    s = network.start("127.0.0.1", network.free_port(), secrets=secrets, server_names=("localhost",),
                      storage=str(tmp / "caddy"), env={"DAS_APP_RUNS": str(tmp / "runs")})
    yield s
    s.stop()


def _context(browser, **kw):
    return browser.new_context(viewport={"width": 1280, "height": 800}, ignore_https_errors=True, **kw)


def _sign_in(page, url: str, email: str) -> None:
    """Open `url` without a session and sign in at the provider's form as `email`."""
    page.set_default_timeout(60_000)
    page.goto(url)
    page.wait_for_selector('input[name="sub"]')  # the provider's sign-in form, not the app
    assert "localhost:" in page.url and "/oauth2/authorize" in page.url
    page.fill('input[name="sub"]', email)
    page.click('button[type="submit"]:not([name])')


def test_sign_on_with_the_identity_provider_reaches_compare(browser, sso_stack):
    ctx = _context(browser)
    page = ctx.new_page()
    try:
        _sign_in(page, f"{sso_stack.cfg.public_url}/compare", "dr.house@hospital.org")
        page.wait_for_selector("h1:has-text('Compare samplers')")
        page.wait_for_selector(IDLE)
        assert page.url.endswith("/compare")
        cookie = [c for c in ctx.cookies() if c["name"] == "das_session"][0]
        assert cookie["httpOnly"] and cookie["secure"]
    finally:
        ctx.close()


def test_an_account_outside_the_allowed_domains_is_refused(browser, sso_stack):
    ctx = _context(browser)
    page = ctx.new_page()
    try:
        _sign_in(page, f"{sso_stack.cfg.public_url}/", "eve@example.com")
        page.wait_for_selector("text=not allowed to open this app")
        assert not [c for c in ctx.cookies() if c["name"] == "das_session"]
    finally:
        ctx.close()


def test_a_password_login_reaches_compare_and_a_wrong_one_does_not(browser, password_stack):
    ctx = _context(browser, http_credentials={"username": "alice", "password": PASSWORD})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{password_stack.cfg.public_url}/compare", wait_until="commit")
        page.wait_for_selector("h1:has-text('Compare samplers')")  # the page's websocket carried the login too
        page.wait_for_selector(IDLE)
    finally:
        ctx.close()
    ctx = _context(browser, http_credentials={"username": "alice", "password": "wrong"})
    page = ctx.new_page()
    try:
        response = page.request.get(f"{password_stack.cfg.public_url}/_stcore/health")
        assert response.status == 401
    finally:
        ctx.close()


def test_a_server_started_off_loopback_refuses_and_stops(browser, tmp_path):
    """`streamlit run app.py --server.address 0.0.0.0` (past explorer.serve): the first page says why, the server ends."""
    port = network.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.port", str(port),
                             "--server.headless", "true", "--server.address", "0.0.0.0"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctx = _context(browser)
    page = ctx.new_page()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                page.goto(f"http://127.0.0.1:{port}/", timeout=5_000)
                break
            except Exception:  # noqa: BLE001 - not listening yet
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.5)
        page.wait_for_selector("text=only listens on loopback", timeout=60_000)
        assert page.get_by_text("Explore the data").count() == 0
        assert proc.wait(timeout=30) is not None  # the server stopped itself
    finally:
        ctx.close()
        if proc.poll() is None:
            proc.kill()
