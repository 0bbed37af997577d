"""Fixtures that run the real `cairn` binary and point the official SDK at it.

The SDK addresses a project as `<project>.<endpoint>`; the endpoint is `localhost` and requests
reach Cairn through HTTP_PROXY (Cairn accepts absolute-form proxy requests).
"""
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

AK = "test-ak"
SECRET = "test-secret"
ROOT = Path(__file__).resolve().parents[2]


def _binary():
    env = os.environ.get("CAIRN_BIN")
    if env:
        return env
    return str(ROOT / "target" / "debug" / "cairn")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CairnServer:
    def __init__(self, extra_args=()):
        self.port = _free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="cairn-test-")
        self.data_dir = os.path.join(self._tmp.name, "data")
        self.extra_args = list(extra_args)
        self.log_path = os.path.join(self._tmp.name, "server.log")
        self.proc = None

    def start(self):
        env = dict(os.environ, CAIRN_ACCESS_KEY_ID=AK, CAIRN_ACCESS_KEY_SECRET=SECRET, CAIRN_LOG="warn")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [_binary(), "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir, *self.extra_args],
            env=env, stdout=self._log, stderr=self._log,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("cairn exited during start-up:\n" + self.log())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("cairn did not start:\n" + self.log())

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self):
        self.kill()
        self.start()

    @property
    def proxy(self):
        return f"http://127.0.0.1:{self.port}"


def use_proxy(server):
    """Routes every SDK request to `server`."""
    os.environ["HTTP_PROXY"] = server.proxy
    os.environ["http_proxy"] = server.proxy
    for k in ("NO_PROXY", "no_proxy"):
        os.environ.pop(k, None)


@pytest.fixture(scope="session")
def cairn_server():
    server = CairnServer().start()
    use_proxy(server)
    yield server
    server.stop()


@pytest.fixture
def client(cairn_server):
    from aliyun.log import LogClient

    use_proxy(cairn_server)
    return LogClient("localhost", AK, SECRET)


@pytest.fixture
def project(client):
    name = "p-" + uuid.uuid4().hex[:12]
    client.create_project(name, "test project")
    yield name
    try:
        client.delete_project(name)
    except Exception:
        pass
