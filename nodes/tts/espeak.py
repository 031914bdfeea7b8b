"""tts.espeak: formant speech synthesis with eSpeak NG (library and data ship in `espeakng-loader`)."""
from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, TEXT, node
from haysay.graph_engine.values import Audio

# espeak_AUDIO_OUTPUT / espeak_PARAMETER / flag values from espeak-ng's speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_RATE, _VOLUME, _PITCH, _RANGE, _WORDGAP = 1, 2, 3, 4, 7
_CHARS_UTF8, _SSML, _ENDPAUSE = 0x1, 0x10, 0x1000
_POS_CHARACTER = 1
_EE_OK = 0

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

# libespeak-ng keeps one global synthesizer: every call goes through this lock.
_LOCK = threading.Lock()


class _Engine:
    """The loaded library, initialised in synchronous (retrieval) mode.

    The library keeps wavegen state in C statics (the pitch flutter index, the wave phase) that carry
    over from one utterance to the next, so the same text rendered twice in one process differed by a
    few samples and in its pitch jitter, depending on what was spoken before. Each use loads the
    library afresh and unloads it afterwards (`espeak_library`): every call renders as the espeak-ng
    program does in a new process (about 13 ms of loading per call).
    """

    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.data_path = Path(espeakng_loader.get_data_path())
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        self.lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        # 0x8000: return an error instead of exit()ing the whole process when data is missing
        rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path.parent).encode(), 0x8000)
        if rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialise with data at {self.data_path}")
        self.sample_rate = int(rate)
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # kept referenced: the library holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, count, _events) -> int:
        if wav and count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def synth(self, text: str, voice: str, params: dict[int, int], ssml: bool) -> np.ndarray:
        err = self.lib.espeak_SetVoiceByName(voice.encode())
        if err != _EE_OK:
            raise ValueError(f"voice: espeak-ng has no voice {voice!r} (try a language code such as "
                             f"'en-us', 'de', 'fr' or a voice like 'en-us+f3'; see espeak_voices())")
        for key, value in params.items():
            self.lib.espeak_SetParameter(key, int(value), 0)
        raw = text.encode("utf-8") + b"\0"
        self._chunks = []
        flags = _CHARS_UTF8 | _ENDPAUSE | (_SSML if ssml else 0)
        err = self.lib.espeak_Synth(raw, len(raw), 0, _POS_CHARACTER, 0, flags, None, None)
        if err != _EE_OK:
            raise RuntimeError(f"espeak-ng synthesis failed (error {err})")
        chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)

    def close(self) -> None:
        import _ctypes

        self.lib.espeak_Terminate()
        _ctypes.dlclose(self.lib._handle)  # the last handle: the next load starts from fresh statics


@contextmanager
def espeak_library() -> Iterator[_Engine]:
    """The library, freshly loaded and initialised, held under the process-wide lock."""
    with _LOCK:
        engine = _Engine()
        try:
            yield engine
        finally:
            engine.close()


def _data_path() -> Path:
    import espeakng_loader

    return Path(espeakng_loader.get_data_path())


def espeak_voices() -> list[str]:
    """Language codes shipped with the bundled espeak-ng data ('en-us', 'de', ...); add a variant
    from `espeak_variants()` with '+' ('en-us+f3')."""
    return sorted(p.name.lower() for p in (_data_path() / "lang").rglob("*") if p.is_file())


def espeak_variants() -> list[str]:
    """Voice variants (timbre presets such as 'f3', 'm2', 'klatt') shipped with the bundled data."""
    folder = _data_path() / "voices" / "!v"
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def synthesize_espeak(text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50, pitch_range: int = 50,
                      word_gap: int = 0, volume: int = 100, ssml: bool = False) -> Audio:
    """Speak `text` with espeak-ng and return mono Audio at the engine's rate (22050 Hz).

    rate: words per minute (80-450); pitch: base pitch 0-99 (50 normal); pitch_range: 0 monotone,
    50 normal; word_gap: extra pause between words in units of 10 ms; volume: 0-200 (100 normal).
    A voice may name a variant with '+', e.g. 'en-us+f3' for a female variant.
    """
    if not text or not text.strip():
        raise ValueError("text: nothing to say (empty text)")
    params = {_RATE: rate, _PITCH: pitch, _RANGE: pitch_range, _WORDGAP: word_gap, _VOLUME: volume}
    with espeak_library() as engine:
        pcm = engine.synth(text, voice, params, ssml)
        sample_rate = engine.sample_rate
    return Audio.from_mono(pcm.astype(np.float32) / 32768.0, sample_rate)


class EspeakParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    voice: str = Field("en-us", min_length=1, max_length=64,
                       description="Language code or voice name, optionally with a variant ('en-us+f3', 'de', 'fr')")
    rate: int = Field(175, ge=80, le=450, description="Speaking rate", json_schema_extra={"unit": "wpm"})
    pitch: int = Field(50, ge=0, le=99, description="Base pitch (50 is the voice's normal)")
    pitch_range: int = Field(50, ge=0, le=99, description="Intonation range (0 monotone, 50 normal)")
    word_gap: int = Field(0, ge=0, le=100, description="Extra pause between words, in units of 10 ms",
                          json_schema_extra={"unit": "10 ms"})
    volume: int = Field(100, ge=0, le=200, description="Amplitude (100 normal; above may distort)")
    ssml: bool = Field(False, description="Interpret SSML tags in the text")


@node("tts.espeak", inputs={"text": TEXT}, outputs={"audio": AUDIO}, params=EspeakParams, category="tts",
      title="eSpeak NG", tags=("tts", "offline"), memory=0.0)  # no Audio input
def espeak(params: EspeakParams, text: str) -> Audio:
    """Robotic but instant formant TTS for 100+ languages; needs no model download. Set rate, pitch
    and intonation range; pick a voice variant with '+', e.g. 'en-us+f3'."""
    return synthesize_espeak(text, params.voice, params.rate, params.pitch, params.pitch_range,
                             params.word_gap, params.volume, params.ssml)
