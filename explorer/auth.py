"""The password of a demo served on a network (standard library only: `make run` checks it before
Streamlit starts).

`make run HOST=0.0.0.0` sets `DAS_REQUIRE_PASSWORD=1`; the app then asks for the password in the
browser and shows nothing else until it matches. On 127.0.0.1 (the default) no password is asked.
The password is stored as a salted SHA-256 in `.streamlit/secrets.toml` (git-ignored):

    [auth]
    password_sha256 = "<hex of sha256(salt + password)>"
    salt = "<hex>"            # optional; without it the hash is sha256(password)

Commands:
    python -m explorer.auth hash    asks for a password twice, prints the two lines above
    python -m explorer.auth check   exit 1 with one sentence when no password is configured
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import os
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

__all__ = ["REQUIRE_ENV", "SECRETS_FILE", "LOOPBACK", "AuthConfigError", "AuthConfig", "hash_password",
           "password_required", "load_auth", "check_password", "serve_check", "main"]

REQUIRE_ENV = "DAS_REQUIRE_PASSWORD"
SECRETS_FILE = Path(__file__).resolve().parents[1] / ".streamlit" / "secrets.toml"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_HOWTO = "run `python -m explorer.auth hash` and put the lines it prints in .streamlit/secrets.toml"


class AuthConfigError(Exception):
    """The password setting is missing or unusable (the message is one sentence)."""


@dataclass(frozen=True)
class AuthConfig:
    """The configured password: its SHA-256 hex and the salt it was made with ("" for none)."""

    password_sha256: str
    salt: str = ""


def hash_password(password: str, salt: str = "") -> str:
    """SHA-256 hex of `salt + password` (UTF-8)."""
    return hashlib.sha256((salt + password).encode("utf-8")).hexdigest()


def password_required(environ: Optional[Mapping[str, str]] = None, address: Optional[str] = None) -> bool:
    """True when the app must ask for a password: `DAS_REQUIRE_PASSWORD` is 1/true/yes, or the server was
    told to listen on an address other than loopback (`address`, Streamlit's `server.address`; None is
    not counted: the project's .streamlit/config.toml sets 127.0.0.1).

    Args:
        environ: the environment (default os.environ).
        address: the server address the app was started with, or None.
    """
    env = os.environ if environ is None else environ
    if str(env.get(REQUIRE_ENV, "")).strip().lower() in ("1", "true", "yes", "on"):
        return True
    return address is not None and str(address).strip() not in ("", *LOOPBACK)


def _read_toml(path: Path) -> dict:
    try:
        import tomllib  # Python 3.11+
    except ImportError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            return _read_auth_section(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise AuthConfigError(f"{path} is not valid TOML ({err}); fix it or {_HOWTO}.") from None


def _read_auth_section(path: Path) -> dict:  # pragma: no cover - Python 3.10 without tomli
    """The `key = "value"` lines of the [auth] table (enough for this file's two keys)."""
    out: dict = {}
    table = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("["):
            table = line.strip("[] ")
        elif table == "auth" and "=" in line:
            key, value = (p.strip() for p in line.split("=", 1))
            out[key] = value.strip("\"'")
    return {"auth": out} if out else {}


def load_auth(path: Optional[Path] = None) -> AuthConfig:
    """The password setting of `[auth]` in the secrets file.

    Args:
        path: the TOML file (default SECRETS_FILE, .streamlit/secrets.toml of the project).

    Raises:
        AuthConfigError: one sentence when the file, the table or a usable hash is missing.
    """
    path = Path(SECRETS_FILE if path is None else path)
    if not path.is_file():
        raise AuthConfigError(f"{path} does not exist; {_HOWTO}.")
    section = _read_toml(path).get("auth")
    digest = section.get("password_sha256") if isinstance(section, dict) else None
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest.strip()):
        raise AuthConfigError(f"{path} has no [auth] password_sha256 (64 hex digits); {_HOWTO}.")
    salt = section.get("salt", "")
    if not isinstance(salt, str):
        raise AuthConfigError(f"[auth] salt in {path} must be a string; {_HOWTO}.")
    return AuthConfig(digest.strip().lower(), salt)


def check_password(password: str, config: AuthConfig) -> bool:
    """True when `password` matches (constant-time comparison of the hashes)."""
    return hmac.compare_digest(hash_password(password or "", config.salt), config.password_sha256)


def serve_check(path: Optional[Path] = None) -> Optional[str]:
    """None when a password is configured, else the sentence saying what is missing and how to fix it."""
    try:
        load_auth(path)
    except AuthConfigError as err:
        return str(err)
    return None


def _hash_command() -> int:
    password = getpass.getpass("Password for the app: ")
    if not password:
        print("An empty password protects nothing; run the command again and type one.", file=sys.stderr)
        return 1
    if getpass.getpass("The same password again: ") != password:
        print("The two passwords differ; run the command again.", file=sys.stderr)
        return 1
    salt = secrets.token_hex(16)
    print("[auth]")
    print(f'password_sha256 = "{hash_password(password, salt)}"')
    print(f'salt = "{salt}"')
    return 0


def main(argv: Optional[list] = None) -> int:
    """`hash`: print the [auth] lines for a password read with getpass; `check`: exit 1 with one
    sentence when serving on a network would start without a password."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["hash"]:
        return _hash_command()
    if args == ["check"]:
        problem = serve_check()
        if problem:
            print(f"Refusing to serve on a network without a password: {problem}", file=sys.stderr)
            return 1
        return 0
    print("usage: python -m explorer.auth hash | check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
