"""The offline script writer: scenes and narration from templates, no model, no network.

The same brief always gives the same script: template choices come from a
generator seeded with a hash of the request's brief, plan and voice.
"""

import hashlib
import random
from collections.abc import Callable, Iterable, Iterator

from flows.contract.request import VideoRequest
from flows.models import Scene, Script
from flows.providers.narrator import PAUSE_SECONDS, SCENE_PAUSE_FACTOR
from flows.providers.script_phrases import ROLES, Role

SECONDS_PER_SCENE = {"sparse": 20, "balanced": 12, "dense": 8}
# Two: the opening and the close, all a ten-second video has time to say.
MIN_SCENES, MAX_SCENES = 2, 20
# eSpeak NG speaks 18.4–19.0 characters a second at rate 1.0 over these sentences (words vary
# more: 3.6–3.8 a second), measured on several topics and lengths.
CHARS_PER_SECOND = 18.5
# The sentences are chosen to fill the target with the narrator's pauses at this stretch, the
# middle of what the narrator may stretch them by to land on the target exactly.
PLANNED_STRETCH = 1.5
# The share of a scene's last sentence that may run over its budget: the pauses can shrink by
# less than they can stretch, so a scene had better fall short a little than run over.
OVERRUN = 0.25

INTRO = {
    "formal": "This video is about {topic}.",
    "friendly": "Hi there! Today we are talking about {topic}.",
    "default": "Welcome. Today we look at {topic}.",
}
# The opening when naming the topic would take over half the video (a long topic, a short target):
# the first slide's title names it.
GREETING = {"formal": "Good day.", "friendly": "Hi there!", "default": "Welcome."}
CLOSE = {
    "formal": "That concludes our overview.",
    "friendly": "That was our short tour. Thanks for watching!",
    "default": "That was the story, in brief. Thank you for watching.",
}


def scene_count(request: VideoRequest) -> int:
    """One scene per 20, 12 or 8 seconds (sparse, balanced, dense), kept within 2 to 20."""
    seconds = SECONDS_PER_SCENE[request.plan.density]
    wanted = round(request.plan.target_duration_seconds / seconds)
    return max(MIN_SCENES, min(MAX_SCENES, wanted))


def spoken_seconds(sentence: str, rate: float) -> float:
    """About how long the narrator takes to say `sentence`, pauses left out."""
    return len(sentence) / (CHARS_PER_SECOND * rate)


def write_script(request: VideoRequest) -> Script:
    """Write a script whose narration, spoken with its pauses, lasts about the target duration.

    Middle scenes take turns through the roles (`flows.providers.script_phrases`) in an order of
    the brief's own, each saying its role's sentences first; no sentence is said twice until all
    have been said once.
    """
    brief = request.brief
    topic = _topic_in_sentence(brief.topic)
    # From what the words depend on: another size or subtitle mode of the same brief says the same.
    said = request.model_dump_json(include={"brief", "plan", "voice"})
    rng = random.Random(hashlib.sha256(said.encode()).digest())
    count = scene_count(request)
    tone = _tone_key(brief.tone)
    roles = rng.sample(ROLES, k=len(ROLES))
    pool = _Pool({role: role.in_turn(topic, rng) for role in roles})
    pause = PAUSE_SECONDS[request.plan.pacing] * PLANNED_STRETCH
    scene_change = pause * (SCENE_PAUSE_FACTOR - 1)
    scenes: list[Scene] = []

    def cost(sentence: str) -> float:
        return spoken_seconds(sentence, request.voice.rate) + pause

    def scene(title: str, first: list[str], role: Role | None, last: str = "") -> Scene:
        # The scenes so far and this one share the target evenly: what earlier ones left over is
        # this one's to say, what they ran over is taken from it.
        made = len(scenes) + 1
        budget = request.plan.target_duration_seconds * made / count - made * scene_change
        budget -= sum(cost(sentence) for earlier in scenes for sentence in earlier.narration)
        return _scene(title, first, pool.unsaid(role), pool.said.add, budget, cost, last=last)

    opening = _opening(request, topic, tone)
    if cost(opening[0]) > request.plan.target_duration_seconds / 2:
        opening[0] = GREETING[tone]
    scenes.append(scene(brief.topic, opening, None))
    for index in range(count - 2):
        role = roles[index % len(roles)]
        scenes.append(scene(role.headings[index // len(roles) % len(role.headings)], [], role))
    scenes.append(scene("In summary", _summing_up(request, topic), None, last=CLOSE[tone]))
    return Script(title=brief.topic, scenes=scenes, provider="rules")


def _opening(request: VideoRequest, topic: str, tone: str) -> list[str]:
    brief = request.brief
    sentences = [INTRO[tone].format(topic=topic)]
    if brief.audience:
        sentences.append(f"This is for {brief.audience}, and it assumes no background.")
    if brief.goal:
        sentences.append(f"By the end, you will be able to {_lower_first(brief.goal)}.")
    sentences.append("We will cover what it is, why it matters, and what to do next.")
    return sentences


def _summing_up(request: VideoRequest, topic: str) -> list[str]:
    sentences = [
        f"To sum up, there is a lot to learn about {topic}, and a lot to act on.",
        "Keep the main ideas in mind, and come back to them when you need them.",
    ]
    if request.brief.goal:
        sentences.append(f"Remember the goal: {_lower_first(request.brief.goal)}.")
    return sentences


class _Pool:
    """Every role's sentences, each said once before any is said again."""

    def __init__(self, sentences: dict[Role, list[str]]) -> None:
        self.sentences = sentences
        self.said: set[str] = set()

    def unsaid(self, role: Role | None) -> Iterator[str]:
        """The sentences not said yet, of `role` first (any role for None), then of the others in turn."""
        order = ([role] if role else []) + [other for other in self.sentences if other is not role]
        every = [sentence for each in order for sentence in self.sentences[each]]
        if self.said.issuperset(every):
            # All said once (a video of over a quarter of an hour): begin again.
            self.said.clear()
        return (sentence for sentence in every if sentence not in self.said)


def _scene(
    title: str,
    first: list[str],
    drawn: Iterable[str],
    say: Callable[[str], None],
    budget: float,
    cost: Callable[[str], float],
    *,
    last: str = "",
) -> Scene:
    """The scene's sentences that fit in `budget` seconds: of `first` in order, then of `drawn`.

    A sentence fits if no more than `OVERRUN` of it runs over; one that does not is passed over for
    a shorter one after it. A scene says at least one sentence; its `last`, if it has one, always
    closes it.
    """
    chosen: list[str] = []
    spent = cost(last) if last else 0.0

    def fits(sentence: str) -> bool:
        return not (chosen or last) or spent + cost(sentence) * (1 - OVERRUN) <= budget

    for candidate in first:
        if fits(candidate):
            chosen.append(candidate)
            spent += cost(candidate)
    for candidate in drawn:
        if spent >= budget:
            break
        if fits(candidate):
            chosen.append(candidate)
            say(candidate)
            spent += cost(candidate)
    if last:
        chosen.append(last)
    return Scene(title=title, narration=chosen, on_screen=_key_points(chosen))


def _key_points(sentences: list[str]) -> list[str]:
    """Up to three short lines for the slide: each sentence's first clause, at most 8 words."""
    points: list[str] = []
    for sentence in sentences:
        words = sentence.split(",")[0].rstrip(".!?:").split()
        clause = " ".join(words[:8]) + (" …" if len(words) > 8 else "")
        if clause not in points:
            points.append(clause)
        if len(points) == 3:
            break
    return points


def _topic_in_sentence(topic: str) -> str:
    # "Why honeybees matter" reads as "why honeybees matter" mid-sentence;
    # acronyms and names ("NASA", "Python") keep their capital.
    first = topic.split()[0]
    if len(first) > 1 and first[1:].islower() and first.lower() in _SENTENCE_STARTERS:
        return topic[0].lower() + topic[1:]
    return topic


_SENTENCE_STARTERS = {"why", "how", "what", "when", "where", "who", "the", "a", "an", "our", "your"}


def _tone_key(tone: str | None) -> str:
    words = (tone or "").lower()
    if any(word in words for word in ("formal", "serious", "academic", "professional")):
        return "formal"
    if any(word in words for word in ("friendly", "casual", "fun", "playful", "warm")):
        return "friendly"
    return "default"


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:] if text[:2].istitle() else text
