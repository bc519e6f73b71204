"""One signed POST of one event to a webhook URL, and what came of it.

The request goes to the address the guard checked (`api.webhooks.address`), with the URL's host in
the `Host` header and, for https, in TLS's server name, so certificates are checked against the
host as usual. Redirects are not followed (a 3xx is a failed try); the whole request has 10 s;
at most 1 KB of the answer is kept.
"""

import asyncio
import ipaddress
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
from standardwebhooks import Webhook

from api.webhooks.address import AddressRefused, resolve

TIMEOUT_SECONDS = 10.0
KEPT_BODY_BYTES = 1024


@dataclass(frozen=True)
class Sent:
    at: datetime
    status_code: int | None
    latency_ms: float | None
    error: str | None = None
    body: str = ""
    refused: bool = False

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signed_headers(secret: str, webhook_id: str, at: datetime, payload: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, payload),
        "user-agent": "aura-webhooks",
    }


def pinned_url(url: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    parts = urlsplit(url)
    host = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


async def send(url: str, payload: str, *, secret: str, webhook_id: str, allow_private: bool) -> Sent:
    at = datetime.now(UTC)
    try:
        address = await asyncio.to_thread(resolve, url, allow_private=allow_private)
    except AddressRefused as exc:
        return Sent(at=at, status_code=None, latency_ms=None, error=str(exc), refused=True)
    parts = urlsplit(url)
    headers = {**signed_headers(secret, webhook_id, at, payload), "host": parts.netloc.rsplit("@", 1)[-1]}
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    started = time.perf_counter()
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                request = client.build_request(
                    "POST", pinned_url(url, address), content=payload, headers=headers, extensions=extensions
                )
                response = await client.send(request, stream=True)
                latency_ms = (time.perf_counter() - started) * 1000
                body = await _start_of(response)
    except (httpx.HTTPError, TimeoutError) as exc:
        return Sent(at=at, status_code=None, latency_ms=None, error=f"{type(exc).__name__}: {exc}".rstrip(": "))
    return Sent(at=at, status_code=response.status_code, latency_ms=round(latency_ms, 1), body=body)


async def _start_of(response: httpx.Response) -> str:
    kept = b""
    try:
        async for chunk in response.aiter_raw():
            kept += chunk
            if len(kept) >= KEPT_BODY_BYTES:
                break
    finally:
        await response.aclose()
    return kept[:KEPT_BODY_BYTES].decode("utf-8", errors="replace")
