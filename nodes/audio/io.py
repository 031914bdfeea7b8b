"""audio.load and audio.save: the explicit I/O nodes."""
from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from haysay.graph_engine.audiofile import header_shape, read_blocks, truncation_note, write_audio
from haysay.graph_engine.contract import AUDIO, FileParam, OutputFile, node


class LoadParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: Annotated[str, FileParam(("wav", "flac", "ogg", "mp3"))] = Field(
        ..., min_length=1, description="Audio file (wav, flac, ogg, mp3)")


def _from_header(params: LoadParams, shapes):
    """Read from the header at validation; a header that cannot be read is left to the run to report."""
    try:
        return header_shape(params.path)
    except ValueError:
        return None


@node("audio.load", outputs={"audio": AUDIO}, params=LoadParams, category="io", title="Load audio",
      shape=_from_header, memory=0.0)
def load(params: LoadParams, ctx):
    """Read an audio file (wav, flac, ogg, mp3). Long files stream into the store block by block."""
    state = {}

    def write(block):
        if "sink" not in state:
            state["sink"] = ctx.audio_sink("audio", state["rate"], block.shape[0])
        state["sink"].write(block)

    from haysay.graph_engine.audiofile import probe
    info = probe(params.path)
    state["rate"] = info.samplerate
    note = truncation_note(params.path, info)
    if note:
        ctx.info["warnings"] = [note]
    read_blocks(params.path, write, progress=ctx.progress)
    return state["sink"].finish()


class SaveParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: Annotated[str, OutputFile()] = Field(
        ..., min_length=1, description="Where to write the file (a relative path lands in the run's output folder)")
    format: Literal["wav", "flac", "ogg", "mp3"] = Field("wav", description="Container")
    depth: Literal["16", "24", "32", "float", "vorbis", "opus", "mp3"] | None = Field(
        None, description="Bit depth or codec (default: 24-bit for wav/flac, vorbis for ogg)")

    @field_validator("path")
    @classmethod
    def _stays_inside(cls, v: str) -> str:
        # a relative path is taken inside the output folder; climbing out of it needs an explicit absolute path
        if not os.path.isabs(v) and os.path.normpath(v).split(os.sep)[0] == "..":
            raise ValueError("a relative path must stay inside the output folder ('..' leads out of it); "
                             "give an absolute path to write elsewhere")
        return v


@node("audio.save", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=SaveParams, category="io",
      title="Save audio", cacheable=False, memory=0.0)  # written block by block
def save(params: SaveParams, audio):
    """Write the audio to a file and pass it through unchanged."""
    write_audio(params.path, audio, params.format, params.depth)
    return audio
