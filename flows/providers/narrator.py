"""Narration: one eSpeak NG call per sentence, laid on a timeline with pauses.

Every cue's start and end come from the samples actually synthesized, so
subtitles and scene cuts sit exactly on the speech.
"""

import wave
from collections.abc import Callable
from pathlib import Path

from flows.models import Cue, Narration, SceneTiming, Script
from flows.providers import espeak

PAUSE_SECONDS = {"slow": 0.6, "normal": 0.35, "fast": 0.2}
# A scene change gets a longer breath than a sentence break.
SCENE_PAUSE_FACTOR = 2.0

Progress = Callable[[int, int, str], None]


def narrate(
    script: Script,
    *,
    voice: str,
    rate: float,
    pitch: float,
    pacing: str,
    out: Path,
    progress: Progress,
) -> Narration:
    """Speak every sentence of `script` into the WAV file `out`."""
    sample_rate = espeak.sample_rate()
    pause = PAUSE_SECONDS[pacing]
    total = len(script.sentences())
    done = 0
    clock = 0.0
    scenes: list[SceneTiming] = []
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        for scene_index, scene in enumerate(script.scenes):
            scene_start = clock
            cues: list[Cue] = []
            for position, sentence in enumerate(scene.narration):
                progress(done, total, f"sentence {done + 1} of {total}")
                speech = espeak.speak(sentence, voice=voice, rate=rate, pitch=pitch)
                wav.writeframes(speech.pcm)
                cues.append(Cue(start=clock, end=clock + speech.seconds, text=sentence))
                clock += speech.seconds
                ends_scene = position == len(scene.narration) - 1
                more_scenes = scene_index < len(script.scenes) - 1
                gap = pause * (SCENE_PAUSE_FACTOR if ends_scene and more_scenes else 1)
                clock += _silence(wav, gap, sample_rate)
                done += 1
            scenes.append(SceneTiming(start=scene_start, end=clock, cues=cues))
    progress(total, total, f"{total} sentences spoken")
    return Narration(audio=out, sample_rate=sample_rate, seconds=clock, scenes=scenes, voice=voice)


def _silence(wav: wave.Wave_write, seconds: float, sample_rate: int) -> float:
    """Write `seconds` of silence; return the exact length written."""
    frames = round(seconds * sample_rate)
    wav.writeframes(b"\x00\x00" * frames)
    return frames / sample_rate
