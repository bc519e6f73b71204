import array

import pytest

from flows.contract.errors import InvalidRequest
from flows.providers import espeak


def test_speech_is_22050_hz_and_not_silent() -> None:
    speech = espeak.speak("Honeybees pollinate a third of what we eat.", voice="en")
    samples = array.array("h", speech.pcm)
    assert speech.sample_rate == 22050
    assert 1.5 < speech.seconds < 6
    assert max(abs(value) for value in samples) > 3000


def test_rate_changes_the_length_of_speech() -> None:
    text = "The quick brown fox jumps over the lazy dog, twice over."
    slow = espeak.speak(text, voice="en", rate=0.6).seconds
    fast = espeak.speak(text, voice="en", rate=1.8).seconds
    assert slow > fast * 2


def test_known_voices_pass_and_unknown_ones_name_the_field() -> None:
    for name in ("en", "en-us", "fr", "de", "en-us+f3"):
        espeak.check_voice(name)
    with pytest.raises(InvalidRequest, match=r"voice.name: eSpeak NG has no voice 'klingon'"):
        espeak.check_voice("klingon")
    with pytest.raises(InvalidRequest, match=r"no voice variant 'nosuch'"):
        espeak.check_voice("en+nosuch")


def test_unicode_text_is_spoken_without_error() -> None:
    assert espeak.speak("Les abeilles, 蜜蜂 🐝, café.", voice="fr").seconds > 0.5
