"""The Models page's "Use in graph" knows an adapter node for every voice-model architecture the model
manager detects (a new architecture without one would install but not be usable from the catalogue)."""
from haysay.graph_engine.contract import default_registry
from haysay.graph_engine.models.detect import ARCHITECTURES
from haysay.studio.pages.catalogue_view import ADAPTERS

# files that serve another model (encoders, indexes, vocoders), not voices a graph is built around
SUPPORTING = {"content_encoder", "piper", "faiss_index", "kmeans", "rmvpe", "sovits_diffusion", "nsf_hifigan",
              "sovits_feature_index"}


def test_every_voice_architecture_has_its_adapter_node():
    registry = default_registry()
    assert set(ARCHITECTURES) - SUPPORTING <= set(ADAPTERS), sorted(set(ARCHITECTURES) - SUPPORTING - set(ADAPTERS))
    for arch, (node_type, field) in ADAPTERS.items():
        assert node_type in registry, (arch, node_type)
        assert field in registry[node_type].params.model_fields, (arch, node_type, field)
