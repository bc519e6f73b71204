"""Every file the docs point to is in the repository: markdown links, and paths quoted as code.

A reader follows `[text](target)` links and opens paths such as `flows/contract/errors.py`;
both must resolve inside this repository (not in a folder beside a checkout, and not in a
module that has since moved).
"""

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "bench" / "README.md"]

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
# Inline links and images `[text](target "title")`, and reference definitions `[label]: target`.
INLINE_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'(][^)]*)?\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
# A path as the docs quote one: plain segments, no placeholders (`jobs/<jobId>/`), no spaces.
PATH = re.compile(r"(\.\./|\./)*[\w.-]+(/[\w.-]+)*/?")
# Folders of the repository a quoted path may start with (paths under `.aura/` or `test-artifacts/`
# are made at run time); and the kinds of files the docs send readers to.
TOP_LEVEL = {"api", "flows", "blocks", "web", "tests", "bench", "docs", ".ci"}
FILE_SUFFIX = re.compile(r"\.(md|py|ya?ml|toml|txt|js|html|css|json|cfg|ini|sh)$")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose(doc: Path) -> str:
    """The document without its fenced code blocks (shell sessions, sample output)."""
    return FENCE.sub("", doc.read_text(encoding="utf-8"))


def inside_repo(path: Path) -> bool:
    resolved = path.resolve()
    return resolved.is_relative_to(REPO) and resolved.exists()


def link_targets(doc: Path) -> list[str]:
    text = prose(doc)
    targets = INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)
    return [target for target in targets if not SCHEME.match(target) and not target.startswith("#")]


def quoted_paths(doc: Path) -> list[str]:
    """Code spans that name a file or folder of the repository."""
    found = []
    for span in CODE_SPAN.findall(prose(doc)):
        if "/" not in span or not PATH.fullmatch(span) or span.startswith("/"):
            continue
        first = span.lstrip("./").split("/", 1)[0]
        if span.startswith("../") or first in TOP_LEVEL or FILE_SUFFIX.search(span):
            found.append(span)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: str(doc.relative_to(REPO)))
def test_every_relative_link_resolves_inside_the_repository(doc: Path) -> None:
    broken = []
    for target in link_targets(doc):
        path = unquote(target.split("#", 1)[0].split("?", 1)[0])
        if path and not inside_repo(doc.parent / path):
            broken.append(target)
    assert not broken, f"{doc.relative_to(REPO)} links to what the repository does not hold: {broken}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: str(doc.relative_to(REPO)))
def test_every_quoted_path_is_in_the_repository(doc: Path) -> None:
    # From the repository's root as a rule; also accepted: from the document's own folder, and from
    # a top-level folder the prose is about ("in `api/`: the copy of the jobs, `jobs/index.py`").
    bases = [REPO, doc.parent, *(REPO / folder for folder in sorted(TOP_LEVEL))]
    missing = [path for path in quoted_paths(doc) if not any(inside_repo(base / path) for base in bases)]
    assert not missing, f"{doc.relative_to(REPO)} names paths the repository does not hold: {missing}"


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "See [the design](../shared/DESIGN.md), [a site](https://example.org/x.md), [here](#top),\n"
        "and `flows/errors.py`, `shared/reference/notes.md`, `jobs/<jobId>/`, `text/event-stream`.\n"
        "```sh\ncat `api/nowhere.py`\n```\n[ref]: docs/gone.md\n",
        encoding="utf-8",
    )
    assert link_targets(doc) == ["../shared/DESIGN.md", "docs/gone.md"]
    assert quoted_paths(doc) == ["flows/errors.py", "shared/reference/notes.md"]
