"""Who is calling: API keys that belong to owners, and short-lived read-only tokens for URLs.

Authentication is on when keys are configured (`AURA_API_KEYS`, `AURA_API_KEYS_FILE`).
A key belongs to an owner; a job belongs to the owner of the key that created it; an
admin key sees every owner's jobs. With no keys configured every caller is the one
local admin: a laptop needs no set-up.

Browsers cannot put a header on an EventSource, a `<video>` or a download link, so
`POST /api/tokens` trades a key for a token that only reads (GET), expires, and goes
in the URL as `access_token`. API processes given the same keys accept each other's
tokens: the signing secret is derived from the key set. The HTTP side of this
(headers, query parameter, 401 and 403) is `api.dependencies`.
"""

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

OWNER_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_KEY_LENGTH = 16


@dataclass(frozen=True)
class Caller:
    owner: str
    admin: bool

    def may_see(self, owner: str | None) -> bool:
        return self.admin or owner == self.owner


LOCAL = Caller(owner="local", admin=True)


class KeyRing:
    """The configured keys; empty when authentication is off."""

    def __init__(self, keys: dict[str, Caller]) -> None:
        self.keys = keys
        material = "\n".join(f"{key} {who.owner} {who.admin}" for key, who in sorted(keys.items()))
        self._secret = hashlib.sha256(b"aura-access-token\n" + material.encode()).digest()

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def find(self, presented: str) -> Caller | None:
        found = None
        for key, who in self.keys.items():
            if hmac.compare_digest(key.encode(), presented.encode()):
                found = who
        return found

    def issue(self, caller: Caller, lifetime: float) -> tuple[str, float]:
        expires = time.time() + lifetime
        payload = _b64(json.dumps({"o": caller.owner, "a": caller.admin, "e": int(expires)}).encode())
        return f"{payload}.{self._sign(payload)}", expires

    def read(self, token: str) -> Caller | None:
        payload, _, signature = token.partition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return None
        try:
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except ValueError:
            return None
        if claims["e"] < time.time():
            return None
        return Caller(owner=claims["o"], admin=claims["a"])

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def load_keys(listed: str, file: Path | None) -> KeyRing:
    """Keys from `key:owner[:admin]` entries and from a file of `key owner [admin]` lines."""
    entries = [entry.split(":") for entry in listed.split(",") if entry.strip()]
    if file is not None:
        lines = file.read_text().splitlines()
        entries += [line.split() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    keys: dict[str, Caller] = {}
    for entry in entries:
        key, owner, *flags = [part.strip() for part in entry] + [""] * (2 - len(entry))
        if len(key) < MIN_KEY_LENGTH or not OWNER_PATTERN.match(owner) or flags not in ([], ["admin"]):
            raise ValueError(
                f"bad API key entry for owner {owner!r}: want a key of at least {MIN_KEY_LENGTH} "
                "characters, an owner of lowercase letters, digits, '.', '_', '-', and optionally admin"
            )
        keys[key] = Caller(owner=owner, admin=flags == ["admin"])
    return KeyRing(keys)
