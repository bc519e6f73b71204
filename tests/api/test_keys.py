"""API keys and read-only tokens: parsing the configured keys, finding callers, signing tokens."""

import base64
import json
import time
from pathlib import Path

import pytest

from api.keys import LOCAL, Caller, KeyRing, load_keys

ALICE, BOB, ADMIN = "alice-key-0123456789", "bob-key-0123456789ab", "admin-key-0123456789"


def ring() -> KeyRing:
    return load_keys(f"{ALICE}:alice,{BOB}:bob,{ADMIN}:ops:admin", None)


def test_keys_come_from_the_setting_and_the_file_with_comments_and_blank_lines_skipped(tmp_path: Path) -> None:
    file = tmp_path / "keys.txt"
    file.write_text(f"# operators\n\n  {ADMIN} ops admin\n   # another comment\n{BOB}  bob\n")
    keys = load_keys(f" {ALICE}:alice , ", file)
    assert keys.enabled
    assert keys.keys == {
        ALICE: Caller(owner="alice", admin=False),
        ADMIN: Caller(owner="ops", admin=True),
        BOB: Caller(owner="bob", admin=False),
    }


def test_no_keys_means_authentication_is_off() -> None:
    assert not load_keys("", None).enabled
    assert not load_keys(" , ", None).enabled


@pytest.mark.parametrize(
    ("listed", "owner"),
    [
        ("short:alice", "alice"),
        (f"{ALICE}:Alice", "Alice"),
        (f"{ALICE}:al ice", "al ice"),
        (f"{ALICE}:-alice", "-alice"),
        (f"{ALICE}:alice:root", "alice"),
        (f"{ALICE}:alice:admin:admin", "alice"),
        (ALICE, ""),
    ],
)
def test_a_bad_entry_is_refused_naming_its_owner_and_what_is_allowed(listed: str, owner: str) -> None:
    with pytest.raises(ValueError, match=rf"bad API key entry for owner '{owner}': want a key of at least 16"):
        load_keys(listed, None)


def test_a_bad_line_in_the_keys_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "keys.txt"
    file.write_text(f"{ADMIN} ops superuser\n")
    with pytest.raises(ValueError, match="bad API key entry for owner 'ops'.*optionally admin"):
        load_keys("", file)


def test_a_key_finds_its_caller_and_nothing_else_does() -> None:
    keys = ring()
    assert keys.find(ALICE) == Caller(owner="alice", admin=False)
    assert keys.find(ADMIN) == Caller(owner="ops", admin=True)
    for presented in ("", ALICE[:-1], ALICE + "x", ALICE.upper(), "alice"):
        assert keys.find(presented) is None


def test_a_token_reads_back_as_its_caller() -> None:
    keys = ring()
    token, expires = keys.issue(Caller(owner="alice", admin=False), 60)
    assert time.time() + 55 < expires <= time.time() + 60
    assert keys.read(token) == Caller(owner="alice", admin=False)
    admin_token, _ = keys.issue(Caller(owner="ops", admin=True), 60)
    assert keys.read(admin_token) == Caller(owner="ops", admin=True)


def test_an_expired_token_is_refused() -> None:
    keys = ring()
    token, _ = keys.issue(Caller(owner="alice", admin=False), -5)
    assert keys.read(token) is None


def test_another_process_with_the_same_keys_accepts_the_token_and_one_with_other_keys_does_not() -> None:
    token, _ = ring().issue(Caller(owner="alice", admin=False), 60)
    assert ring().read(token) == Caller(owner="alice", admin=False)
    assert load_keys(f"{ALICE}:alice", None).read(token) is None
    assert load_keys(f"{ALICE}:alice,{BOB}:bob,{ADMIN}:ops", None).read(token) is None, "admin flag is in the secret"


def test_a_tampered_token_is_refused() -> None:
    keys = ring()
    token, _ = keys.issue(Caller(owner="alice", admin=False), 60)
    payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "o": "bob", "a": True}).encode()).decode().rstrip("=")
    longer = base64.urlsafe_b64encode(json.dumps({**claims, "e": claims["e"] + 3600}).encode()).decode().rstrip("=")
    for bad in (
        f"{forged}.{signature}",
        f"{longer}.{signature}",
        f"{payload}.{signature[:-2]}",
        f"{payload}.",
        payload,
        "",
        "not a token at all",
        f"{payload}.{signature}x",
    ):
        assert keys.read(bad) is None, bad


def test_an_owner_sees_only_their_jobs_and_an_admin_sees_all() -> None:
    alice = Caller(owner="alice", admin=False)
    assert alice.may_see("alice")
    assert not alice.may_see("bob")
    assert not alice.may_see(None), "a job without an owner tag is nobody's but an admin's"
    assert Caller(owner="ops", admin=True).may_see("bob")
    assert LOCAL.may_see("alice") and LOCAL.may_see(None)
