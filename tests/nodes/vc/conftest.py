"""Exported ONNX graphs (vc.backend) go to one folder per test session, never the user's HAYSAY_HOME."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def compiled_graphs(tmp_path_factory):
    path = tmp_path_factory.mktemp("compiled")
    old = os.environ.get("HAYSAY_COMPILED")
    os.environ["HAYSAY_COMPILED"] = str(path)
    yield path
    if old is None:
        os.environ.pop("HAYSAY_COMPILED", None)
    else:
        os.environ["HAYSAY_COMPILED"] = old
