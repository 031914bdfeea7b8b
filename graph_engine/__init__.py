"""haysay's graph engine: node contract, pipeline format, validation, Dask execution,
zarr stage cache and DuckDB history. The studio, notebooks and CLI all use this API.

Names load on first use, so a node module that needs only the contract does not pull
in Dask, zarr or DuckDB (worker start-up and `haysay --help` stay quick).
"""
from importlib import import_module

_EXPORTS = {
    "Settings": "config",
    **{n: "contract" for n in ("AUDIO", "ANY", "F0_T", "FEATURES", "TEXT", "FileParam", "OutputFile", "NodeContext", "NodeSpec",
                               "Port", "Registry", "default_registry", "node")},
    **{n: "engine" for n in ("Engine", "RunResult", "StageEvent", "StageResult")},
    **{n: "errors" for n in ("GraphError", "InvalidPipeline")},
    **{n: "graph" for n in ("Plan", "parse_override", "plan")},
    **{n: "history" for n in ("History", "RunRecord", "StageRecord")},
    **{n: "pipeline" for n in ("FORMAT", "PipelineDoc", "PipelineFormatError", "load_pipeline", "parse_pipeline",
                               "pipeline_schema")},
    "ArtifactStore": "store",
    **{n: "values" for n in ("Audio", "F0", "Features", "Metrics", "PortType")},
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'haysay.graph_engine' has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
