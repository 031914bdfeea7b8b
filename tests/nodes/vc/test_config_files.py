"""Every adapter's config reader refuses a missing, oversized or binary config the same way
(graph_engine.models.checkpoint_limits.read_config_text), before a JSON or YAML parser sees it."""
from __future__ import annotations

import pytest

from haysay.graph_engine.models.checkpoint_limits import MAX_CONFIG_BYTES, CheckpointError
from haysay.nodes.vc.openvoice.checkpoint import read_openvoice_config
from haysay.nodes.vc.sovits.config import read_sovits_config
from haysay.nodes.vc.sovits5.checkpoint import read_sovits5_config

READERS = [(read_sovits_config, "config.json", "G_"), (read_openvoice_config, "config.json", "checkpoint.pth"),
           (read_sovits5_config, "config.yaml", "base.yaml")]


@pytest.mark.parametrize("read, name, hint", READERS, ids=lambda r: getattr(r, "__name__", None))
def test_missing_oversized_and_binary_configs_are_refused(read, name, hint, tmp_path):
    path = tmp_path / name
    with pytest.raises(CheckpointError, match="not found") as err:
        read(path)
    assert hint in err.value.problem
    path.write_text(" " * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(CheckpointError, match=f"{MAX_CONFIG_BYTES + 1} bytes is far too large"):
        read(path)
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CheckpointError, match="not a text config"):
        read(path)
