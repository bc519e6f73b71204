"""An API process with authentication on, for the tests of keys, owners, tokens, limits and CORS."""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.utils.stack import ApiProcess

ALICE, BOB, ADMIN = "alice-key-0123456789", "bob-key-0123456789ab", "admin-key-0123456789"
STUDIO = "https://studio.example"


@pytest.fixture(scope="module")
def secured(service: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    """A second API process on the same Prefect and worker, with keys, a queue cap of 2 and one CORS origin."""
    folder = tmp_path_factory.mktemp("secured")
    keys = folder / "keys.txt"
    keys.write_text(f"# operators\n{ADMIN} ops admin\n")
    with ApiProcess(
        folder / "api.log",
        AURA_API_KEYS=f"{ALICE}:alice,{BOB}:bob",
        AURA_API_KEYS_FILE=str(keys),
        AURA_MAX_QUEUED_PER_OWNER="2",
        AURA_CORS_ORIGINS=f'["{STUDIO}"]',
    ) as api:
        yield api


def as_(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}
