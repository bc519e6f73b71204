"""Narration: every sentence spoken on its own, laid on a timeline with pauses.

Every cue's start and end come from the samples actually synthesized, so
subtitles and scene cuts sit exactly on the speech, and the pauses are sized
from them so that the whole lasts the requested duration. Piper speaks several
sentences at once (`flows.providers.piper`); eSpeak NG, a hundred times faster
and not thread-safe, one after another. If Piper cannot load, eSpeak NG speaks
instead and `warn` says so.
"""

import wave
from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from flows.contract.errors import VoiceFailed
from flows.contract.request import VoiceEngine
from flows.models import Cue, Narration, SceneTiming, Script
from flows.providers import espeak, piper
from flows.providers.espeak import Speech

PAUSE_SECONDS = {"slow": 0.6, "normal": 0.35, "fast": 0.2}
# A scene change gets a longer breath than a sentence break.
SCENE_PAUSE_FACTOR = 2.0
# How far the pauses may shrink or stretch to land on the target: below half they run sentences
# together, past three times a listener hears them as gaps.
STRETCH = (0.5, 3.0)

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Speaker:
    engine: VoiceEngine
    name: str
    sample_rate: int
    # (sentences, tick) → their speech in order; `tick` runs while it waits, and may raise to stop it.
    speak_each: Callable[[list[str], Callable[[], None]], Generator[Speech]]


def speaker(
    engine: VoiceEngine,
    *,
    tuning: piper.Tuning,
    voice: str,
    rate: float,
    pitch: float,
    threads: int,
    warn: Callable[[str], None],
) -> Speaker:
    """The narrator asked for; eSpeak NG with `voice` if that is Piper and its model cannot load."""
    if engine == "piper":
        try:
            return Speaker(
                "piper",
                tuning.name(),
                piper.sample_rate(tuning),
                lambda sentences, tick: piper.speak_each(
                    sentences, tuning=tuning, rate=rate, threads=threads, tick=tick
                ),
            )
        except VoiceFailed as exc:
            warn(f"voice: {exc.message}; eSpeak NG speaks this job instead (voice {voice})")
    return Speaker(
        "espeak",
        voice,
        espeak.sample_rate(),
        lambda sentences, _tick: (espeak.speak(text, voice=voice, rate=rate, pitch=pitch) for text in sentences),
    )


def narrate(
    script: Script, *, speaker: Speaker, pacing: str, target_seconds: float, out: Path, progress: Progress
) -> Narration:
    """Speak every sentence of `script` into the WAV file `out`, paused to last about `target_seconds`.

    Every sentence is spoken before any is laid down: the pauses stretch or shrink together (within
    `STRETCH`) by what the speech leaves of the target, and the voice is never sped up.
    """
    total = len(script.sentences())
    speeches: list[Speech] = []

    def tick() -> None:
        progress(len(speeches), total, f"sentence {len(speeches) + 1} of {total}")

    with closing(speaker.speak_each(script.sentences(), tick)) as spoken:
        for _ in range(total):
            tick()
            speeches.append(next(spoken))
    pauses = gaps(script, PAUSE_SECONDS[pacing])
    stretch = pause_stretch(sum(speech.seconds for speech in speeches), sum(pauses), target_seconds)
    clock = 0.0
    scenes: list[SceneTiming] = []
    said = iter(zip(speeches, pauses, strict=True))
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(speaker.sample_rate)
        for scene in script.scenes:
            scene_start = clock
            cues: list[Cue] = []
            for sentence in scene.narration:
                speech, gap = next(said)
                wav.writeframes(speech.pcm)
                cues.append(Cue(start=clock, end=clock + speech.seconds, text=sentence))
                clock += speech.seconds
                clock += _silence(wav, gap * stretch, speaker.sample_rate)
            scenes.append(SceneTiming(start=scene_start, end=clock, cues=cues))
    progress(total, total, f"{total} sentences spoken")
    return Narration(
        audio=out,
        sample_rate=speaker.sample_rate,
        seconds=clock,
        scenes=scenes,
        voice=speaker.name,
        engine=speaker.engine,
    )


def pause_stretch(spoken: float, pauses: float, target: float) -> float:
    """The factor on every pause that makes `spoken` seconds of speech and the pauses last `target`."""
    if pauses <= 0:
        return 1.0
    low, high = STRETCH
    return min(high, max(low, (target - spoken) / pauses))


def gaps(script: Script, pause: float) -> list[float]:
    """The pause after each sentence, unstretched: a scene change gets a longer breath."""
    after = []
    for scene_index, scene in enumerate(script.scenes):
        more_scenes = scene_index < len(script.scenes) - 1
        for position in range(len(scene.narration)):
            ends_scene = position == len(scene.narration) - 1
            after.append(pause * (SCENE_PAUSE_FACTOR if ends_scene and more_scenes else 1))
    return after


def _silence(wav: wave.Wave_write, seconds: float, sample_rate: int) -> float:
    """Write `seconds` of silence; return the exact length written."""
    frames = round(seconds * sample_rate)
    wav.writeframes(b"\x00\x00" * frames)
    return frames / sample_rate
