"""A studio started in a subprocess on 127.0.0.1 (free port, isolated HAYSAY_HOME)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StudioProcess:
    def __init__(self, home, *args: str, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home.parent / f"studio-{self.port}.log"
        # NiceGUI switches to its own test mode when it sees pytest's variable
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("PYTEST_", "HAYSAY_STUDIO_", "NICEGUI_"))}
        full_env.update({"HAYSAY_HOME": str(home), **(env or {})})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "haysay", "studio", "--no-browser", "--port", str(self.port), *args],
            stdout=open(self.log, "w"), stderr=subprocess.STDOUT, env=full_env)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"studio exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                urllib.request.urlopen(self.url + "/login", timeout=2).read()
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.3)
        raise TimeoutError(f"studio not ready after {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def start_studio(haysay_home):
    started: list[StudioProcess] = []

    def start(*args: str, env: dict | None = None, wait: bool = True) -> StudioProcess:
        sp = StudioProcess(haysay_home, *args, env=env)
        started.append(sp)
        if wait:
            sp.wait_ready()
        return sp

    yield start
    for sp in started:
        sp.stop()
