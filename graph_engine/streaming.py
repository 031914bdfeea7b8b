"""Output delivered while it is computed: a node's Audio output as consecutive blocks, through a chain.

A chain's head is any node with one Audio output: one declaring `blocks=` yields its output piece by
piece (a voice converter, segment by segment), a `stream=` node is fed its inputs block by block, and
any other gives its whole output as one block. Every later stage is a `stream=` node with one Audio
input, and processes each block as it arrives. A listener (the studio's player, a notebook) hears every
stage's blocks in order, the first while the head is still computing:

    for event in stream_chain([("vc", "vc.rvc", {...}), ("gain", "audio.gain", {"gain_db": -3})],
                              {"audio": speech}, listener=lambda e: print(e.node_id, e.start)):
        play(event.audio)

In an engine run, a stage streams when its node declares `blocks=` and its params ask for it (a true
`stream` field, as vc.rvc's): the stage then computes its output through the generator, its stored
artifact is the blocks' concatenation, and each block reaches the run's `on_event` listener as it is
computed (`StageEvent.block`, a BlockEvent), so a player can start before the stage ends. The stored
output does not depend on whether anyone listens: with `stream` true the node's whole-value function
gives the same concatenation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
from pydantic import BaseModel

from .contract import AUDIO, NodeContext, NodeSpec, Registry, default_registry, stream_blocks
from .errors import GraphError, InvalidPipeline
from .values import DEFAULT_BLOCK, Audio


@dataclass(frozen=True)
class BlockEvent:
    node_id: str
    index: int      # blocks this node delivered before this one
    start: int      # first frame's position in the node's whole output
    audio: Audio


Listener = Callable[[BlockEvent], None]


def streams(spec: NodeSpec, params: BaseModel) -> bool:
    """Whether an engine run delivers this stage's output block by block (see the module docstring)."""
    return spec.blocks is not None and bool(getattr(params, "stream", False))


def run_blocks(spec: NodeSpec, params: BaseModel, ctx: NodeContext, inputs: Mapping[str, Any],
               deliver: Listener) -> Audio:
    """Compute a streaming stage: each block to `deliver` as it is computed; returns the whole output."""
    parts: list[np.ndarray] = []
    rate = start = 0
    for index, audio in enumerate(spec.blocks(params, ctx, **inputs)):
        data = np.atleast_2d(np.asarray(audio.data, np.float32))
        if parts and (audio.sample_rate != rate or data.shape[0] != parts[0].shape[0]):
            raise ValueError(f"{spec.type}: block {index} changes the sample rate or channel count")
        rate = audio.sample_rate
        parts.append(data)
        deliver(BlockEvent(ctx.node_id, index, start, Audio(data, rate)))
        start += data.shape[1]
    if not parts:
        raise ValueError(f"{spec.type}: the stream delivered no block")
    return Audio(np.concatenate(parts, axis=1), rate)


def encode_block(event: BlockEvent) -> dict[str, Any]:
    """A block as a plain message (ints and float32 bytes) that crosses to the engine from any worker."""
    data = np.ascontiguousarray(event.audio.data, np.float32)
    return {"index": event.index, "start": event.start, "rate": event.audio.sample_rate,
            "channels": int(data.shape[0]), "data": data.tobytes()}


def decode_block(node_id: str, msg: Mapping[str, Any]) -> BlockEvent:
    data = np.frombuffer(msg["data"], np.float32).reshape(int(msg["channels"]), -1)
    return BlockEvent(node_id, int(msg["index"]), int(msg["start"]), Audio(data, int(msg["rate"])))


def _params(spec: NodeSpec, params: BaseModel | Mapping[str, Any] | None) -> BaseModel:
    return params if isinstance(params, BaseModel) else spec.params.model_validate(dict(params or {}))


def node_blocks(spec: NodeSpec, params: BaseModel | Mapping[str, Any] | None, inputs: Mapping[str, Any],
                ctx: NodeContext | None = None, block: int = DEFAULT_BLOCK) -> Iterator[Audio]:
    """The node's one Audio output as consecutive blocks, each yielded as soon as it is computed."""
    model, ctx = _params(spec, params), ctx or NodeContext()
    if spec.blocks is not None:
        yield from spec.blocks(model, ctx, **inputs)
    elif spec.stream is not None:
        for out, rate, _channels in stream_blocks(spec, model, inputs, block):
            yield Audio(np.atleast_2d(out), rate)
    else:
        yield next(iter(spec.call(model, ctx=ctx, **inputs).values()))


class _Stage:
    """A `stream=` node fed one upstream block at a time."""

    def __init__(self, node_id: str, spec: NodeSpec, params: BaseModel, rate: int, channels: int):
        self.node_id, self.spec = node_id, spec
        self.proc = spec.stream(params, [rate], [channels])

    def process(self, audio: Audio) -> Audio | None:
        out = self.proc.process(np.asarray(audio.data, np.float32))
        return Audio(np.atleast_2d(out), self.proc.out_rate) if out is not None and out.shape[-1] else None

    def flush(self) -> Audio | None:
        tail = self.proc.flush() if hasattr(self.proc, "flush") else None
        return Audio(np.atleast_2d(tail), self.proc.out_rate) if tail is not None and tail.shape[-1] else None


def _check(stages: Sequence[tuple[str, NodeSpec, Any]]) -> None:
    problems = []
    if len(stages[0][1].outputs) != 1 or next(iter(stages[0][1].outputs.values())).type is not AUDIO:
        problems.append(GraphError("invalid_input", f"{stages[0][1].type} has no single Audio output to stream",
                                   node=stages[0][0]))
    for node_id, spec, _params in stages[1:]:
        ports = list(spec.inputs)
        if spec.stream is None or len(ports) != 1:
            problems.append(GraphError("invalid_input", f"{spec.type} cannot take a stream: only a block-wise node "
                                                        "with one Audio input can follow a streaming stage",
                                       node=node_id, port=ports[0] if ports else None))
    if problems:
        raise InvalidPipeline(problems)


def stream_chain(stages: Sequence[tuple[str, NodeSpec | str, BaseModel | Mapping[str, Any] | None]],
                 inputs: Mapping[str, Any], listener: Listener | None = None,
                 registry: Registry | None = None) -> Iterator[BlockEvent]:
    """Run a linear chain of (node id, node type or spec, params), the head on `inputs`; yield the last
    stage's blocks as they are produced, and tell `listener` of every stage's blocks, upstream first.
    The chain is checked before anything runs (InvalidPipeline, each problem located at its node)."""
    reg = registry or default_registry()
    resolved = [(nid, reg[s] if isinstance(s, str) else s, p) for nid, s, p in stages]
    if not resolved:
        raise ValueError("stream_chain needs at least one stage")
    _check(resolved)
    resolved = [(nid, spec, _params(spec, p)) for nid, spec, p in resolved]
    counts = {nid: [0, 0] for nid, _s, _p in resolved}  # blocks and frames delivered so far
    stages_run: list[_Stage] = []

    def emit(node_id: str, audio: Audio) -> BlockEvent:
        n = counts[node_id]
        event = BlockEvent(node_id, n[0], n[1], audio)
        n[0], n[1] = n[0] + 1, n[1] + audio.frames
        if listener is not None:
            listener(event)
        return event

    def through(audio: Audio | None, depth: int, flush: bool = False) -> Iterator[BlockEvent]:
        """Blocks out of stage `depth` for `audio` out of the stage before (and its tail when flushing)."""
        node_id, spec, params = resolved[depth]
        if audio is not None and len(stages_run) < depth:  # built on the first block: its rate and channels
            stages_run.append(_Stage(node_id, spec, params, audio.sample_rate, audio.channels))
        if len(stages_run) < depth:
            return
        stage = stages_run[depth - 1]
        outs = [stage.process(audio)] if audio is not None else []
        if flush:
            outs.append(stage.flush())
        for out in (o for o in outs if o is not None):
            event = emit(node_id, out)
            if depth + 1 == len(resolved):
                yield event
            else:
                yield from through(out, depth + 1)
        if flush and depth + 1 < len(resolved):
            yield from through(None, depth + 1, flush=True)

    head_id, head_spec, head_params = resolved[0]
    for audio in node_blocks(head_spec, head_params, inputs, NodeContext(head_id)):
        event = emit(head_id, audio)
        if len(resolved) == 1:
            yield event
        else:
            yield from through(audio, 1)
    if len(resolved) > 1:
        yield from through(None, 1, flush=True)
