"""Helpers the benchmark scripts share (run as `python benchmarks/NAME.py`, so this folder is on sys.path)."""
from __future__ import annotations

import subprocess


def stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    """Terminate a process started for a measurement; kill it when it does not end within `timeout`."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
