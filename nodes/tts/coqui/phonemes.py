"""eSpeak NG phonemes for Coqui models, from the libespeak-ng that ships in `espeakng-loader`.

Coqui's own `espeak` phonemizer runs the `espeak-ng` program (`espeak-ng -q -b 1 --ipa=1`), which a
pip install does not provide, so a Coqui VITS model whose config names `espeak` could not speak on a
fresh machine. This phonemizer makes the same request of the same library — IPA with `_` between
phonemes, one clause per call, as the program prints one line per clause — and post-processes the
result exactly as Coqui's `ESpeak.phonemize_espeak` does (language flags removed, lines joined).
It is registered under Coqui's name `espeak` only where no espeak program is installed.
"""
from __future__ import annotations

import ctypes
import re
from functools import lru_cache

_CHARS_UTF8 = 1
_PHONEMES_IPA = 0x02  # espeakPHONEMES_IPA in speak_lib.h; bits 8-23 carry the separator character


def text_to_phonemes(text: str, voice: str) -> list[str]:
    """IPA phonemes of `text`, one string per clause, phonemes separated by `_` (espeak-ng --ipa=1)."""
    from haysay.nodes.tts.espeak import espeak_library

    with espeak_library() as engine:
        lib = engine.lib
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"language: espeak-ng has no voice {voice!r}")
        buf = ctypes.create_string_buffer(text.encode("utf-8"))
        ptr = ctypes.c_void_p(ctypes.addressof(buf))
        clauses = []
        while ptr.value:
            out = lib.espeak_TextToPhonemes(ctypes.byref(ptr), _CHARS_UTF8, _PHONEMES_IPA | (ord("_") << 8))
            if out:
                clauses.append(out.decode("utf-8"))
        return [c.strip() for c in clauses if c.strip()]


@lru_cache(maxsize=1)
def library_espeak_class() -> type:
    """Coqui's ESpeak phonemizer with the program call replaced by the shipped library."""
    from TTS.tts.utils.text.phonemizers.base import BasePhonemizer
    from TTS.tts.utils.text.phonemizers.espeak_wrapper import ESpeak
    from TTS.tts.utils.text.punctuation import Punctuation

    from haysay.nodes.tts.espeak import espeak_voices

    class LibraryESpeak(ESpeak):
        def __init__(self, language: str, punctuations: str = Punctuation.default_puncs(), *,
                     backend: str | None = None, keep_puncs: bool = True) -> None:
            language = {"en": "en-us", "zh-cn": "cmn"}.get(language, language)  # as Coqui's ESpeak
            BasePhonemizer.__init__(self, language, punctuations=punctuations, keep_puncs=keep_puncs)

        @property
        def backend(self) -> str:
            return "espeak-ng"

        @backend.setter
        def backend(self, backend: str) -> None:
            pass

        @property
        def backend_version(self) -> str:
            return espeak_library_version()

        @staticmethod
        def supported_languages() -> dict[str, str]:
            return {v: v for v in espeak_voices()}

        @classmethod
        def is_available(cls) -> bool:
            return True

        def phonemize_espeak(self, text: str, separator: str = "|", *, tie: bool = False) -> str:
            phonemes = ""
            for line in text_to_phonemes(text, self._language):
                phonemes += re.sub(r"\(.+?\)", "", line).strip()
            return phonemes.replace("_", separator)

    return LibraryESpeak


def espeak_library_version() -> str:
    from haysay.nodes.tts.espeak import espeak_library

    with espeak_library() as engine:
        lib = engine.lib
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        return (lib.espeak_Info(None) or b"").decode().split()[0]


def install_library_espeak() -> bool:
    """Register the library phonemizer as Coqui's `espeak` when no espeak program is on PATH.
    Returns whether it was installed (an installed espeak-ng program is left to Coqui)."""
    from TTS.tts.utils.text import phonemizers
    from TTS.tts.utils.text.phonemizers import espeak_wrapper

    if espeak_wrapper._DEF_ESPEAK_LIB is not None:
        return False
    phonemizers._register_phonemizers()
    cls = library_espeak_class()
    phonemizers.PHONEMIZERS[cls.name()] = cls
    for lang in cls.supported_languages():
        phonemizers.DEF_LANG_TO_PHONEMIZER.setdefault(lang, cls.name())
    phonemizers.DEF_LANG_TO_PHONEMIZER.setdefault("en", cls.name())
    return True
