"""The login gate in front of the app on a network: Caddy's `forward_auth` asks it about every request.

`python -m explorer.gate --port P --public-url https://host:8501` listens on 127.0.0.1 only. Caddy
(`explorer.network`) sends it a copy of each request's headers at `/auth` before proxying the request to
Streamlit; a 2xx answer lets the request through, any other answer goes back to the browser instead. So every
path, the page, the websocket `/_stcore/stream`, `/media/*`, uploads and `/_stcore/*`, needs a login, and a
leaked Streamlit session id is worth nothing without one.

Two ways in (`explorer.auth` reads them from `[das_login]` in .streamlit/secrets.toml):
- HTTP basic login against bcrypt hashes. A verified (user, password) pair is remembered for 10 minutes as an
  HMAC (the browser sends it with every request; bcrypt each time would cost ~250 ms per request). Failed
  logins are logged (user name, client address; never the password) and throttled: after `FREE_FAILURES`
  failures in `WINDOW_S` from one address each further try waits 2^n s (up to 15 min), and above
  `GLOBAL_FAILURES` failures a minute from all addresses together new logins wait `GLOBAL_WAIT_S` (sessions
  already verified pass).
- Single sign-on (OpenID Connect, authorization code with PKCE, Authlib): a page request without a session
  cookie is sent to `/_gate/login`, then to the provider; `/_gate/callback` checks the ID token (issuer,
  audience, nonce, expiry, signature by the provider's JWKS) and sets a signed, HttpOnly session cookie.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import logging
import secrets
import sys
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from explorer import auth

__all__ = ["FREE_FAILURES", "WINDOW_S", "GLOBAL_FAILURES", "GLOBAL_WAIT_S", "Throttle", "Gate", "serve", "main"]

log = logging.getLogger("das.gate")

FREE_FAILURES = 5        # failed logins from one address before it must wait
WINDOW_S = 15 * 60       # failures older than this are forgotten
MAX_WAIT_S = 15 * 60     # the longest wait for one address
GLOBAL_FAILURES = 60     # failed logins a minute, all addresses together, before new logins wait
GLOBAL_WAIT_S = 30
VERIFIED_S = 10 * 60     # how long a verified basic-login pair is remembered
COOKIE = "das_session"
REALM = "DAS Explorer"


@dataclass
class Throttle:
    """Failed-login bookkeeping per client address and for all addresses together."""

    free: int = FREE_FAILURES
    window_s: float = WINDOW_S
    global_failures: int = GLOBAL_FAILURES
    _by_addr: dict = field(default_factory=dict)
    _recent: deque = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, addr: str, now: Optional[float] = None) -> float:
        """Seconds `addr` must wait before its next login is checked (0: check it now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._forget(now)
            while self._recent and self._recent[0] < now - 60:
                self._recent.popleft()
            if len(self._recent) >= self.global_failures:
                return float(GLOBAL_WAIT_S)
            times = self._by_addr.get(addr)
            if not times or len(times) < self.free:
                return 0.0
            delay = min(2.0 ** (len(times) - self.free + 1), MAX_WAIT_S)
            return max(0.0, times[-1] + delay - now)

    def failed(self, addr: str, now: Optional[float] = None) -> int:
        """Record a failed login; returns the address's failures in the window."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._by_addr.setdefault(addr, []).append(now)
            self._recent.append(now)
            return len(self._by_addr[addr])

    def _forget(self, now: float) -> None:
        for addr in list(self._by_addr):
            kept = [t for t in self._by_addr[addr] if t > now - self.window_s]
            if kept:
                self._by_addr[addr] = kept
            else:
                del self._by_addr[addr]


class Gate:
    """The decisions, apart from HTTP: `check(headers)` -> (status, headers, body).

    Args:
        config: the login settings (`explorer.auth.load_login`).
        public_url: the URL users open (https://host:port), for the OIDC callback and the cookie's Secure flag.
    """

    def __init__(self, config: auth.LoginConfig, public_url: str = "https://localhost"):
        self.config = config
        self.public_url = public_url.rstrip("/")
        self.throttle = Throttle()
        self._key = secrets.token_bytes(32)
        self._verified: dict = {}  # HMAC of user + password -> expiry (monotonic)
        self._pending: dict = {}   # OIDC state -> (nonce, code verifier, next path, created)
        self._metadata: Optional[dict] = None
        self._lock = threading.Lock()
        oidc = config.oidc
        self._serializer = None
        if oidc is not None:
            from itsdangerous import URLSafeTimedSerializer

            self._serializer = URLSafeTimedSerializer(oidc.cookie_secret, salt="das-explorer-session")

    # ------------------------------------------------------------------ forward_auth
    def check(self, headers) -> tuple[int, dict, bytes]:
        addr = (headers.get("X-Forwarded-For") or "?").split(",")[0].strip()
        user = self._session_user(headers.get("Cookie", ""))
        if user:
            return 200, {"X-Das-User": user}, b""
        basic = _basic(headers.get("Authorization", ""))
        if basic is not None and self.config.users:
            name, password = basic
            token = hmac.new(self._key, f"{name}\0{password}".encode("utf-8", "replace"), hashlib.sha256).digest()
            now = time.monotonic()
            with self._lock:
                expiry = self._verified.get(token)
            if expiry is not None and expiry > now:
                return 200, {"X-Das-User": name}, b""
            wait = self.throttle.wait(addr)
            if wait > 0:
                log.warning("login throttled for %s (wait %.0f s)", addr, wait)
                return 429, {"Retry-After": str(int(wait) + 1), "Content-Type": "text/plain"}, \
                    b"Too many failed logins; wait and try again.\n"
            if auth.check_password(name, password, self.config):
                with self._lock:
                    if len(self._verified) > 1000:
                        self._verified = {k: v for k, v in self._verified.items() if v > now}
                    self._verified[token] = now + VERIFIED_S
                log.info("login of %r from %s", name[:64], addr)
                return 200, {"X-Das-User": name}, b""
            n = self.throttle.failed(addr)
            log.warning("failed login for user %r from %s (%d in %d min)", name[:64], addr, n, WINDOW_S // 60)
        elif basic is not None:
            log.warning("basic login from %s refused: no users are configured", addr)
        if self.config.oidc is not None and _is_navigation(headers):
            target = headers.get("X-Forwarded-Uri") or "/"
            return 302, {"Location": "/_gate/login?" + urllib.parse.urlencode({"next": _safe_next(target)})}, b""
        out = {"Content-Type": "text/plain"}
        if self.config.users:
            out["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
        return 401, out, b"Log in to open DAS Explorer.\n"

    # ------------------------------------------------------------------ OIDC
    def _session_user(self, cookie_header: str) -> Optional[str]:
        if self._serializer is None:
            return None
        from itsdangerous import BadSignature

        for part in cookie_header.split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and value:
                try:
                    data = self._serializer.loads(value, max_age=int(self.config.oidc.session_hours * 3600))
                except BadSignature:
                    return None
                return str(data.get("email") or data.get("sub") or "") or None
        return None

    def metadata(self) -> dict:
        if self._metadata is None:
            import requests

            r = requests.get(self.config.oidc.server_metadata_url, timeout=10)
            r.raise_for_status()
            self._metadata = r.json()
        return self._metadata

    def redirect_uri(self) -> str:
        return self.config.oidc.redirect_uri or f"{self.public_url}/_gate/callback"

    def _client(self):
        from authlib.integrations.requests_client import OAuth2Session

        o = self.config.oidc
        return OAuth2Session(o.client_id, o.client_secret, scope="openid email profile",
                             redirect_uri=self.redirect_uri(), code_challenge_method="S256")

    def login(self, query: dict) -> tuple[int, dict, bytes]:
        """`/_gate/login?next=/path`: to the provider's authorization endpoint."""
        nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        url, state = self._client().create_authorization_url(self.metadata()["authorization_endpoint"],
                                                             nonce=nonce, code_verifier=verifier)
        now = time.monotonic()
        with self._lock:
            self._pending = {k: v for k, v in self._pending.items() if v[3] > now - 600}
            self._pending[state] = (nonce, verifier, _safe_next(query.get("next", "/")), now)
        return 302, {"Location": url}, b""

    def callback(self, query: dict) -> tuple[int, dict, bytes]:
        """`/_gate/callback?code=...&state=...`: the code for tokens, the ID token checked, the cookie set."""
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet
        import requests

        with self._lock:
            pending = self._pending.pop(query.get("state", ""), None)
        if pending is None or "code" not in query:
            log.warning("sign-in callback with an unknown or expired state")
            return 400, {"Content-Type": "text/plain"}, b"This sign-in expired or was not started here; open the app again.\n"
        nonce, verifier, target, _ = pending
        meta, o = self.metadata(), self.config.oidc
        try:
            token = self._client().fetch_token(meta["token_endpoint"], code=query["code"], code_verifier=verifier,
                                               grant_type="authorization_code")
            keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
            decoded = jwt.decode(token["id_token"], keys)
            jwt.JWTClaimsRegistry(iss={"essential": True, "value": meta["issuer"]},
                                  aud={"essential": True, "value": o.client_id},
                                  nonce={"essential": True, "value": nonce},
                                  exp={"essential": True}).validate(decoded.claims)
        except (JoseError, KeyError, ValueError, requests.RequestException) as err:
            log.warning("sign-in refused: the ID token did not check out (%s)", type(err).__name__)
            return 403, {"Content-Type": "text/plain"}, b"The sign-in could not be verified; try again.\n"
        claims = decoded.claims
        email = str(claims.get("email") or "")
        if not o.allows(email):
            log.warning("sign-in refused for %r: not in allowed_emails / allowed_domains", email[:64])
            return 403, {"Content-Type": "text/plain"}, b"Your account is not allowed to open this app.\n"
        value = self._serializer.dumps({"sub": str(claims.get("sub", "")), "email": email})
        secure = "; Secure" if self.public_url.startswith("https://") else ""
        cookie = f"{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={int(o.session_hours * 3600)}{secure}"
        log.info("sign-in of %r", (email or str(claims.get("sub", "")))[:64])
        return 302, {"Location": target, "Set-Cookie": cookie}, b""

    def logout(self) -> tuple[int, dict, bytes]:
        return 302, {"Location": "/", "Set-Cookie": f"{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"}, b""


def _basic(header: str) -> Optional[tuple[str, str]]:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _is_navigation(headers) -> bool:
    if (headers.get("X-Forwarded-Method") or "GET").upper() != "GET" or headers.get("Upgrade"):
        return False
    mode = headers.get("Sec-Fetch-Mode")
    return mode == "navigate" if mode else "text/html" in (headers.get("Accept") or "")


def _safe_next(target: str) -> str:
    """Only a path on this site (no scheme, no //host) is a place to return to after signing in."""
    target = str(target or "/")
    if not target.startswith("/") or target.startswith("//") or "\\" in target or target.startswith("/_gate/"):
        return "/"
    return target


class _Handler(http.server.BaseHTTPRequestHandler):
    gate: Gate
    server_version = "das-gate"
    sys_version = ""

    def log_message(self, fmt, *args):  # the request line would carry query strings: not logged
        pass

    def _send(self, status: int, headers: dict, body: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's naming
        path, _, qs = self.path.partition("?")
        query = {k: v[0] for k, v in urllib.parse.parse_qs(qs).items()}
        try:
            if path == "/auth":
                return self._send(*self.gate.check(self.headers))
            if self.gate.config.oidc is not None:
                if path == "/_gate/login":
                    return self._send(*self.gate.login(query))
                if path == "/_gate/callback":
                    return self._send(*self.gate.callback(query))
                if path == "/_gate/logout":
                    return self._send(*self.gate.logout())
            self._send(404, {"Content-Type": "text/plain"}, b"Not found.\n")
        except Exception as err:  # noqa: BLE001 - a gate that fails must refuse, never let through
            log.error("login gate error: %s", type(err).__name__)
            self._send(503, {"Content-Type": "text/plain"}, b"The login service is unavailable; try again.\n")

    do_HEAD = do_GET
    do_POST = do_GET


def serve(gate: Gate, port: int, host: str = "127.0.0.1") -> http.server.ThreadingHTTPServer:
    """A started server (in a daemon thread) answering for `gate`; `.shutdown()` stops it."""
    handler = type("GateHandler", (_Handler,), {"gate": gate})
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="das-gate", daemon=True).start()
    return server


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m explorer.gate", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--public-url", required=True)
    p.add_argument("--secrets", type=Path, default=auth.SECRETS_FILE)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s gate %(levelname)s %(message)s", stream=sys.stderr)
    try:
        config = auth.load_login(args.secrets)
    except auth.AuthConfigError as err:
        print(f"Refusing to serve on a network without a login: {err}", file=sys.stderr)
        return 1
    server = serve(Gate(config, args.public_url), args.port)
    print(json.dumps({"gate": f"127.0.0.1:{server.server_address[1]}"}), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
