"""Serving on a network: the login settings (`explorer.auth`), the gate's decisions and throttle
(`explorer.gate`), Streamlit kept on loopback (`explorer.serve`), and the real stack (`explorer.network`: Caddy
in front of the gate and Streamlit on 127.0.0.1) answering 401 on every path without credentials."""

from __future__ import annotations

import base64
import logging
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from explorer import auth, gate, network, serve

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def digest() -> str:
    return auth.hash_password(PASSWORD, cost=auth.BCRYPT_MIN_COST)


def _secrets(tmp_path: Path, text: str, name: str = "secrets.toml", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# ----------------------------------------------------------------------------- the settings

def test_a_bcrypt_user_loads_and_checks(tmp_path, digest):
    cfg = auth.load_login(_secrets(tmp_path, f'[das_login]\nusers = {{ alice = "{digest}" }}\n'))
    assert auth.check_password("alice", PASSWORD, cfg)
    assert not auth.check_password("alice", PASSWORD + " ", cfg) and not auth.check_password("alice", "", cfg)
    assert not auth.check_password("bob", PASSWORD, cfg)


def test_a_byte_order_mark_is_accepted_and_other_encodings_are_one_sentence(tmp_path, digest):
    text = f'[das_login]\nusers = {{ alice = "{digest}" }}\n'
    assert auth.load_login(_secrets(tmp_path, text, "bom.toml", "utf-8-sig")).users["alice"] == digest
    bad = tmp_path / "latin.toml"
    bad.write_bytes(text.encode() + "# caf\xe9\n".encode("latin-1"))
    problem = auth.serve_check(bad)
    assert problem == f"{bad} is not UTF-8 text (byte {len(text.encode()) + 5}); save it as UTF-8."


@pytest.mark.parametrize("value, words", [
    ('""', "not a bcrypt hash"),
    ('"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"', "not a bcrypt hash"),  # sha256("")
    ('"$2b$04$' + "a" * 53 + '"', "below 10"),
])
def test_empty_fast_and_cheap_hashes_are_refused(tmp_path, value, words):
    problem = auth.serve_check(_secrets(tmp_path, f"[das_login]\nusers = {{ alice = {value} }}\n"))
    assert words in problem and problem.count(".") >= 1 and "\n" not in problem


def test_the_old_sha256_table_is_refused_with_the_fix(tmp_path):
    problem = auth.serve_check(_secrets(tmp_path, '[auth]\npassword_sha256 = "' + "0" * 64 + '"\n'))
    assert "old [auth] SHA-256 password" in problem and "python -m explorer.auth hash USER" in problem
    assert "does not exist" in auth.serve_check(tmp_path / "none.toml")
    assert "has no [das_login] table" in auth.serve_check(_secrets(tmp_path, "[server]\nport = 1\n", "o.toml"))
    assert "not valid TOML" in auth.serve_check(_secrets(tmp_path, "[das_login\n", "b.toml"))


def test_the_hash_command_prints_a_loadable_table(tmp_path, monkeypatch, capsys):
    answers = iter([PASSWORD, PASSWORD])
    monkeypatch.setattr(auth.getpass, "getpass", lambda prompt="": next(answers))
    assert auth.main(["hash", "alice"]) == 0
    cfg = auth.load_login(_secrets(tmp_path, capsys.readouterr().out))
    assert auth.check_password("alice", PASSWORD, cfg)
    answers = iter(["", ""])
    assert auth.main(["hash", "alice"]) == 1 and "empty password" in capsys.readouterr().err


def test_the_check_command_exits_non_zero_with_one_sentence(tmp_path, monkeypatch, capsys, digest):
    monkeypatch.setenv("DAS_SECRETS", str(tmp_path / "secrets.toml"))
    assert auth.main(["check"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("Refusing to serve on a network without a login:") and "\n" not in err
    _secrets(tmp_path, f'[das_login]\nusers = {{ alice = "{digest}" }}\n')
    assert auth.main(["check"]) == 0


def test_oidc_settings_are_checked(tmp_path):
    base = ('[das_login.oidc]\nserver_metadata_url = "https://idp.example/.well-known/openid-configuration"\n'
            'client_id = "das"\nclient_secret = "s"\n')
    assert "cookie_secret" in auth.serve_check(_secrets(tmp_path, base, "a.toml"))
    assert "at least 32" in auth.serve_check(_secrets(tmp_path, base + 'cookie_secret = "short"\n', "b.toml"))
    cfg = auth.load_login(_secrets(tmp_path, base + f'cookie_secret = "{"x" * 32}"\nallowed_domains = ["Hospital.org"]\n',
                                   "c.toml"))
    assert cfg.oidc.allows("dr.a@hospital.org") and not cfg.oidc.allows("eve@example.com") and not cfg.users


# ----------------------------------------------------------------------------- the gate's decisions

def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_gate_lets_in_the_right_password_and_logs_a_wrong_one(digest, caplog):
    g = gate.Gate(auth.LoginConfig(users={"alice": digest}))
    status, headers, _ = g.check({"X-Forwarded-For": "10.0.0.9"})
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic ")
    assert g.check({"Authorization": _basic("alice", PASSWORD), "X-Forwarded-For": "10.0.0.9"})[0] == 200
    with caplog.at_level(logging.WARNING, logger="das.gate"):
        assert g.check({"Authorization": _basic("alice", "guess"), "X-Forwarded-For": "10.0.0.9"})[0] == 401
    assert "failed login for user 'alice' from 10.0.0.9" in caplog.text and "guess" not in caplog.text
    assert g.check({"Authorization": _basic("alice", ""), "X-Forwarded-For": "10.0.0.9"})[0] == 401
    assert g.check({"Authorization": "Basic !!notbase64", "X-Forwarded-For": "10.0.0.9"})[0] == 401


def test_failed_logins_are_throttled_per_address_and_overall():
    t = gate.Throttle(free=3, global_failures=10)
    for i in range(3):
        assert t.wait("a", now=100.0 + i) == 0
        t.failed("a", now=100.0 + i)
    assert t.wait("a", now=102.5) == pytest.approx(1.5)  # the 4th try waits 2 s after the 3rd failure
    assert t.wait("b", now=102.5) == 0  # another address is not held up
    t.failed("a", now=105.0)
    assert t.wait("a", now=105.0) == pytest.approx(4.0)  # doubles
    for i in range(6):
        t.failed(f"c{i}", now=106.0)
    assert t.wait("d", now=106.5) == gate.GLOBAL_WAIT_S  # 10 failures in a minute from everyone together
    assert t.wait("d", now=170.0) == 0


def test_a_throttled_address_is_not_even_checked(digest):
    g = gate.Gate(auth.LoginConfig(users={"alice": digest}))
    for _ in range(gate.FREE_FAILURES):
        g.check({"Authorization": _basic("alice", "nope"), "X-Forwarded-For": "10.0.0.7"})
    status, headers, _ = g.check({"Authorization": _basic("alice", PASSWORD), "X-Forwarded-For": "10.0.0.7"})
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert g.check({"Authorization": _basic("alice", PASSWORD), "X-Forwarded-For": "10.0.0.8"})[0] == 200


def test_sign_in_returns_only_to_a_path_of_this_site():
    assert gate._safe_next("/compare?x=1") == "/compare?x=1"
    for bad in ("https://evil.example/", "//evil.example/", "/\\evil", "javascript:alert(1)", "/_gate/login"):
        assert gate._safe_next(bad) == "/"


# ----------------------------------------------------------------------------- Streamlit on loopback only

def test_serve_keeps_streamlit_on_loopback():
    assert serve.loopback_args(["--server.port", "1"], {}) == ["--server.port", "1", "--server.address", "127.0.0.1"]
    assert serve.loopback_args(["--server.address=::1"], {})[-1] == "::1"
    for args, env in ((["--server.address", "0.0.0.0"], {}), (["--server.address", ""], {}),
                      ([], {"STREAMLIT_SERVER_ADDRESS": "10.1.2.3"})):
        with pytest.raises(ValueError, match="only listens on loopback"):
            serve.loopback_args(args, env)


def test_session_ids_are_cut_out_of_streamlit_log_lines(caplog):
    old = logging.getLogRecordFactory()
    try:
        serve.redact_session_ids()
        with caplog.at_level(logging.WARNING):
            logging.getLogger("streamlit.runtime.x").warning("Session with id %s is already connected!",
                                                              "0a1b2c3d-1111-2222-3333-444455556666")
            logging.getLogger("other").warning("id 0a1b2c3d-1111-2222-3333-444455556666")
    finally:
        logging.setLogRecordFactory(old)
    assert "Session with id <session> is already connected!" in caplog.text
    assert "0a1b2c3d-1111-2222-3333-444455556666" in caplog.text.split("already connected!")[1]  # other loggers untouched


def _listening(port: int) -> set:
    """The local addresses with a listening TCP socket on `port` (from /proc/net/tcp and tcp6)."""
    out = set()
    for name, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, _, p = local.partition(":")
            if state != "0A" or int(p, 16) != port:
                continue
            raw = bytes.fromhex(addr)
            if width == 8:
                out.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                out.add(socket.inet_ntop(socket.AF_INET6, words))
    return out


def test_streamlit_run_from_another_folder_listens_on_loopback_only(tmp_path):
    """Plain `streamlit run /path/app.py` from a home folder: the app's own .streamlit/config.toml still applies."""
    port = network.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.port",
                             str(port), "--server.headless", "true"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _listening(port):
            time.sleep(0.3)
        assert _listening(port) == {"127.0.0.1"}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_the_caddyfile_guards_every_path_but_the_gate_s_own():
    cfg = network.ProxyConfig(host="0.0.0.0", port=8443, app_port=1111, gate_port=2222,
                              server_names=("das.hospital.org",), cert="/etc/ssl/das.pem", key="/etc/ssl/das.key")
    text = network.caddyfile(cfg)
    assert "https://das.hospital.org:8443" in text and 'tls "/etc/ssl/das.pem" "/etc/ssl/das.key"' in text
    assert "bind 0.0.0.0" in text and "admin off" in text and "log" not in text.replace("login", "")
    guarded = text[text.index("\thandle {"):]
    assert guarded.index("forward_auth 127.0.0.1:2222") < guarded.index("reverse_proxy 127.0.0.1:1111")
    assert "respond /_stcore/metrics" in guarded
    assert "tls internal" in network.caddyfile(network.ProxyConfig("127.0.0.1", 1, 2, 3))


# ----------------------------------------------------------------------------- the real stack

@pytest.fixture(scope="module")
def stack(tmp_path_factory, digest):
    tmp = tmp_path_factory.mktemp("net")
    secrets = _secrets(tmp, f'[das_login]\nusers = {{ alice = "{digest}" }}\n')
    s = network.start("127.0.0.1", network.free_port(), secrets=secrets, storage=str(tmp / "caddy"),
                      env={"DAS_APP_RUNS": str(tmp / "runs")})
    yield s
    s.stop()


def _get(url: str, *, auth_header: str = "", method: str = "GET", data: bytes = None):
    import urllib.request

    req = urllib.request.Request(url, method=method, data=data)
    if auth_header:
        req.add_header("Authorization", auth_header)
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _ws(url: str, headers: dict, subprotocols=("streamlit",)):
    from websockets.sync.client import connect

    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    return connect(url, ssl=ctx, additional_headers=headers, subprotocols=list(subprotocols), open_timeout=20)


def _session_id(base_ws: str, headers: dict) -> str:
    """A real Streamlit session id, as a logged-in browser gets it (from the first script run's NewSession)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    with _ws(base_ws, headers) as ws:
        msg = BackMsg()
        msg.rerun_script.query_string = ""
        msg.rerun_script.page_script_hash = ""
        ws.send(msg.SerializeToString())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            fwd = ForwardMsg()
            fwd.ParseFromString(ws.recv(timeout=60))
            if fwd.WhichOneof("type") == "new_session":
                return fwd.new_session.initialize.session_id
    raise AssertionError("no new_session message")


def test_without_credentials_every_path_answers_401(stack):
    from websockets.exceptions import InvalidStatus

    base = f"https://127.0.0.1:{stack.cfg.port}"
    for path in ("/", "/compare", "/_stcore/health", "/_stcore/metrics", "/_stcore/host-config",
                 "/media/0123456789abcdef.html", "/static/js/index.js", "/app/static/x.png"):
        assert _get(base + path)[0] == 401, path
    assert _get(base + "/_stcore/upload_file/abc/def", method="PUT", data=b"x")[0] == 401
    with pytest.raises(InvalidStatus) as err:
        _ws(base.replace("https", "wss") + "/_stcore/stream", {})
    assert err.value.response.status_code == 401
    assert _get(base + "/", auth_header=_basic("alice", "wrong"))[0] == 401


def test_with_credentials_the_app_answers_and_metrics_stay_off(stack):
    base = f"https://127.0.0.1:{stack.cfg.port}"
    ok = _basic("alice", PASSWORD)
    status, body = _get(base + "/", auth_header=ok)
    assert status == 200 and b"<html" in body.lower()
    assert _get(base + "/_stcore/health", auth_header=ok) == (200, b"ok")
    assert _get(base + "/_stcore/metrics", auth_header=ok)[0] == 404  # sessions and caches: not on a network


def test_a_leaked_session_id_without_credentials_gets_nothing(stack):
    from websockets.exceptions import InvalidStatus

    wss = f"wss://127.0.0.1:{stack.cfg.port}/_stcore/stream"
    sid = _session_id(wss, {"Authorization": _basic("alice", PASSWORD)})
    assert len(sid) == 36
    with pytest.raises(InvalidStatus) as err:  # reconnecting to it, as Streamlit's frontend does, without a login
        _ws(wss, {}, subprotocols=("streamlit", "xsrf", sid))
    assert err.value.response.status_code == 401
    base = f"https://127.0.0.1:{stack.cfg.port}"
    assert _get(f"{base}/_stcore/upload_file/{sid}/file-1", method="PUT", data=b"x")[0] == 401


def test_streamlit_behind_the_proxy_is_reachable_on_loopback_only(stack):
    assert _listening(stack.cfg.app_port) == {"127.0.0.1"}
    assert _listening(stack.cfg.gate_port) == {"127.0.0.1"}
    others = [a for a in socket.gethostbyname_ex(socket.gethostname())[2] if not a.startswith("127.")]
    for addr in others:  # this machine's network addresses do not reach Streamlit
        with pytest.raises(OSError):
            socket.create_connection((addr, stack.cfg.app_port), timeout=2).close()


def test_the_stack_refuses_to_start_without_a_login(tmp_path):
    with pytest.raises(auth.AuthConfigError, match="does not exist"):
        network.start("127.0.0.1", network.free_port(), secrets=tmp_path / "none.toml")
    out = subprocess.run([sys.executable, "-m", "explorer.network", "--host", "0.0.0.0", "--port", "1",
                          "--secrets", str(tmp_path / "none.toml")], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ}, timeout=60)
    assert out.returncode == 1 and out.stderr.startswith("Refusing to serve on a network:")


def test_certificates_cover_the_names_users_type():
    assert network._server_names("0.0.0.0", ())[0] == socket.gethostname()
    assert network._server_names("10.0.0.5", ())[0] == "10.0.0.5"
    assert network._server_names("0.0.0.0", ("das.hospital.org",)) == ("das.hospital.org",)
