"""The offline writer's words: for each scene role its headings, whole sentences, and halves.

A role's sentences are its whole ones and every pairing of one of its subjects with one of its
predicates: each subject reads well with each predicate, so a role has 4 + 6 × 6 = 40 sentences
and the writer about 330 in all, enough for some 15 minutes of narration before any repeats.
`{topic}` stands only where any phrase reads well ("about ..."), so that "Why honeybees matter"
and "Solar power" both make sentences.
"""

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    headings: tuple[str, ...]
    sentences: tuple[str, ...]
    subjects: tuple[str, ...]
    predicates: tuple[str, ...]

    def in_turn(self, topic: str, rng: random.Random) -> list[str]:
        """Every sentence of the role once: its whole ones, then rounds of pairs in which each subject
        and each predicate comes once, so that sentences said one after another share no half."""
        whole = rng.sample(self.sentences, k=len(self.sentences))
        subjects = rng.sample(self.subjects, k=len(self.subjects))
        predicates = rng.sample(self.predicates, k=len(self.predicates))
        paired = [
            f"{subject} {predicates[(index + shift) % len(predicates)]}"
            for shift in range(len(predicates))
            for index, subject in enumerate(subjects)
        ]
        return [sentence.format(topic=topic) for sentence in (*whole, *paired)]


ROLES: tuple[Role, ...] = (
    Role(
        headings=("What it is", "The basics", "A working definition"),
        sentences=(
            "To start, it helps to be clear about what we mean.",
            "At its core, this is simpler than it first sounds.",
            "Many people have heard about {topic}, but few have looked closely.",
            "A plain definition goes a long way.",
        ),
        subjects=(
            "The basic idea",
            "The word itself",
            "The simplest version",
            "The everyday meaning",
            "The textbook description",
            "The short answer",
        ),
        predicates=(
            "fits in a single sentence.",
            "leaves out more than it seems.",
            "is a good place to begin.",
            "has changed over the years.",
            "is easy to misread at first.",
            "becomes clearer with an example.",
        ),
    ),
    Role(
        headings=("Why it matters", "What is at stake", "The bigger picture"),
        sentences=(
            "So why should anyone care?",
            "The effects reach further than most of us expect.",
            "When we ignore this, the costs tend to show up later, and larger.",
            "Getting it right pays off again and again.",
        ),
        subjects=(
            "The first effect",
            "The long-term cost",
            "The benefit to families",
            "The impact on communities",
            "The price of doing nothing",
            "The gain from small changes",
        ),
        predicates=(
            "is easy to underestimate.",
            "adds up over time.",
            "shows up in unexpected places.",
            "is felt by people who never chose it.",
            "grows with every passing year.",
            "can be measured, at least roughly.",
        ),
    ),
    Role(
        headings=("How it works", "Step by step", "Inside the process"),
        sentences=(
            "Let us look at how it works, one step at a time.",
            "Each part depends on the parts around it.",
            "Small changes in one place can shift the whole picture.",
            "Seen this way, it is a system rather than a single fact.",
        ),
        subjects=(
            "The first stage",
            "The middle step",
            "The final stage",
            "The main mechanism",
            "The feedback loop",
            "The hidden link",
        ),
        predicates=(
            "sets up everything that follows.",
            "is where most of the work happens.",
            "responds to conditions around it.",
            "runs faster than you might think.",
            "is easiest to see in a diagram.",
            "explains a lot of what we observe.",
        ),
    ),
    Role(
        headings=("A closer look", "The details", "Under the surface"),
        sentences=(
            "Now for a closer look at the details.",
            "The numbers behind it tell a story of their own.",
            "Experts still debate some of these points, and that is healthy.",
            "What we do know is enough to act on.",
        ),
        subjects=(
            "The data we have",
            "A careful study",
            "The fine print",
            "A single example",
            "The exception to the rule",
            "The latest research",
        ),
        predicates=(
            "points in a clear direction.",
            "deserves a second look.",
            "tells a more nuanced story.",
            "rewards a little patience.",
            "surprises even the experts.",
            "fills in part of the picture.",
        ),
    ),
    Role(
        headings=("Common questions", "What people ask", "Myths and facts"),
        sentences=(
            "A question that comes up often is where to begin.",
            "Some ask whether this is only for specialists. It is not.",
            "Most misunderstandings come from one missing piece of context.",
            "Once the missing piece is in place, the rest tends to follow.",
        ),
        subjects=(
            "The most common myth",
            "A frequent worry",
            "The usual objection",
            "An honest doubt",
            "A popular misconception",
            "The question beginners ask",
        ),
        predicates=(
            "has a simple answer.",
            "comes from an old habit.",
            "is worth taking seriously.",
            "falls apart on a closer look.",
            "holds a grain of truth.",
            "fades once the basics are clear.",
        ),
    ),
    Role(
        headings=("What you can do", "Putting it to use", "First steps"),
        sentences=(
            "Here is what you can do, starting today.",
            "Start small, and build on what works.",
            "Share what you learn about {topic} with the people around you.",
            "Every practical step counts more than a perfect plan.",
        ),
        subjects=(
            "A small daily habit",
            "A conversation with a friend",
            "A simple checklist",
            "Joining a local group",
            "A weekend project",
            "A single change at home",
        ),
        predicates=(
            "makes a real difference.",
            "is a good first step.",
            "costs less than you might expect.",
            "builds confidence quickly.",
            "helps you see progress.",
            "is easy to keep up.",
        ),
    ),
    Role(
        headings=("How we got here", "A short history", "Where it began"),
        sentences=(
            "It helps to know how we got here.",
            "None of this appeared overnight.",
            "Each generation added a piece of the story.",
            "Looking back makes the present easier to read.",
        ),
        subjects=(
            "The earliest record",
            "An old tradition",
            "A turning point",
            "The first serious study",
            "A forgotten pioneer",
            "A lucky accident",
        ),
        predicates=(
            "changed how people thought about it.",
            "still shapes the way we work today.",
            "came earlier than most people assume.",
            "opened the door to new questions.",
            "is a story worth retelling.",
            "left lessons we still use.",
        ),
    ),
    Role(
        headings=("Looking ahead", "What comes next", "The road ahead"),
        sentences=(
            "So where does it go from here?",
            "The next few years will bring real changes.",
            "Some trends are already easy to spot.",
            "What happens next depends partly on us.",
        ),
        subjects=(
            "A new tool",
            "The next generation",
            "A shift in habits",
            "A change in the rules",
            "A wave of new ideas",
            "A cheaper technology",
        ),
        predicates=(
            "could change the picture quickly.",
            "is already on its way.",
            "will test what we know.",
            "brings both risks and chances.",
            "deserves our attention now.",
            "may matter more than we think.",
        ),
    ),
)
