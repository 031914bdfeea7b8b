"""Registering the voice-conversion nodes imports none of their heavy libraries (the CLI's light start)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

HEAVY = ("torch", "torchaudio", "scipy", "pyworld", "parselmouth", "faiss")

# Heavy packages made unimportable: a vc module that needs one at import would land in UNAVAILABLE.
SCRIPT = textwrap.dedent(f"""
    import importlib.abc, json, sys
    HEAVY = {HEAVY!r}
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in HEAVY:
                raise ModuleNotFoundError("blocked " + name, name=name)
    sys.meta_path.insert(0, Block())
    import haysay.nodes as nodes
    from haysay.graph_engine.contract import default_registry
    reg = default_registry()
    types = ("vc.rvc", "vc.sovits", "vc.world", "vc.praat")
    out = {{"unavailable": sorted(nodes.UNAVAILABLE), "registered": [t for t in types if t in reg],
           "schemas": [sorted(reg[t].params.model_json_schema()["properties"]) for t in types if t in reg]}}
    print(json.dumps(out))
""")


def test_vc_nodes_register_without_heavy_imports():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert not [m for m in out["unavailable"] if ".vc." in m], out["unavailable"]
    assert out["registered"] == ["vc.rvc", "vc.sovits", "vc.world", "vc.praat"]
    rvc, sovits, world, praat = out["schemas"]
    assert {"model", "f0_method", "index_rate"} <= set(rvc)
    assert {"model", "transpose", "slice_db"} <= set(sovits)
    assert "formant_shift" in world and "formant_shift_ratio" in praat
