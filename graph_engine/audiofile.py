"""Reading and writing audio files (soundfile), block by block, with clear errors."""
from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

from .pipeline import describe_path
from .values import DEFAULT_BLOCK, Audio, AudioShape

READ_FORMATS = {"WAV", "FLAC", "OGG", "MP3", "AIFF", "W64", "RF64"}
WRITE_FORMATS = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "mp3": "MP3"}
SUBTYPES = {  # bit depth option per container
    "wav": {"16": "PCM_16", "24": "PCM_24", "32": "PCM_32", "float": "FLOAT"},
    "flac": {"16": "PCM_16", "24": "PCM_24"},
    "ogg": {"vorbis": "VORBIS", "opus": "OPUS"},
    "mp3": {"mp3": "MPEG_LAYER_III"},
}
DEFAULT_SUBTYPE = {"wav": "24", "flac": "24", "ogg": "vorbis", "mp3": "mp3"}


class AudioFileError(ValueError):
    """An audio file that cannot be used, with the reason."""


def probe(path: str | os.PathLike) -> sf._SoundFileInfo:
    path = Path(path)
    if not path.is_file():
        what = describe_path(path)
        raise AudioFileError(f"{path}: file not found" if what == "not found" else f"{path} is {what}, not an audio file")
    if path.stat().st_size == 0:
        raise AudioFileError(f"{path}: file is empty")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(f"{path}: not a readable audio file ({exc}); supported: wav, flac, ogg, mp3") from None
    if info.format not in READ_FORMATS:
        raise AudioFileError(f"{path}: unsupported format {info.format}; supported: wav, flac, ogg, mp3")
    if info.frames == 0:
        raise AudioFileError(f"{path}: contains no audio frames")
    return info


def truncation_note(path: str | os.PathLike, info: sf._SoundFileInfo | None = None) -> str | None:
    """For a WAV whose header promises more sample data than the file holds, what is missing.

    libsndfile quietly reads what is there; a cut-off download or copy then passes for a
    shorter recording. Streaming writers leave the size 0 or 0xFFFFFFFF: those are not flagged."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            pos, block_align = 12, 0
            while pos + 8 <= size:
                fh.seek(pos)
                cid, csize = struct.unpack("<4sI", fh.read(8))
                if cid == b"fmt " and csize >= 14:
                    block_align = struct.unpack("<HHIIH", fh.read(14))[4]
                if cid == b"data":
                    have = size - (pos + 8)
                    if csize in (0, 0xFFFFFFFF) or csize <= have:
                        return None
                    info = info or sf.info(str(path))
                    rate = info.samplerate
                    align = block_align or max(1, info.channels * 2)
                    return (f"{path.name} is truncated: its header declares {csize // align / rate:.2f} s of audio, "
                            f"the file holds {have // align / rate:.2f} s")
                pos += 8 + csize + (csize & 1)
    except (OSError, struct.error, sf.LibsndfileError, RuntimeError):
        return None
    return None


def header_shape(path: str | os.PathLike) -> AudioShape:
    """Frames, channels and rate from the file's header, without decoding it (plus a truncation note)."""
    info = probe(path)
    note = truncation_note(path, info)
    return AudioShape(int(info.frames), int(info.channels), int(info.samplerate), (note,) if note else ())


def read_blocks(path: str | os.PathLike, write: Callable[[np.ndarray], None], block: int = DEFAULT_BLOCK,
                progress: Callable[[float], None] | None = None) -> tuple[int, int, int]:
    """Stream a file's samples as (channels, n) float32 blocks into `write`. Returns (rate, channels, frames)."""
    info = probe(path)
    frames = 0
    try:
        with sf.SoundFile(str(path)) as f:
            while True:
                data = f.read(block, dtype="float32", always_2d=True)
                if not len(data):
                    break
                finite = np.isfinite(data).all(axis=1)
                if not finite.all():
                    at = frames + int(np.flatnonzero(~finite)[0])
                    raise AudioFileError(f"{path}: contains NaN or infinite samples at frame {at} "
                                         f"({at / info.samplerate:.3f} s)")
                write(np.ascontiguousarray(data.T))
                frames += len(data)
                if progress and info.frames > 0:
                    progress(min(1.0, frames / info.frames))
    except sf.LibsndfileError as exc:
        raise AudioFileError(f"{path}: corrupt audio after frame {frames} ({exc})") from None
    if frames == 0:
        raise AudioFileError(f"{path}: contains no audio frames")
    return info.samplerate, info.channels, frames


def read_audio(path: str | os.PathLike) -> Audio:
    parts: list[np.ndarray] = []
    rate, channels, _ = read_blocks(path, parts.append)
    return Audio(np.concatenate(parts, axis=1), rate)


def write_audio(path: str | os.PathLike, audio: Audio, fmt: str | None = None, depth: str | None = None,
                block: int = DEFAULT_BLOCK) -> Path:
    """Write `audio` block by block to `path` (format from `fmt` or the suffix). Atomic: a temp file is renamed."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".") or "wav").lower()
    if fmt not in WRITE_FORMATS:
        raise AudioFileError(f"{path}: cannot write format {fmt!r}; supported: {', '.join(WRITE_FORMATS)}")
    depth = depth or DEFAULT_SUBTYPE[fmt]
    if depth not in SUBTYPES[fmt]:
        raise AudioFileError(f"{fmt} supports bit depth/codec {sorted(SUBTYPES[fmt])}, got {depth!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        with sf.SoundFile(str(tmp), "w", samplerate=audio.sample_rate, channels=audio.channels,
                          format=WRITE_FORMATS[fmt], subtype=SUBTYPES[fmt][depth]) as f:
            for b in audio.blocks(block):
                f.write(np.clip(b, -1.0, 1.0).T if depth not in ("float",) else b.T)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
