"""Talking to a model server over HTTP with the standard library only: starting `serve_model.py` in its own process
and waiting until its model is ready, keep-alive JSON requests, stopping it. Used by the tests and the load bench.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import time


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Client:
    """One keep-alive connection to host:port, as one user of the server holds it."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 300.0):
        self.connection = http.client.HTTPConnection(host, port, timeout=timeout)

    def request(self, method: str, path: str, body=None, content_type: str | None = "application/json"):
        """(status, decoded JSON answer). `body`: bytes as they are, anything else as JSON."""
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if content_type else {}
        self.connection.request(method, path, body=data, headers=headers)
        answer = self.connection.getresponse()
        text = answer.read()
        return answer.status, json.loads(text) if text else None

    def predict(self, name: str, body, **options):
        return self.request("POST", f"/v1/models/{name}:predict", body, **options)

    def close(self):
        self.connection.close()


def start(command: list[str], log) -> subprocess.Popen:
    """Starts a server (`command`), writing its output to the open file `log`."""
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(process: subprocess.Popen, name: str, port: int, log, timeout: float = 300.0) -> None:
    """Returns once GET /v1/models/<name> says ready; raises RuntimeError with the end of the server's `log` if it
    exits or is not ready within `timeout` s (and stops it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            client = Client(port, timeout=5)
            status, answer = client.request("GET", f"/v1/models/{name}")
            client.close()
            if status == 200 and answer.get("ready"):
                return
        except OSError:  # not listening yet
            pass
        time.sleep(0.5)
    if process.poll() is None:
        process.kill()
        process.wait()
    log.flush()
    with open(log.name, encoding="utf-8", errors="replace") as f:
        tail = f.read()[-3000:]
    raise RuntimeError(f"the model server ({' '.join(process.args)}) exited with {process.returncode} or was not "
                       f"ready within {timeout:.0f} s:\n{tail}")


def stop(process: subprocess.Popen, timeout: float = 60.0) -> int:
    """SIGTERM, as a process manager stops a server, and its exit status once it has finished."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
