"""Keys, owners and CORS origin of the `secured` API process (tests/e2e/conftest.py); the header that sends a key."""

ALICE, BOB, ADMIN = "alice-key-0123456789", "bob-key-0123456789ab", "admin-key-0123456789"
STUDIO = "https://studio.example"


def as_(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}
