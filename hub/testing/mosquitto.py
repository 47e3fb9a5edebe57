"""A real Mosquitto broker for tests and benchmarks, on a free loopback port.

::

    with Mosquitto(tmp_path) as broker:                 # anonymous
        ...  # connect to broker.host, broker.port
    with Mosquitto(tmp_path, users={"hub": "s3cret"}):  # password file, no anonymous
    with Mosquitto(tmp_path, tls=True) as broker:       # CA + server cert made here
        broker.ca_file, broker.client_cert_file, broker.client_key_file

Each instance writes its config, password file and certificates into its own
directory, starts ``mosquitto -c <config>`` and waits until the port accepts
connections. :meth:`restart` stops the broker and starts it again on the
*same* port (a broker restart as seen by clients). Certificates are made with
the ``openssl`` command line tool.

Needs the ``mosquitto`` binary (Debian: ``apt-get install mosquitto``).
"""

from __future__ import annotations

__all__ = ["Mosquitto", "MosquittoError", "find_mosquitto", "free_port"]

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

_INSTALL_HINT = "install it with `apt-get install mosquitto` (Debian/Ubuntu)"


class MosquittoError(RuntimeError):
    """The broker binary is missing, or the broker did not start."""


def find_mosquitto() -> str:
    """Path of the ``mosquitto`` binary (``$PATH``, then ``/usr/sbin``)."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise MosquittoError(f"the mosquitto broker binary was not found; {_INSTALL_HINT}")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _run(cmd: Sequence[str], cwd: Path) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise MosquittoError(f"{cmd[0]} {cmd[1]} failed: {proc.stderr.strip()[-500:]}")


def _make_certificates(directory: Path) -> None:
    """CA, server (CN/SAN localhost + 127.0.0.1) and client certificates, EC P-256."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise MosquittoError("TLS test brokers need the openssl command line tool")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _run(
        [
            openssl,
            "req",
            "-x509",
            *ec,
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=crowdhub test CA",
        ],
        directory,
    )
    (directory / "server.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
    )
    (directory / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        _run(
            [
                openssl,
                "req",
                "-new",
                *ec,
                "-keyout",
                f"{name}.key",
                "-out",
                f"{name}.csr",
                "-subj",
                f"/CN={'localhost' if name == 'server' else 'crowdhub-test-client'}",
            ],
            directory,
        )
        _run(
            [
                openssl,
                "x509",
                "-req",
                "-in",
                f"{name}.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                f"{name}.crt",
                "-days",
                "2",
                "-extfile",
                f"{name}.ext",
            ],
            directory,
        )


class Mosquitto:
    """One Mosquitto broker process. Use as a context manager, or ``start()``/``stop()``.

    ``users`` maps user name to password and turns anonymous access off. ``tls``
    serves MQTT over TLS only, with certificates generated in ``directory``;
    ``require_client_cert`` additionally makes the broker demand a client
    certificate signed by the same CA. ``extra_config`` lines are appended to
    the generated ``mosquitto.conf`` (e.g. ``"max_queued_messages 0"``).
    """

    host = "127.0.0.1"

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        users: Mapping[str, str] | None = None,
        tls: bool = False,
        require_client_cert: bool = False,
        extra_config: Sequence[str] = (),
        port: int | None = None,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mosquitto-")
            directory = self._tmp.name
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.binary = find_mosquitto()
        self.users = dict(users or {})
        self.tls = tls or require_client_cert
        self.require_client_cert = require_client_cert
        self.extra_config = list(extra_config)
        self.port = port or free_port(self.host)
        self.log_file = self.directory / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._configured = False

    # -- files ---------------------------------------------------------------------------
    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def client_cert_file(self) -> Path:
        return self.directory / "client.crt"

    @property
    def client_key_file(self) -> Path:
        return self.directory / "client.key"

    @property
    def config_file(self) -> Path:
        return self.directory / "mosquitto.conf"

    def _configure(self) -> None:
        d = self.directory
        lines = [
            f"listener {self.port} {self.host}",
            "persistence false",
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages true",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to 'mosquitto' and cannot read our files
        if self.users:
            passwd = d / "passwd"
            passwd.write_text("")
            passwd.chmod(0o600)
            tool = shutil.which("mosquitto_passwd") or shutil.which(
                "mosquitto_passwd", path="/usr/sbin:/usr/local/sbin"
            )
            if tool is None:
                raise MosquittoError(f"mosquitto_passwd was not found; {_INSTALL_HINT}")
            for user, password in self.users.items():
                _run([tool, "-b", str(passwd), user, password], d)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if self.tls:
            _make_certificates(d)
            lines += [f"cafile {d / 'ca.crt'}", f"certfile {d / 'server.crt'}"]
            lines += [f"keyfile {d / 'server.key'}"]
            if self.require_client_cert:
                lines.append("require_certificate true")
        lines += self.extra_config
        self.config_file.write_text("\n".join(lines) + "\n")
        self._configured = True

    # -- process -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 10.0) -> None:
        """Start the broker and wait until its port accepts connections."""
        if self.running:
            return
        if not self._configured:
            self._configure()
        with open(self.directory / "stderr.txt", "ab") as stderr:
            self._proc = subprocess.Popen(
                [self.binary, "-c", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        deadline = time.monotonic() + timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                err = (self.directory / "stderr.txt").read_text(errors="replace")
                self._proc = None
                raise MosquittoError(
                    f"mosquitto exited with status {code} on start: {err.strip()[-300:]} "
                    f"{self._log_tail()}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), 0.5),
            ):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise MosquittoError(
                    f"mosquitto did not accept connections on port {self.port} within "
                    f"{timeout:g} s {self._log_tail()}"
                )
            time.sleep(0.02)

    def _log_tail(self) -> str:
        try:
            return "(log: " + self.log_file.read_text(errors="replace")[-500:].strip() + ")"
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL). Clients see the connection drop."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def restart(self, timeout: float = 10.0) -> None:
        """Stop and start again on the same port (same config, no persisted sessions)."""
        self.stop(timeout)
        self.start(timeout)

    def close(self) -> None:
        """Stop the broker and remove a temporary directory this object created."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def log_text(self) -> str:
        """The broker's log so far (connections, errors), for assertions and debugging."""
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Mosquitto {self.host}:{self.port} {state}>"
