"""Which addresses a webhook may reach: public ones only, unless the service allows private ones.

A URL is checked when the job is created (a clear 422) and again for each delivery, on the
addresses its host resolves to at that moment; the delivery then connects to the very address
it checked, so a DNS answer that changes between check and connect (rebinding) cannot send it
inside the network.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Cloud metadata services that are not inside the private or link-local ranges.
METADATA = {ipaddress.ip_address("100.100.100.200"), ipaddress.ip_address("fd00:ec2::254")}


class AddressRefused(ValueError):
    """The URL cannot be delivered to: it does not resolve, or it resolves to an address not allowed."""


def is_public(address: IpAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast and address not in METADATA


def resolve(url: str, *, allow_private: bool) -> IpAddress:
    """The address to connect to for `url`: the first its host resolves to, once every one is allowed."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise AddressRefused(f"{url!r} is not an http or https URL with a host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressRefused(f"the host {host!r} does not resolve: {exc}") from exc
    addresses = [ipaddress.ip_address(info[4][0]) for info in found]
    if not allow_private:
        refused = sorted({str(address) for address in addresses if not is_public(address)})
        if refused:
            raise AddressRefused(
                f"the host {host!r} resolves to {', '.join(refused)}: loopback, private, link-local and "
                "metadata addresses are refused (AURA_WEBHOOK_ALLOW_PRIVATE=true allows them)"
            )
    return addresses[0]
