"""The offline script writer: scenes and narration from templates, no model, no network.

The same brief always gives the same script: template choices come from a
generator seeded with a hash of the request.
"""

import hashlib
import random

from flows.contract.request import VideoRequest
from flows.models import Scene, Script

SECONDS_PER_SCENE = {"sparse": 20, "balanced": 12, "dense": 8}
MIN_SCENES, MAX_SCENES = 3, 20
# eSpeak NG at 175 words a minute, pauses between sentences included, measured
# over this module's own sentences.
WORDS_PER_SECOND = 3.0

# `{topic}` stands only where any phrase reads well ("about ..."), so that
# "Why honeybees matter" and "Solar power" both make sentences.
SECTIONS: list[tuple[str, list[str]]] = [
    (
        "What it is",
        [
            "To start, it helps to be clear about what we mean.",
            "At its core, this is simpler than it first sounds.",
            "Many people have heard about {topic}, but few have looked closely.",
            "A plain definition goes a long way.",
        ],
    ),
    (
        "Why it matters",
        [
            "So why should anyone care?",
            "The effects reach further than most of us expect.",
            "When we ignore this, the costs tend to show up later, and larger.",
            "Getting it right pays off again and again.",
        ],
    ),
    (
        "How it works",
        [
            "Let us look at how it works, one step at a time.",
            "Each part depends on the parts around it.",
            "Small changes in one place can shift the whole picture.",
            "Seen this way, it is a system rather than a single fact.",
        ],
    ),
    (
        "A closer look",
        [
            "Now for a closer look at the details.",
            "The numbers behind it tell a story of their own.",
            "Experts still debate some of these points, and that is healthy.",
            "What we do know is enough to act on.",
        ],
    ),
    (
        "Common questions",
        [
            "A question that comes up often is where to begin.",
            "Another is whether this is only for specialists. It is not.",
            "Most misunderstandings come from one missing piece of context.",
            "Once that piece is in place, the rest tends to follow.",
        ],
    ),
    (
        "What you can do",
        [
            "Here is what you can do, starting today.",
            "Start small, and build on what works.",
            "Share what you learn about {topic} with the people around you.",
            "Every practical step counts more than a perfect plan.",
        ],
    ),
]

INTRO = {
    "formal": "This video is about {topic}.",
    "friendly": "Hi there! Today we are talking about {topic}.",
    "default": "Welcome. Today we look at {topic}.",
}
CLOSE = {
    "formal": "That concludes our overview.",
    "friendly": "That was our short tour. Thanks for watching!",
    "default": "That was the story, in brief. Thank you for watching.",
}


def scene_count(request: VideoRequest) -> int:
    """One scene per 20, 12 or 8 seconds (sparse, balanced, dense), kept within 3 to 20."""
    seconds = SECONDS_PER_SCENE[request.plan.density]
    wanted = round(request.plan.target_duration_seconds / seconds)
    return max(MIN_SCENES, min(MAX_SCENES, wanted))


def write_script(request: VideoRequest) -> Script:
    """Write a script whose narration lasts about the target duration."""
    brief = request.brief
    topic = _topic_in_sentence(brief.topic)
    rng = random.Random(hashlib.sha256(request.model_dump_json().encode()).digest())
    count = scene_count(request)
    words_per_scene = request.plan.target_duration_seconds * WORDS_PER_SECOND * request.voice.rate / count
    tone = _tone_key(brief.tone)
    sections = rng.sample(SECTIONS, k=len(SECTIONS))

    spare = [template.format(topic=topic) for _, templates in sections for template in templates]
    rng.shuffle(spare)

    scenes = [_intro_scene(request, topic, tone, spare, words_per_scene)]
    for index in range(count - 2):
        heading, templates = sections[index % len(sections)]
        sentences = [template.format(topic=topic) for template in templates]
        rng.shuffle(sentences)
        scenes.append(_scene(heading, sentences + spare, words_per_scene))
    scenes.append(_close_scene(request, topic, tone, spare, words_per_scene))
    return Script(title=brief.topic, scenes=scenes, provider="rules")


def _intro_scene(request: VideoRequest, topic: str, tone: str, spare: list[str], words: float) -> Scene:
    brief = request.brief
    sentences = [INTRO[tone].format(topic=topic)]
    if brief.audience:
        sentences.append(f"This is for {brief.audience}, and it assumes no background.")
    if brief.goal:
        sentences.append(f"By the end, you will be able to {_lower_first(brief.goal)}.")
    sentences.append("We will cover what it is, why it matters, and what to do next.")
    return _scene(brief.topic, sentences + spare, words)


def _close_scene(request: VideoRequest, topic: str, tone: str, spare: list[str], words: float) -> Scene:
    sentences = [
        f"To sum up, there is a lot to learn about {topic}, and a lot to act on.",
        "Keep the main ideas in mind, and come back to them when you need them.",
    ]
    if request.brief.goal:
        sentences.append(f"Remember the goal: {_lower_first(request.brief.goal)}.")
    # The sign-off stays last however long the scene runs.
    return _scene("In summary", sentences + spare, words, last=CLOSE[tone])


def _scene(title: str, sentences: list[str], words: float, *, last: str = "") -> Scene:
    """Take sentences in order, cycling only when a long scene has used them all."""
    chosen: list[str] = []
    count = len(last.split())
    while not chosen or count + len(sentences[len(chosen) % len(sentences)].split()) / 2 < words:
        sentence = sentences[len(chosen) % len(sentences)]
        chosen.append(sentence)
        count += len(sentence.split())
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
