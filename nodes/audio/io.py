"""audio.load and audio.save: the explicit I/O nodes."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.audiofile import read_blocks, write_audio
from haysay.graph_engine.contract import AUDIO, FileParam, node


class LoadParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: Annotated[str, FileParam(("wav", "flac", "ogg", "mp3"))] = Field(
        ..., min_length=1, description="Audio file (wav, flac, ogg, mp3)")


@node("audio.load", outputs={"audio": AUDIO}, params=LoadParams, category="io", title="Load audio")
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
    read_blocks(params.path, write, progress=ctx.progress)
    return state["sink"].finish()


class SaveParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(..., min_length=1, description="Where to write the file")
    format: Literal["wav", "flac", "ogg", "mp3"] = Field("wav", description="Container")
    depth: Literal["16", "24", "32", "float", "vorbis", "opus", "mp3"] | None = Field(
        None, description="Bit depth or codec (default: 24-bit for wav/flac, vorbis for ogg)")


@node("audio.save", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=SaveParams, category="io",
      title="Save audio", cacheable=False)
def save(params: SaveParams, audio):
    """Write the audio to a file and pass it through unchanged."""
    write_audio(params.path, audio, params.format, params.depth)
    return audio
