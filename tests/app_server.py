"""Start the real app (python app.py) on a free 127.0.0.1 port, for tests and benchmarks."""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AppServer:
    url: str
    pid: int
    log_path: Path | None
    ssl_context: ssl.SSLContext | None = None  # over HTTPS: one that trusts the app's certificate

    def memory_mb(self) -> dict[str, float]:
        """The server's resident memory now (rss) and its peak so far (hwm), from /proc."""
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{self.pid}/status").read_text().splitlines())
        return {key: int(fields[name].split()[0]) / 1024 for key, name in (("rss", "VmRSS"), ("hwm", "VmHWM"))}

    def has_mapped(self, library: str) -> bool:
        """Whether the server process has loaded a shared library whose path contains ``library``."""
        return library in Path(f"/proc/{self.pid}/maps").read_text()

    def reset_peak_memory(self) -> None:
        """Start VmHWM afresh from the current resident size (Linux's clear_refs)."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def upload(self, payload: bytes | int, filename: str = "upload.png") -> tuple[int | None, str]:
        """POST a multipart upload straight to the server (gradio_client would check it first).

        ``payload``: the file's bytes, or a size: that many zero bytes, sent 1 MiB at a time.
        Returns the HTTP status and body; status None: the server cut the connection before
        taking the whole body, which it may do when it answers 413 mid-upload.
        """
        boundary = uuid.uuid4().hex
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n\r\n'
        tail = f"\r\n--{boundary}--\r\n".encode()
        size = payload if isinstance(payload, int) else len(payload)
        host, port = self.url.split("//")[1].rstrip("/").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=120)
        try:
            connection.putrequest("POST", "/gradio_api/upload")
            connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
            connection.putheader("Content-Length", str(len(head.encode()) + size + len(tail)))
            connection.endheaders(head.encode())
            if isinstance(payload, bytes):
                connection.send(payload)
            else:
                chunk = bytes(2**20)
                for start in range(0, size, len(chunk)):
                    connection.send(chunk[: min(len(chunk), size - start)])
            connection.send(tail)
            response = connection.getresponse()
            return response.status, response.read().decode()
        except (BrokenPipeError, ConnectionResetError):
            return None, ""
        finally:
            connection.close()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path else ""


@contextmanager
def served_by(port: int, http2: bool) -> Iterator[tuple[str, list[str], ssl.SSLContext | None]]:
    """The app's URL, the command that serves it, and over HTTPS a context trusting its certificate
    (of a throwaway authority, in a file for as long as the app runs)."""
    if not http2:
        yield f"http://127.0.0.1:{port}/", [sys.executable, "app.py"], None
        return
    import trustme  # and with it cryptography, only where a certificate is made

    authority, context = trustme.CA(), ssl.create_default_context()
    authority.configure_trust(context)
    with authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.tempfile() as pem:
        yield f"https://127.0.0.1:{port}/", [sys.executable, "-m", "tests.http2_app", str(port), pem], context


@contextmanager
def running_app(
    env: dict[str, str] | None = None, log_path: Path | None = None, http2: bool = False
) -> Iterator[AppServer]:
    """Yield a freshly started app; stop it afterwards. ``http2``: the same page served over HTTPS
    and HTTP/2 (``tests/http2_app.py``), as a deployed app's front end serves it; browsers must
    then be told to take its certificate."""
    port = free_port()
    with served_by(port, http2) as (url, command, context):
        full_env = {
            **os.environ,
            "GRADIO_SERVER_PORT": str(port),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "PYTHONUNBUFFERED": "1",  # its log is read while it runs
            **(env or {}),
        }
        log = open(log_path or os.devnull, "w")  # noqa: SIM115  (closed below)
        process = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 180
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"app exited with {process.returncode} before serving")
                try:
                    with urllib.request.urlopen(url, timeout=2, context=context):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise TimeoutError("app did not start within 180 s") from None
                    time.sleep(0.1)  # also how finely a benchmark sees the start-up time
            yield AppServer(url, process.pid, log_path, context)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()
