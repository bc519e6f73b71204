import pytest

from flows.providers.script_rules import scene_count, write_script
from tests.utils.factories import make_request


@pytest.mark.parametrize(
    ("seconds", "density", "scenes"),
    [
        (60, "sparse", 3),
        (60, "balanced", 5),
        (60, "dense", 8),
        (10, "balanced", 3),
        (1800, "dense", 20),
        (240, "sparse", 12),
    ],
)
def test_scene_count_follows_density_within_3_to_20(seconds: float, density: str, scenes: int) -> None:
    request = make_request(plan={"targetDurationSeconds": seconds, "density": density})
    assert scene_count(request) == scenes
    assert len(write_script(request).scenes) == scenes


def test_same_brief_gives_the_same_script_and_another_brief_another() -> None:
    request = make_request(plan={"targetDurationSeconds": 90})
    assert write_script(request) == write_script(request)
    assert write_script(make_request("Solar power", plan={"targetDurationSeconds": 90})) != write_script(request)


def test_script_opens_with_the_topic_speaks_to_audience_and_goal_and_closes() -> None:
    request = make_request(
        "Why honeybees matter",
        brief={"audience": "school children", "goal": "Explain pollination", "tone": "friendly"},
        plan={"targetDurationSeconds": 60},
    )
    script = write_script(request)
    opening = " ".join(script.scenes[0].narration)
    assert "why honeybees matter" in opening
    assert "school children" in opening
    assert "explain pollination" in opening
    assert script.scenes[0].title == "Why honeybees matter"
    assert script.scenes[-1].narration[-1].endswith("Thanks for watching!")
    assert all(scene.on_screen and scene.narration for scene in script.scenes)


def test_longer_target_gives_proportionally_more_words() -> None:
    words = [
        sum(
            len(sentence.split())
            for sentence in write_script(make_request(plan={"targetDurationSeconds": seconds})).sentences()
        )
        for seconds in (30, 120)
    ]
    assert 3 < words[1] / words[0] < 5
