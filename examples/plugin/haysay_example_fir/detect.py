"""The example's model-manager detection hook (entry-point group `haysay.detectors`)."""
from __future__ import annotations

from pathlib import Path

from haysay.graph_engine.models import Detection

from haysay_example_fir.model import is_model_file

ARCHITECTURE = "example_fir"


def detect(folder: Path, rels: list[str]) -> Detection | None:
    """A Detection when the files hold one example-fir model (role `weights`), else None."""
    models = [r for r in rels if r.lower().endswith(".fir") and is_model_file(Path(folder) / r)]
    if len(models) != 1:
        return None
    return Detection(ARCHITECTURE, "1", {r: "weights" if r == models[0] else "other" for r in rels}, {})
