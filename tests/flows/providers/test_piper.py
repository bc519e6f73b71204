"""Piper's neural voice, the bundled model, spoken here (no Prefect, no FFmpeg)."""

import array
import threading
import time
from pathlib import Path

import pytest

from flows.models import Scene, Script
from flows.providers import espeak, piper
from flows.providers.narrator import narrate, speaker

SENTENCES = [
    "Honeybees pollinate a third of the food we eat.",
    "Yes.",
    "A single colony can hold sixty thousand workers, and each of them visits hundreds of flowers a day.",
    "They dance to tell the others where food is.",
]


class Stop(Exception):
    pass


def piper_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("piper")]


def test_the_bundled_voice_speaks_english_at_22050_hz() -> None:
    [speech] = piper.speak_each(SENTENCES[:1], tuning=piper.Tuning(), rate=1.0, threads=1, tick=lambda: None)
    samples = array.array("h", speech.pcm)
    assert speech.sample_rate == piper.sample_rate(piper.Tuning()) == 22050
    assert 1.5 < speech.seconds < 6
    assert max(abs(value) for value in samples) > 10000
    assert piper.Tuning().name() == "en_US-joe-medium"


def test_sentences_spoken_side_by_side_come_back_in_order() -> None:
    speeches = list(piper.speak_each(SENTENCES, tuning=piper.Tuning(), rate=1.0, threads=2, tick=lambda: None))
    seconds = [speech.seconds for speech in speeches]
    assert seconds[1] < 1.2 < seconds[0] < seconds[2], "the short 'Yes.' second, the long sentence third"
    assert not piper_threads(), "the pool is gone once every sentence is spoken"


def test_a_slower_rate_makes_longer_speech() -> None:
    text = SENTENCES[2]
    [normal] = piper.speak_each([text], tuning=piper.Tuning(), rate=1.0, threads=1, tick=lambda: None)
    [slow] = piper.speak_each([text], tuning=piper.Tuning(), rate=0.5, threads=1, tick=lambda: None)
    assert slow.seconds > normal.seconds * 1.6


def test_a_cancel_while_sentences_are_spoken_stops_them_all_at_once() -> None:
    clock = time.monotonic()
    list(piper.speak_each(SENTENCES[2:3], tuning=piper.Tuning(), rate=1.0, threads=1, tick=lambda: None))
    one = time.monotonic() - clock
    # Four sentences eight times as long, two at a time: about 16 times `one` to speak them all.
    long = " ".join([SENTENCES[2].rstrip(".")] * 8) + "."
    started = time.monotonic()

    def tick() -> None:
        if time.monotonic() - started > 0.3:
            raise Stop

    with pytest.raises(Stop):
        list(piper.speak_each([long] * 4, tuning=piper.Tuning(), rate=1.0, threads=2, tick=tick))
    stopped = time.monotonic() - started
    assert stopped < min(1.0, 8 * one), f"stopped {stopped:.2f} s after the start, not when a sentence was done"
    assert not piper_threads()


def test_a_voice_that_cannot_load_falls_back_to_espeak_with_a_warning(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    (tmp_path / "broken.onnx.json").write_text("{}")
    warnings: list[str] = []
    chosen = speaker(
        "piper",
        tuning=piper.Tuning(model_path=broken),
        voice="en",
        rate=1.0,
        pitch=1.0,
        threads=2,
        warn=warnings.append,
    )
    assert (chosen.engine, chosen.name, chosen.sample_rate) == ("espeak", "en", espeak.sample_rate())
    assert len(warnings) == 1 and "Piper could not load broken.onnx" in warnings[0] and "eSpeak NG" in warnings[0]


def test_a_narration_by_piper_records_its_engine_and_cues_on_the_speech(tmp_path: Path) -> None:
    script = Script(
        title="Bees",
        scenes=[
            Scene(title="One", narration=SENTENCES[:2], on_screen=[]),
            Scene(title="Two", narration=SENTENCES[2:], on_screen=[]),
        ],
        provider="test",
    )
    seen: list[tuple[int, int]] = []
    chosen = speaker("piper", tuning=piper.Tuning(), voice="en", rate=1.0, pitch=1.0, threads=2, warn=print)
    narration = narrate(
        script,
        speaker=chosen,
        pacing="normal",
        target_seconds=10,
        out=tmp_path / "n.wav",
        progress=lambda d, t, _m: seen.append((d, t)),
    )
    assert (narration.engine, narration.voice) == ("piper", "en_US-joe-medium")
    cues = narration.cues()
    assert [cue.text for cue in cues] == SENTENCES
    assert all(a.end <= b.start for a, b in zip(cues, cues[1:], strict=False))
    assert seen[-1] == (4, 4) and [done for done, _ in seen] == sorted(done for done, _ in seen)
