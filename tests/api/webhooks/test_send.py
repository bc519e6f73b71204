"""One delivery over real HTTP to a receiver on 127.0.0.1: signed, never redirected, the answer kept short,
and never sent at all to an address that is not allowed."""

import asyncio

from api.webhooks.send import KEPT_BODY_BYTES, send
from tests.utils.receiver import receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PAYLOAD = '{"jobId":"j-1","event":"job-completed","eventId":"1-0","attempt":1}'


def test_a_delivery_carries_the_standard_webhooks_headers_and_the_library_verifies_it() -> None:
    with receiver() as hooks:
        sent = asyncio.run(send(hooks.url, PAYLOAD, secret=SECRET, webhook_id="j-1-1-0", allow_private=True))
    assert sent.delivered and sent.status_code == 200 and sent.body == "ok" and sent.latency_ms
    [delivery] = hooks.deliveries
    assert delivery.verified(SECRET)["eventId"] == "1-0"
    assert delivery.headers["webhook-id"] == "j-1-1-0"
    assert delivery.headers["host"] == hooks.url.split("/")[2]


def test_a_redirect_is_a_failed_try_and_is_not_followed() -> None:
    with receiver(302) as hooks:
        sent = asyncio.run(send(hooks.url, PAYLOAD, secret=SECRET, webhook_id="w", allow_private=True))
    assert not sent.delivered and sent.status_code == 302
    assert len(hooks.deliveries) == 1, "the Location was not requested"


def test_only_the_first_kilobyte_of_the_answer_is_kept() -> None:
    with receiver(500) as hooks:
        hooks.reply = b"x" * 100_000
        sent = asyncio.run(send(hooks.url, PAYLOAD, secret=SECRET, webhook_id="w", allow_private=True))
    assert sent.status_code == 500 and len(sent.body) == KEPT_BODY_BYTES


def test_a_receiver_on_a_private_address_is_never_contacted_unless_allowed() -> None:
    with receiver() as hooks:
        sent = asyncio.run(send(hooks.url, PAYLOAD, secret=SECRET, webhook_id="w", allow_private=False))
        assert sent.refused and not sent.delivered and "127.0.0.1" in (sent.error or "")
        assert hooks.deliveries == []


def test_nobody_listening_is_a_failed_try_with_the_reason() -> None:
    with receiver() as hooks:
        url = hooks.url
    sent = asyncio.run(send(url, PAYLOAD, secret=SECRET, webhook_id="w", allow_private=True))
    assert sent.status_code is None and not sent.refused and "ConnectError" in (sent.error or "")
