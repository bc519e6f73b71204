"""Which webhook addresses a delivery may reach: public ones, checked on what the host resolves to."""

import pytest

from api.webhooks.address import AddressRefused, resolve


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://100.100.100.200/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fe80::1]/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
    ],
)
def test_loopback_private_link_local_and_metadata_addresses_are_refused(url: str) -> None:
    with pytest.raises(AddressRefused, match="AURA_WEBHOOK_ALLOW_PRIVATE=true"):
        resolve(url, allow_private=False)


def test_a_public_address_is_allowed_and_is_the_one_to_connect_to() -> None:
    assert str(resolve("https://93.184.216.34:8443/hooks?x=1", allow_private=False)) == "93.184.216.34"
    assert str(resolve("http://[2606:4700::1111]/", allow_private=False)) == "2606:4700::1111"


def test_private_addresses_are_allowed_when_the_service_says_so() -> None:
    assert str(resolve("http://localhost:9/hook", allow_private=True)) in {"127.0.0.1", "::1"}


@pytest.mark.parametrize("url", ["ftp://93.184.216.34/", "http:///nohost", "http://no-such-host.invalid/"])
def test_a_url_that_cannot_be_delivered_to_says_why(url: str) -> None:
    with pytest.raises(AddressRefused, match="not an http or https URL|does not resolve"):
        resolve(url, allow_private=True)
