"""The node contract: what a node type declares, and how it is registered.

A node type is a pydantic params model plus a plain function over typed
values. The engine knows nothing about any particular node; nodes know
nothing about the engine beyond this module.

    class GainParams(BaseModel):
        gain_db: float = Field(0.0, ge=-60, le=60, json_schema_extra={"unit": "dB"})

    @node("audio.gain", inputs={"audio": AUDIO}, outputs={"audio": AUDIO},
          params=GainParams, stream=GainStream)
    def gain(params, audio): ...

Block-wise nodes pass `stream=`: a class built as `Stream(params, rates,
channels)` with `out_rate`, `out_channels`, `process(*blocks)` and, when it
holds samples back (a resampler, a gate's partial hop), `flush()`;
the engine then feeds it chunk by chunk from the stored inputs. When a
stream is given the function body may be omitted (`fn=None`): the whole
value is simply run through the stream once.

Nodes that need their whole input but can deliver their output piece by
piece (a voice converter working segment by segment) pass `blocks=`: a
generator `blocks(params, ctx, **inputs)` yielding the one Audio output as
consecutive Audio blocks whose concatenation is the output. The function
still gives the whole value; `graph_engine.streaming` uses the generator to
feed listeners and downstream `stream=` nodes before the node has finished.

What a node holds in memory is declared, so validation can refuse a stage that
would not fit a worker before anything runs: a streaming node holds a few
blocks; any other passes `memory=` as bytes per input sample (frames x
channels, summed over its Audio inputs) or as `memory(params, shapes)` giving
bytes, where `shapes` maps each Audio input to its `AudioShape`. Nodes whose
output length, rate or channels differ from their first Audio input, or that
refuse some inputs (too many channels), pass `shape(params, shapes)`: it returns
the output's `AudioShape` (or None when unknown) and raises ValueError for an
input it cannot take.
"""
from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    import numpy as np

from .values import DEFAULT_BLOCK, Audio, AudioShape, PortType

AUDIO, TEXT, F0_T, FEATURES, ANY = (PortType.AUDIO, PortType.TEXT, PortType.F0, PortType.FEATURES, PortType.ANY)

CATEGORIES = ("source", "io", "transform", "tts", "vc", "analysis")
# What an undeclared whole-file node is assumed to hold per input sample: its float32 input
# plus a float64 working copy. Declaring `memory=` replaces the guess with the node's own figure.
UNDECLARED_BYTES_PER_SAMPLE = 12.0
STREAM_BLOCKS_HELD = 8  # blocks a streaming node holds at once (its input, output and filter state)

Memory = Callable[[BaseModel, Mapping[str, AudioShape]], float]
Shape = Callable[[BaseModel, Mapping[str, AudioShape]], "AudioShape | None"]


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Port:
    name: str
    type: PortType
    optional: bool = False
    description: str = ""


LIFECYCLE_STATUSES = ("supported", "deprecated", "end-of-life")


@dataclass(frozen=True)
class Lifecycle:
    """Where an adapter's architecture comes from and how long haysay keeps it: the upstream project,
    the upstream versions (releases or checkpoint formats) it reads, its status, and the licence of the
    architecture's code (SPDX id). `haysay doctor` lists it; a deprecated or end-of-life adapter warns
    at validation, naming `note` (what to use instead)."""

    upstream: str
    versions: tuple[str, ...] = ()
    status: str = "supported"
    licence: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if self.status not in LIFECYCLE_STATUSES:
            raise ValueError(f"lifecycle status {self.status!r}: one of {LIFECYCLE_STATUSES}")
        object.__setattr__(self, "versions", tuple(self.versions))

    def warning(self, node_type: str) -> str | None:
        if self.status == "supported":
            return None
        when = "is deprecated and will be removed" if self.status == "deprecated" else \
            "has reached end of life: it is no longer maintained or tested"
        return f"{node_type} ({self.upstream}) {when}" + (f"; {self.note}" if self.note else "")

    def to_dict(self) -> dict[str, Any]:
        return {"upstream": self.upstream, "versions": list(self.versions), "status": self.status,
                "licence": self.licence, "note": self.note}


@dataclass(frozen=True)
class FileParam:
    """Marker in a params field's metadata: the field names an input file.

    The engine hashes the file's *content* into the cache key and checks the
    file exists before running (`Annotated[str, FileParam()]`).
    """

    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutputFile:
    """Marker in a params field's metadata: the field names a file the node writes. A relative path is
    taken inside the run's output folder (`Engine.run(output_dir=...)`, the CLI's --out)."""


class NodeContext:
    """What a running node may ask of its host. Nodes that need none of it
    simply omit a `ctx` parameter."""

    def __init__(self, node_id: str = "", progress: Callable[[float, str], None] | None = None,
                 audio_sink: Callable[[str, int, int], "AudioSink"] | None = None):
        self.node_id = node_id
        self._progress = progress
        self._audio_sink = audio_sink
        self.info: dict[str, Any] = {}  # extra facts a node reports for history (e.g. model load time)

    def progress(self, fraction: float, message: str = "") -> None:
        if self._progress is not None:
            self._progress(max(0.0, min(1.0, float(fraction))), message)

    def audio_sink(self, port: str, sample_rate: int, channels: int) -> "AudioSink":
        """A writer that appends blocks to the output `port` without holding them all in memory."""
        if self._audio_sink is not None:
            return self._audio_sink(port, sample_rate, channels)
        return MemorySink(sample_rate, channels)


class AudioSink:
    def write(self, block: np.ndarray) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def finish(self) -> Audio:  # pragma: no cover - interface
        raise NotImplementedError


class MemorySink(AudioSink):
    def __init__(self, sample_rate: int, channels: int):
        self.sample_rate, self.channels, self.parts = sample_rate, channels, []

    def write(self, block: np.ndarray) -> None:
        import numpy as np  # loaded where audio is touched: registering node types stays light
        block = np.asarray(block, dtype=np.float32)
        if block.ndim == 1:
            block = block[None, :]
        self.parts.append(block)

    def finish(self) -> Audio:
        import numpy as np
        data = np.concatenate(self.parts, axis=1) if self.parts else np.zeros((self.channels, 0), np.float32)
        return Audio(data, self.sample_rate)


@dataclass
class NodeSpec:
    type: str
    fn: Callable[..., Any]
    params: type[BaseModel]
    inputs: dict[str, Port]
    outputs: dict[str, Port]
    version: int = 1
    category: str = "transform"
    title: str = ""
    description: str = ""
    gpu: bool = False
    memory_mb: int = 256
    stream: type | None = None
    tags: tuple[str, ...] = ()
    cacheable: bool = True  # False for nodes with outside effects (audio.save): they always run
    memory: float | Memory | None = None  # bytes per input sample, or a function giving bytes (see above)
    shape: Shape | None = None
    # The model files a run will read, by content ({label: digest}): part of the cache key, so a model
    # re-installed under the same name, or another default encoder, never serves the old audio.
    fingerprint: Callable[[BaseModel], Mapping[str, str]] | None = None
    lifecycle: Lifecycle | None = None  # adapters of outside architectures: upstream, versions, status, licence
    blocks: Callable[..., Iterable[Audio]] | None = None  # the output piece by piece (see above)
    module: str = ""  # the module that declares it: importing it registers the type
    wants_ctx: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"{self.type}: unknown category {self.category!r}; one of {CATEGORIES}")
        if self.stream is not None:
            audio_in = [p for p in self.inputs.values() if p.type is AUDIO]
            if len(self.outputs) != 1 or next(iter(self.outputs.values())).type is not AUDIO or not audio_in \
                    or len(audio_in) != len(self.inputs):
                raise ValueError(f"{self.type}: a streaming node takes only Audio inputs and has one Audio output")
        if self.blocks is not None and (len(self.outputs) != 1 or next(iter(self.outputs.values())).type is not AUDIO):
            raise ValueError(f"{self.type}: a node delivering blocks has one Audio output")
        if isinstance(self.lifecycle, Mapping):
            self.lifecycle = Lifecycle(**self.lifecycle)
        self.wants_ctx = "ctx" in inspect.signature(self.fn).parameters
        self.title = self.title or self.type
        if not self.description:
            self.description = inspect.cleandoc(self.fn.__doc__ or "")

    @property
    def blockwise(self) -> bool:
        return self.stream is not None

    @property
    def memory_declared(self) -> bool:
        """Whether the node's memory need is known: it streams, or it says what it holds."""
        return self.stream is not None or self.memory is not None

    def output_shape(self, params: BaseModel, shapes: Mapping[str, AudioShape]) -> AudioShape | None:
        """The Audio output's shape for inputs of these shapes (None when it cannot be known
        before running). Raises ValueError for an input the node refuses."""
        if self.shape is not None:
            return self.shape(params, shapes)
        first = next((shapes[n] for n in self.inputs if n in shapes), None)
        return first.with_() if first is not None else None

    def memory_need_mb(self, params: BaseModel, shapes: Mapping[str, AudioShape]) -> float:
        """Memory a run of this node needs (MB) for inputs of these shapes: `memory_mb` plus
        what it holds of the audio (a few blocks when it streams)."""
        samples = sum(s.samples for s in shapes.values())
        if self.stream is not None:
            held = STREAM_BLOCKS_HELD * DEFAULT_BLOCK * 4 * max((s.channels for s in shapes.values()), default=1)
        elif callable(self.memory):
            held = float(self.memory(params, shapes))
        else:
            per = UNDECLARED_BYTES_PER_SAMPLE if self.memory is None else float(self.memory)
            held = per * samples
        return self.memory_mb + held / (1 << 20)

    def file_fields(self) -> list[str]:
        return [name for name, f in self.params.model_fields.items()
                if any(isinstance(m, FileParam) for m in f.metadata)]

    def output_file_fields(self) -> list[str]:
        return [name for name, f in self.params.model_fields.items()
                if any(isinstance(m, OutputFile) for m in f.metadata)]

    def call(self, params: BaseModel | Mapping[str, Any] | None = None, ctx: NodeContext | None = None,
             **inputs: Any) -> dict[str, Any]:
        """Run the node function directly (no engine) and return {port: value}."""
        if not isinstance(params, BaseModel):
            params = self.params.model_validate(dict(params or {}))
        kwargs = dict(inputs)
        if self.wants_ctx:
            kwargs["ctx"] = ctx or NodeContext()
        result = self.fn(params, **kwargs)
        if len(self.outputs) == 1 and not (isinstance(result, dict) and set(result) == set(self.outputs)):
            result = {next(iter(self.outputs)): result}
        if not isinstance(result, dict) or set(result) != set(self.outputs):
            raise TypeError(f"{self.type} must return its outputs {sorted(self.outputs)}")
        return result

    def describe(self) -> dict[str, Any]:
        """A JSON-able description (for `haysay nodes`, the studio palette and notebooks)."""
        return {
            "type": self.type, "version": self.version, "category": self.category, "title": self.title,
            "description": self.description, "gpu": self.gpu, "memory_mb": self.memory_mb,
            "blockwise": self.blockwise, "streams_output": self.blocks is not None or self.blockwise,
            "cacheable": self.cacheable, "memory_declared": self.memory_declared,
            "inputs": [{"name": p.name, "type": p.type.value, "optional": p.optional, "description": p.description}
                       for p in self.inputs.values()],
            "outputs": [{"name": p.name, "type": p.type.value, "description": p.description}
                        for p in self.outputs.values()],
            "params_schema": self.params.model_json_schema(),
            "lifecycle": self.lifecycle.to_dict() if self.lifecycle is not None else None,
        }


def stream_blocks(spec: NodeSpec, params: BaseModel, inputs: Mapping[str, Audio], block: int = DEFAULT_BLOCK,
                  progress: Callable[[float, str], None] | None = None,
                  proc: Any = None) -> Iterator[tuple[np.ndarray, int, int]]:
    """Feed stored or in-memory inputs through a node's stream (`proc`, or one built here), block by
    block; yield each non-empty output block with the stream's (out_rate, out_channels), tail last."""
    import numpy as np
    names = [n for n in spec.inputs if n in inputs]
    audios = [inputs[n] for n in names]
    if proc is None:
        proc = spec.stream(params, [a.sample_rate for a in audios], [a.channels for a in audios])
    total = max((a.frames for a in audios), default=0)
    for start in range(0, total, block):
        blocks = []
        for a in audios:
            b = np.asarray(a.data[:, start:start + block], dtype=np.float32)
            want = min(block, total - start)
            if b.shape[1] < want:  # shorter inputs read as silence past their end
                b = np.pad(b, ((0, 0), (0, want - b.shape[1])))
            blocks.append(b)
        out = proc.process(*blocks)
        if out is not None and out.shape[-1]:
            yield out, proc.out_rate, proc.out_channels
        if progress is not None and total:
            progress(min(1.0, (start + block) / total), "")
    flush = getattr(proc, "flush", None)  # stateless streams have nothing held back
    tail = flush() if flush is not None else None
    if tail is not None and tail.shape[-1]:
        yield tail, proc.out_rate, proc.out_channels


def run_stream(spec: NodeSpec, params: BaseModel, inputs: Mapping[str, Audio],
               make_sink: Callable[[int, int], AudioSink], block: int = DEFAULT_BLOCK,
               progress: Callable[[float, str], None] | None = None) -> Audio:
    """Feed stored or in-memory inputs through a node's stream, block by block, into a sink
    made by `make_sink(out_rate, out_channels)`."""
    names = [n for n in spec.inputs if n in inputs]
    proc = spec.stream(params, [inputs[n].sample_rate for n in names], [inputs[n].channels for n in names])
    sink = make_sink(proc.out_rate, proc.out_channels)  # made before the first block: an empty input has one
    for out, _rate, _channels in stream_blocks(spec, params, inputs, block, progress, proc):
        sink.write(out)
    return sink.finish()


def _stream_fn(spec_ref: list) -> Callable[..., Any]:
    def whole(params, ctx=None, **inputs):
        spec = spec_ref[0]
        ctx = ctx or NodeContext()
        port = next(iter(spec.outputs))
        return run_stream(spec, params, inputs, lambda rate, ch: ctx.audio_sink(port, rate, ch),
                          progress=ctx.progress)
    return whole


class Registry:
    """Node types by id. `default_registry()` holds the built-ins plus plug-ins.

    A type may be known only by the module that declares it (`_lazy`, filled from the built-ins'
    declarations, graph_engine/manifest.py): asking for it imports that module, and listing every
    type imports them all, so each answer is the one a fully loaded registry gives."""

    def __init__(self) -> None:
        self._specs: dict[str, NodeSpec] = {}
        self._lazy: dict[str, str] = {}  # type -> module, not imported yet

    def _load(self, type_id: str) -> NodeSpec | None:
        module = self._lazy.get(type_id)
        if module is None:
            return self._specs.get(type_id)
        try:
            import_module(module)
        except ModuleNotFoundError as exc:  # its library went away since the declarations were read
            if (exc.name or "").split(".")[0] in ("haysay", ""):
                raise
        for t, m in list(self._lazy.items()):
            if m == module:
                del self._lazy[t]
                spec = _DECLARED.get(t)
                if spec is not None and t not in self._specs:
                    self._specs[t] = spec
        return self._specs.get(type_id)

    def _load_all(self) -> None:
        for t in list(self._lazy):
            self._load(t)

    def loaded(self) -> list[NodeSpec]:
        """The types whose modules are imported (plug-ins, and built-ins already asked for)."""
        return list(self._specs.values())

    def add(self, spec: NodeSpec, replace: bool = False) -> NodeSpec:
        if (spec.type in self._specs or spec.type in self._lazy) and not replace and self._specs.get(spec.type) is not spec:
            raise ValueError(f"node type {spec.type!r} is already registered")
        self._lazy.pop(spec.type, None)
        self._specs[spec.type] = spec
        return spec

    def get(self, type_id: str) -> NodeSpec | None:
        return self._load(type_id)

    def __getitem__(self, type_id: str) -> NodeSpec:
        spec = self._load(type_id)
        if spec is None:
            raise KeyError(f"unknown node type {type_id!r}")
        return spec

    def __contains__(self, type_id: str) -> bool:
        return self._load(type_id) is not None

    def __iter__(self):
        self._load_all()
        return iter(sorted(self._specs.values(), key=lambda s: (s.category, s.type)))

    def __bool__(self) -> bool:  # `registry or default_registry()` must not import every family
        return bool(self._specs or self._lazy)

    def __len__(self) -> int:
        self._load_all()
        return len(self._specs)

    def types(self) -> list[str]:
        self._load_all()
        return sorted(self._specs)


# Node modules register into this collection at import; `default_registry()`
# copies it and adds entry-point plug-ins.
_DECLARED: dict[str, NodeSpec] = {}


def node(type: str, *, inputs: Mapping[str, PortType | Port] | Iterable[Port] = (),
         outputs: Mapping[str, PortType | Port] | Iterable[Port] = (), params: type[BaseModel] = NoParams,
         version: int = 1, category: str = "transform", title: str = "", description: str = "",
         gpu: bool = False, memory_mb: int = 256, stream: type | None = None,
         tags: Iterable[str] = (), cacheable: bool = True, memory: float | Memory | None = None,
         shape: Shape | None = None, fingerprint: Callable[[BaseModel], Mapping[str, str]] | None = None,
         lifecycle: Lifecycle | Mapping[str, Any] | None = None,
         blocks: Callable[..., Iterable[Audio]] | None = None, registry: Registry | None = None) -> Callable[[Callable | None], NodeSpec]:
    """Declare a node type around a function `fn(params, [ctx], **inputs)`."""
    declared_in = sys._getframe(1).f_globals.get("__name__", "")  # the registry imports it to find the type

    def ports(decl) -> dict[str, Port]:
        if isinstance(decl, Mapping):
            return {k: v if isinstance(v, Port) else Port(k, PortType(v)) for k, v in decl.items()}
        return {p.name: p for p in decl}

    def wrap(fn: Callable | None) -> NodeSpec:
        ref: list = []
        real = fn if fn is not None else _stream_fn(ref)
        spec = NodeSpec(type=type, fn=real, params=params, inputs=ports(inputs), outputs=ports(outputs),
                        version=version, category=category, title=title,
                        description=description or inspect.cleandoc((fn or stream).__doc__ or ""),
                        gpu=gpu, memory_mb=memory_mb, stream=stream, tags=tuple(tags),
                        cacheable=cacheable, memory=memory, shape=shape, fingerprint=fingerprint,
                        lifecycle=lifecycle, blocks=blocks, module=declared_in)
        ref.append(spec)
        (registry._specs if registry is not None else _DECLARED)[spec.type] = spec
        return spec

    return wrap


_DEFAULT: Registry | None = None


def default_registry(reload: bool = False) -> Registry:
    """Built-in nodes plus every plug-in of the `haysay.nodes` entry-point group."""
    global _DEFAULT
    if _DEFAULT is not None and not reload:
        return _DEFAULT
    from .manifest import BUILTIN_ENTRY, builtin_manifest

    for ep in entry_points(group="haysay.nodes"):
        if getattr(ep, "value", None) == BUILTIN_ENTRY:  # the built-ins load type by type, from their declarations
            continue
        try:
            loaded = ep.load()
        except Exception as exc:  # a broken plug-in must not take the built-ins down
            import warnings
            warnings.warn(f"haysay: node plug-in {ep.name!r} failed to load: {exc}")
            continue
        if callable(loaded) and not isinstance(loaded, NodeSpec):
            loaded()
    reg = Registry()
    for spec in _DECLARED.values():
        reg.add(spec, replace=True)
    reg._lazy = {t: e["module"] for t, e in builtin_manifest().items() if t not in reg._specs}
    _DEFAULT = reg
    return reg
