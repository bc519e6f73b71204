from types import SimpleNamespace

from flows.contract.errors import InvalidRequest, ProviderUnavailable, RenderStalled
from flows.runtime.retry import is_transient, retry_delays


def test_retry_delays_double_from_the_base_up_to_the_cap_with_jitter() -> None:
    delays = retry_delays(retries=8, base=5, cap=300, jitter=0.2)
    nominal = [5, 10, 20, 40, 80, 160, 300, 300]
    assert all(0.8 * n <= d <= 1.2 * n for d, n in zip(delays, nominal, strict=True))
    assert retry_delays(retries=3, base=5, cap=300, jitter=0) == [5, 10, 20]


def test_only_errors_that_may_heal_are_retried() -> None:
    def retried(error: BaseException) -> bool:
        return is_transient(None, None, SimpleNamespace(data=error))

    assert retried(ProviderUnavailable("503")) and retried(RenderStalled("stalled")) and retried(TimeoutError())
    assert not retried(InvalidRequest("voice.name")) and not retried(ValueError("bug"))
