"""Webhook tries by outcome, as Prefect holds them, for `GET /metrics`.

Each try is an artifact whose type names its outcome (`api.webhooks.attempts`), so one count per
outcome asks Prefect for the whole tally. It is shared state, the same in every API process: the
metric is a gauge labelled with the process (`api.metrics`). Artifacts the cleanup deletes leave
the tally, so alert on its change over a window, not on its value.
"""

from typing import get_args

from prefect.client.orchestration import PrefectClient

from api.events.loop import PeriodicReader
from api.schemas.webhooks import Outcome
from api.webhooks.attempts import attempt_type

TALLY_SECONDS = 10.0


class WebhookTally(PeriodicReader):
    name = "webhook tally"

    def __init__(self, client: PrefectClient) -> None:
        super().__init__()
        self.client = client
        self.tries: dict[str, int] = {}

    @property
    def loop_seconds(self) -> float:
        return TALLY_SECONDS

    async def run_once(self) -> None:
        tries = {}
        for outcome in get_args(Outcome):
            body = {"artifacts": {"type": {"any_": [attempt_type(outcome)]}}}
            answer = await self.client._client.post("/artifacts/count", json=body)
            tries[outcome] = int(answer.json())
        self.tries = tries
