"""Where alert webhooks may go: public addresses, plus the networks the operator allows.

A webhook URL is a request the backend makes on behalf of whoever can save a rule, from
inside the operator's network. Without a policy it reaches the cloud metadata service
(169.254.169.254), the loopback interface and every private address, and a test delivery's
answer becomes a port scanner. So a destination must resolve only to global unicast
addresses unless the operator allows a network (`hlog serve --allow-webhook-network CIDR`,
e.g. for an internal chat server). The check runs when a rule is saved and again at every
send, after DNS resolution; the request then goes to the address that was checked, so a
name that resolves differently the second time (DNS rebinding) cannot switch it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
RESOLVE_TIMEOUT_SECONDS = 5.0
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class WebhookRefused(ValueError):
    """A destination the policy does not allow, or that cannot be resolved; the message is for people."""


def parse_networks(cidrs: Sequence[str]) -> list[IPNetwork]:
    """Networks from `10.0.0.0/8`-style strings; raises ValueError naming a bad one."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{cidr!r} is not a network: use CIDR notation, e.g. 10.20.0.0/16") from None
    return networks


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, 6to4 or NAT64 IPv6 address."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _address_class(ip: IPAddress) -> str | None:
    """Why an address is not public (None when it is)."""
    inner = _embedded_ipv4(ip)
    if inner is not None:
        return _address_class(inner)
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_multicast:
        return "a multicast address"
    if not ip.is_global:
        return "a private or reserved address"
    return None


@dataclass(frozen=True)
class WebhookPolicy:
    """Public destinations, plus `allowed` networks."""

    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def allowing(cls, *cidrs: str) -> WebhookPolicy:
        """A policy that also allows these networks (CIDR strings)."""
        return cls(tuple(parse_networks(cidrs)))

    def refusal(self, ip: IPAddress) -> str | None:
        """Why `ip` is refused, or None when a webhook may go there."""
        if any(ip.version == net.version and ip in net for net in self.allowed):
            return None
        why = _address_class(ip)
        if why is None:
            return None
        return f"{ip} is {why}; allow its network with hlog serve --allow-webhook-network CIDR"

    async def resolve(self, url: str) -> tuple[str, IPAddress | None]:
        """The URL's host and the address to connect to, checked: every address the host resolves
        to must be allowed. Raises WebhookRefused. (None for the address when the name does not
        resolve and `url` is only being saved: see check_saved.)"""
        host = urlsplit(url).hostname or ""
        addresses = await _addresses(host)
        for ip in addresses:
            why = self.refusal(ip)
            if why:
                raise WebhookRefused(f"{host} resolves to {why}" if str(ip) != host else why)
        return host, addresses[0]

    async def check_saved(self, url: str) -> None:
        """At save: refuse a literal address or a name that resolves to a refused address. A name
        that does not resolve here is accepted (the network may differ at send, which checks again)."""
        try:
            await self.resolve(url)
        except WebhookRefused as err:
            if str(err).startswith("cannot resolve"):
                return
            raise


async def _addresses(host: str) -> list[IPAddress]:
    """The addresses of `host` (a literal address stays itself); raises WebhookRefused."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_SECONDS)
    except (OSError, TimeoutError, UnicodeError):
        raise WebhookRefused(f"cannot resolve {host}") from None
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise WebhookRefused(f"cannot resolve {host}")
    return addresses
