"""Who may open the app when it is served on a network: the login settings (standard library + bcrypt).

Streamlit itself only ever listens on loopback (`explorer.serve`). `make run HOST=0.0.0.0` starts Caddy on
HOST (`explorer.network`), which asks the login gate (`explorer.gate`) about every request, page, websocket,
`/media`, uploads and `/_stcore/*` alike, before it reaches Streamlit. This module reads what the gate checks,
from the `[das_login]` table of `.streamlit/secrets.toml` (git-ignored; `[auth]` is the name Streamlit keeps for
`st.login`, so the project does not use it):

    [das_login]
    users = { clinician = "$2b$12$..." }   # bcrypt hashes: `python -m explorer.auth hash clinician`

    [das_login.oidc]                       # optional: single sign-on with the hospital's identity provider
    server_metadata_url = "https://idp.hospital.org/.well-known/openid-configuration"
    client_id = "das-explorer"
    client_secret = "..."
    cookie_secret = "<at least 32 random characters>"
    allowed_domains = ["hospital.org"]     # optional: e-mail domains let in (default: anyone the IdP signs in)

Commands:
    python -m explorer.auth hash USER   asks for a password twice, prints the [das_login] lines
    python -m explorer.auth check       exit 1 with one sentence when no login is configured
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

__all__ = ["SECRETS_FILE", "TABLE", "LOOPBACK", "BCRYPT_MIN_COST", "AuthConfigError", "OidcConfig", "LoginConfig",
           "hash_password", "is_loopback", "load_login", "check_password", "serve_check", "read_secrets", "main"]

SECRETS_FILE = Path(__file__).resolve().parents[1] / ".streamlit" / "secrets.toml"
TABLE = "das_login"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
BCRYPT_MIN_COST = 10  # 2^10 rounds, ~60 ms a guess on one core; `hash` writes cost 12 (~250 ms)
BCRYPT_COST = 12
_BCRYPT = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
_USER = re.compile(r"[A-Za-z0-9._@-]{1,64}")
_HOWTO = "run `python -m explorer.auth hash USER` and put the lines it prints in .streamlit/secrets.toml"


class AuthConfigError(Exception):
    """The login setting is missing or unusable (the message is one sentence)."""


@dataclass(frozen=True)
class OidcConfig:
    """Single sign-on through an OpenID Connect provider (authorization-code flow with PKCE).

    Args:
        server_metadata_url: the provider's `.well-known/openid-configuration` URL.
        client_id, client_secret: the app's registration at the provider.
        cookie_secret: signs the gate's session cookie (at least 32 characters).
        redirect_uri: the callback the provider sends the browser back to (default: the served URL +
            `/_gate/callback`).
        allowed_emails, allowed_domains: who is let in (both empty: anyone the provider signs in).
        session_hours: how long a sign-in lasts.
    """

    server_metadata_url: str
    client_id: str
    client_secret: str
    cookie_secret: str
    redirect_uri: str = ""
    allowed_emails: tuple = ()
    allowed_domains: tuple = ()
    session_hours: float = 12.0

    def allows(self, email: str) -> bool:
        if not self.allowed_emails and not self.allowed_domains:
            return True
        email = (email or "").strip().lower()
        return email in self.allowed_emails or email.rpartition("@")[2] in self.allowed_domains


@dataclass(frozen=True)
class LoginConfig:
    """Args:
    users: user name -> bcrypt hash (HTTP basic login).
    oidc: single sign-on, or None.
    """

    users: Mapping[str, str] = field(default_factory=dict)
    oidc: Optional[OidcConfig] = None


def hash_password(password: str, cost: int = BCRYPT_COST) -> str:
    """A bcrypt hash of `password` (UTF-8, at most 72 bytes: bcrypt ignores the rest, so longer is refused)."""
    import bcrypt

    data = password.encode("utf-8")
    if not data:
        raise AuthConfigError("An empty password protects nothing; choose one.")
    if len(data) > 72:
        raise AuthConfigError("bcrypt reads at most 72 bytes of a password; choose a shorter one.")
    return bcrypt.hashpw(data, bcrypt.gensalt(rounds=cost)).decode("ascii")


def is_loopback(address: Optional[str]) -> bool:
    """True for an address only this machine can reach (None and "" are not: Streamlit then binds every interface)."""
    return address is not None and str(address).strip().strip("[]") in LOOPBACK


def read_secrets(path: Path) -> dict:
    """The TOML file as a dict: UTF-8 with or without a byte-order mark; other encodings and bad TOML are one
    AuthConfigError sentence."""
    import tomllib

    try:
        raw = path.read_bytes()
    except OSError as err:
        raise AuthConfigError(f"{path} cannot be read ({err.strerror}); {_HOWTO}.") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise AuthConfigError(f"{path} is not UTF-8 text (byte {err.start}); save it as UTF-8.") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise AuthConfigError(f"{path} is not valid TOML ({err}); fix it or {_HOWTO}.") from None


def _strings(section: Mapping, key: str, where: str) -> tuple:
    value = section.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AuthConfigError(f"{where}.{key} must be a list of strings.")
    return tuple(v.strip().lower() for v in value)


def _oidc(section: Mapping, where: str) -> OidcConfig:
    if not isinstance(section, Mapping):
        raise AuthConfigError(f"{where} must be a table.")
    values = {}
    for key in ("server_metadata_url", "client_id", "client_secret", "cookie_secret"):
        v = section.get(key)
        if not isinstance(v, str) or not v.strip():
            raise AuthConfigError(f"{where} needs {key} (a non-empty string).")
        values[key] = v.strip()
    if not values["server_metadata_url"].startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise AuthConfigError(f"{where}.server_metadata_url must be an https:// URL.")
    if len(values["cookie_secret"]) < 32:
        raise AuthConfigError(f"{where}.cookie_secret must be at least 32 characters (e.g. `openssl rand -hex 32`).")
    hours = section.get("session_hours", 12.0)
    if not isinstance(hours, (int, float)) or isinstance(hours, bool) or not 0 < hours <= 24 * 7:
        raise AuthConfigError(f"{where}.session_hours must be a number of hours in (0, 168].")
    redirect = section.get("redirect_uri", "")
    if not isinstance(redirect, str):
        raise AuthConfigError(f"{where}.redirect_uri must be a string.")
    return OidcConfig(**values, redirect_uri=redirect.strip(), session_hours=float(hours),
                      allowed_emails=_strings(section, "allowed_emails", where),
                      allowed_domains=_strings(section, "allowed_domains", where))


def load_login(path: Optional[Path] = None) -> LoginConfig:
    """The `[das_login]` table of the secrets file.

    Raises:
        AuthConfigError: one sentence when the file, the table or a usable user / OIDC setting is missing, a hash
            is not bcrypt (SHA-256 and unsalted digests are refused: too fast to guess) or its cost is below 10.
    """
    path = Path(SECRETS_FILE if path is None else path)
    if not path.is_file():
        raise AuthConfigError(f"{path} does not exist; {_HOWTO}.")
    data = read_secrets(path)
    section = data.get(TABLE)
    if section is None:
        if isinstance(data.get("auth"), Mapping) and "password_sha256" in data["auth"]:
            raise AuthConfigError(f"{path} holds an old [auth] SHA-256 password, which is too fast to guess and no "
                                  f"longer accepted; {_HOWTO}.")
        raise AuthConfigError(f"{path} has no [{TABLE}] table; {_HOWTO}.")
    if not isinstance(section, Mapping):
        raise AuthConfigError(f"[{TABLE}] in {path} must be a table; {_HOWTO}.")
    users = section.get("users", {})
    if not isinstance(users, Mapping):
        raise AuthConfigError(f"[{TABLE}].users in {path} must be a table of user = \"bcrypt hash\"; {_HOWTO}.")
    checked = {}
    for user, digest in users.items():
        if not _USER.fullmatch(str(user)):
            raise AuthConfigError(f"User names in [{TABLE}].users use letters, digits and ._@- only (1-64 characters).")
        m = _BCRYPT.fullmatch(digest.strip()) if isinstance(digest, str) else None
        if not m:
            raise AuthConfigError(f"The password of {user!r} in {path} is not a bcrypt hash (empty, SHA-256 and "
                                  f"unsalted digests are refused); {_HOWTO}.")
        if int(m.group(1)) < BCRYPT_MIN_COST:
            raise AuthConfigError(f"The bcrypt cost of {user!r} is {int(m.group(1))}, below {BCRYPT_MIN_COST}; {_HOWTO}.")
        checked[str(user)] = digest.strip()
    oidc = _oidc(section["oidc"], f"[{TABLE}.oidc]") if "oidc" in section else None
    if not checked and oidc is None:
        raise AuthConfigError(f"[{TABLE}] in {path} has neither users nor an [oidc] provider; {_HOWTO}.")
    return LoginConfig(users=checked, oidc=oidc)


_DUMMY: list = []  # a hash checked for unknown users, so a wrong user name takes as long as a wrong password


def check_password(user: str, password: str, config: LoginConfig) -> bool:
    """True when `user` is configured and `password` matches its bcrypt hash."""
    import bcrypt

    data = (password or "").encode("utf-8")
    digest = config.users.get(user)
    if digest is None:
        if not _DUMMY:
            _DUMMY.append(bcrypt.hashpw(b"x", bcrypt.gensalt(rounds=BCRYPT_COST)))
        bcrypt.checkpw(data or b"-", _DUMMY[0])
        return False
    if not data or len(data) > 72:
        return False
    return bcrypt.checkpw(data, digest.encode("ascii"))


def serve_check(path: Optional[Path] = None) -> Optional[str]:
    """None when a login is configured, else the sentence saying what is missing and how to fix it."""
    try:
        load_login(path)
    except AuthConfigError as err:
        return str(err)
    return None


def _hash_command(user: str) -> int:
    if not _USER.fullmatch(user):
        print("A user name uses letters, digits and ._@- only (1-64 characters).", file=sys.stderr)
        return 1
    password = getpass.getpass(f"Password for {user}: ")
    if getpass.getpass("The same password again: ") != password:
        print("The two passwords differ; run the command again.", file=sys.stderr)
        return 1
    try:
        digest = hash_password(password)
    except AuthConfigError as err:
        print(err, file=sys.stderr)
        return 1
    print(f"[{TABLE}]")
    print(f'users = {{ {user} = "{digest}" }}')
    return 0


def main(argv: Optional[list] = None) -> int:
    """`hash USER`: print the [das_login] lines for a password read with getpass; `check`: exit 1 with one
    sentence when serving on a network would start without a login."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 2 and args[0] == "hash":
        return _hash_command(args[1])
    if args == ["check"]:
        problem = serve_check(Path(os.environ.get("DAS_SECRETS", SECRETS_FILE)))
        if problem:
            print(f"Refusing to serve on a network without a login: {problem}", file=sys.stderr)
            return 1
        return 0
    print("usage: python -m explorer.auth hash USER | check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
