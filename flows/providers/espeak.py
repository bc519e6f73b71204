"""eSpeak NG through ctypes, from the `espeakng-loader` wheel.

The library keeps one global synthesizer per process and is not thread-safe,
so every call goes through one lock. Synthesis is synchronous: the callback
receives the PCM as it is made and `espeak_Synth` returns when the text is
done, so the exact sample count of every sentence is known.
"""

import ctypes
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import espeakng_loader

from flows.contract.errors import InvalidRequest, VoiceFailed

AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_INITIALIZE_DONT_EXIT = 0x8000
ESPEAK_CHARS_UTF8 = 1
POS_CHARACTER = 1
PARAM_RATE = 1
PARAM_PITCH = 3
DEFAULT_RATE_WPM = 175
DEFAULT_PITCH = 50

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


@dataclass(frozen=True)
class Speech:
    """Mono 16-bit PCM of one piece of text."""

    pcm: bytes
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


class _Engine:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        self.lib.espeak_Info.restype = ctypes.c_char_p
        data_parent = str(Path(espeakng_loader.get_data_path()).parent).encode()
        rate = self.lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_parent, ESPEAK_INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise VoiceFailed(f"eSpeak NG failed to initialise (returned {rate})")
        self.sample_rate: int = rate
        self._chunks: list[bytes] = []
        # Kept on the instance: ctypes must not collect a callback C still holds.
        self._callback = _SYNTH_CALLBACK(self._receive)
        self.lib.espeak_SetSynthCallback(self._callback)

    def _receive(self, wav: "ctypes._Pointer[ctypes.c_short]", samples: int, _events: int) -> int:
        if samples > 0:
            self._chunks.append(ctypes.string_at(wav, samples * 2))
        return 0

    def speak(self, text: str, *, voice: str, rate: float, pitch: float) -> Speech:
        with self.lock:
            self._select(voice)
            self.lib.espeak_SetParameter(PARAM_RATE, round(DEFAULT_RATE_WPM * rate), 0)
            self.lib.espeak_SetParameter(PARAM_PITCH, min(100, round(DEFAULT_PITCH * pitch)), 0)
            self._chunks = []
            encoded = text.encode()
            status = self.lib.espeak_Synth(
                encoded, len(encoded) + 1, 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None
            )
            self.lib.espeak_Synchronize()
            if status != 0:
                raise VoiceFailed(f"eSpeak NG could not speak {text[:60]!r} (error {status})")
            return Speech(pcm=b"".join(self._chunks), sample_rate=self.sample_rate)

    def _select(self, voice: str) -> None:
        """Select by voice file name ("en-us"), else by language ("en-gb" is spoken by "en")."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) == 0:
            return
        base, _, variant = voice.partition("+")
        language = ctypes.create_string_buffer(base.encode())
        wanted = _Voice(languages=ctypes.cast(language, ctypes.c_void_p).value)
        if self.lib.espeak_SetVoiceByProperties(ctypes.byref(wanted)) != 0:
            raise InvalidRequest(f"voice.name: eSpeak NG has no voice {voice!r}")

    def voices(self) -> frozenset[str]:
        names: set[str] = set()
        with self.lock:
            listed = self.lib.espeak_ListVoices(None)
            index = 0
            while listed[index]:
                voice = listed[index].contents
                names.add(voice.identifier.decode().rsplit("/", 1)[-1].lower())
                names.update(_languages(voice.languages))
                index += 1
        return frozenset(names)

    def version(self) -> str:
        return (self.lib.espeak_Info(None) or b"").decode()


def _languages(pointer: int | None) -> list[str]:
    """Decode eSpeak's `languages`: (priority byte, NUL-terminated name) pairs, then 0."""
    found: list[str] = []
    offset = 0
    while pointer and ctypes.c_ubyte.from_address(pointer + offset).value:
        name = ctypes.string_at(pointer + offset + 1).decode()
        found.append(name.lower())
        offset += len(name) + 2
    return found


@cache
def _engine() -> _Engine:
    return _Engine()


def speak(text: str, *, voice: str, rate: float = 1.0, pitch: float = 1.0) -> Speech:
    """Synthesize `text`; `rate` and `pitch` are multiples of the voice's defaults."""
    return _engine().speak(text, voice=voice, rate=rate, pitch=pitch)


def check_voice(name: str) -> None:
    """Raise `InvalidRequest` naming the field unless eSpeak NG can speak with this voice."""
    base, _, variant = name.lower().partition("+")
    if base not in _engine().voices():
        raise InvalidRequest(
            f"voice.name: eSpeak NG has no voice {name!r}; use a language code such as "
            "'en', 'en-us', 'fr' or 'de' (see `aura voices`)"
        )
    variants = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
    if variant and not (variants / variant).is_file():
        raise InvalidRequest(f"voice.name: eSpeak NG has no voice variant {variant!r}")
    if not _speaks(name):
        raise InvalidRequest(f"voice.name: eSpeak NG lists {name!r} but cannot speak with it")


def _speaks(name: str) -> bool:
    # A few listed voices lack their data in the wheel; one short word tells (about 1 ms).
    try:
        return speak("ok", voice=name).seconds > 0
    except InvalidRequest:
        return False


@cache
def voices() -> list[str]:
    """Every voice name `check_voice` accepts, sorted."""
    return sorted(name for name in _engine().voices() if _speaks(name))


def sample_rate() -> int:
    return _engine().sample_rate


def version() -> str:
    return _engine().version()
