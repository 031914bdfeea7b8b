"""haysay's graph engine: node contract, pipeline format, validation, Dask execution,
zarr stage cache and DuckDB history. The studio, notebooks and CLI all use this API."""
from .config import Settings
from .contract import AUDIO, ANY, F0_T, FEATURES, TEXT, FileParam, NodeContext, NodeSpec, Port, Registry, default_registry, node
from .engine import Engine, RunResult, StageEvent, StageResult
from .errors import GraphError, InvalidPipeline
from .graph import Plan, parse_override, plan
from .history import History, RunRecord, StageRecord
from .pipeline import FORMAT, PipelineDoc, PipelineFormatError, load_pipeline, parse_pipeline, pipeline_schema
from .store import ArtifactStore
from .values import Audio, F0, Features, PortType

__all__ = [
    "AUDIO", "ANY", "F0_T", "FEATURES", "TEXT", "FileParam", "NodeContext", "NodeSpec", "Port", "Registry",
    "default_registry", "node", "Engine", "RunResult", "StageEvent", "StageResult", "GraphError", "InvalidPipeline",
    "Plan", "parse_override", "plan", "History", "RunRecord", "StageRecord", "FORMAT", "PipelineDoc",
    "PipelineFormatError", "load_pipeline", "parse_pipeline", "pipeline_schema", "ArtifactStore", "Audio", "F0",
    "Features", "PortType", "Settings",
]
