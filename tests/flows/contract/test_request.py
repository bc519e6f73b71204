import pytest
from pydantic import ValidationError

from flows.contract.request import VideoRequest


def body(**overrides: dict) -> dict:
    result: dict = {"brief": {"topic": "Why honeybees matter"}}
    for name, values in overrides.items():
        result[name] = {**result.get(name, {}), **values}
    return result


@pytest.mark.parametrize(
    ("bad", "field", "reason"),
    [
        (body(brief={"topic": ""}), "brief.topic", "at least 1 character"),
        (body(brief={"topic": "   \t "}), "brief.topic", "at least 1 character"),
        (body(brief={"topic": "x" * 100_000}), "brief.topic", "at most 300 characters"),
        (body(brief={"topic": "bees\x00and wasps"}), "brief.topic", "control character"),
        (body(brief={"topic": "line\nbreak"}), "brief.topic", "control character"),
        (body(plan={"targetDurationSeconds": 0}), "plan.targetDurationSeconds", "greater than 0"),
        (body(plan={"targetDurationSeconds": 1801}), "plan.targetDurationSeconds", "less than or equal to 1800"),
        (body(brief={"aspect": "4:3"}), "brief.aspect", "'16:9', '9:16' or '1:1'"),
        (body(render={"width": 1921}), "render.width", "must be even"),
        (body(render={"height": 4098}), "render.height", "less than or equal to 4096"),
        (body(render={"width": 8192}), "render.width", "less than or equal to 4096"),
        (body(render={"width": 1000, "height": 1000}), "", "does not match brief.aspect 16:9"),
        (body(render={"height": 4096}), "", "over 4096"),
        (body(voice={"name": "en us; rm -rf"}), "voice.name", "should match pattern"),
        (body(render={"subtitles": "karaoke"}), "render.subtitles", "'sidecar', 'burned' or 'none'"),
        (body(priority={}) | {"priority": 11}, "priority", "less than or equal to 10"),
        (body() | {"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ],
)
def test_bad_request_names_the_field_and_the_reason(bad: dict, field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as raised:
        VideoRequest.model_validate(bad)
    error = raised.value.errors()[0]
    assert ".".join(str(part) for part in error["loc"]) == field
    assert reason in error["msg"]


def test_request_accepts_camel_case_and_fills_the_frame_from_the_aspect() -> None:
    request = VideoRequest.model_validate(body(brief={"aspect": "9:16"}, render={"width": 720}))
    assert request.frame_size() == (720, 1280)
    assert VideoRequest.model_validate(body(brief={"aspect": "1:1"})).frame_size() == (1080, 1080)
    assert VideoRequest.model_validate(body()).frame_size() == (1920, 1080)


def test_unicode_topic_is_kept_as_written() -> None:
    topic = "Les abeilles — 蜜蜂为什么重要 🐝"
    assert VideoRequest.model_validate(body(brief={"topic": f"  {topic} "})).brief.topic == topic


def test_voice_defaults_to_the_brief_language() -> None:
    assert VideoRequest.model_validate(body(brief={"language": "fr"})).voice_name() == "fr"
    assert VideoRequest.model_validate(body(voice={"name": "en-us"})).voice_name() == "en-us"


def test_piper_speaks_english_requests_that_name_no_voice_and_espeak_the_rest() -> None:
    def engine(**sections: dict) -> str:
        return VideoRequest.model_validate(body(**sections)).voice_engine("piper")

    assert engine() == "piper"
    assert engine(brief={"language": "en-gb"}) == "piper"
    assert engine(brief={"language": "fr"}) == "espeak"
    assert engine(voice={"name": "en-us"}) == "espeak", "naming an eSpeak NG voice chooses eSpeak NG"
    assert engine(voice={"engine": "espeak"}) == "espeak"
    assert engine(brief={"language": "fr"}, voice={"engine": "piper"}, providers={"voice": "my-french"}) == "piper"
    assert VideoRequest.model_validate(body()).voice_engine("espeak") == "espeak", "the service's default"


@pytest.mark.parametrize(
    ("sections", "reason"),
    [
        ({"voice": {"engine": "piper", "name": "en-us"}}, "leave it out with engine piper"),
        ({"voice": {"engine": "piper"}, "brief": {"topic": "Les abeilles", "language": "fr"}}, "not 'fr'"),
        ({"voice": {"engine": "neural"}}, "'piper' or 'espeak'"),
    ],
)
def test_an_engine_that_cannot_speak_the_request_is_refused(sections: dict, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        VideoRequest.model_validate(body(**sections))
