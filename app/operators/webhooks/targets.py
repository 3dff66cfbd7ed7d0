"""Where a webhook may be delivered: public addresses only, checked after DNS resolution.

An operator chooses its webhook URL, and the delivery log shows how each attempt ended;
without this check a tenant could make us probe our own network (loopback, the cloud's
metadata service at 169.254.169.254, databases on private addresses). The URL is checked
when it is saved and, because a DNS answer can change after that (DNS rebinding), on every
delivery: the worker resolves the name, checks every address and connects to the checked
one itself. ``LADDNAT_WEBHOOKS_ALLOW_PRIVATE_TARGETS=true`` lifts the check (tests, a
receiver on the developer's own machine).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Shared address space (RFC 6598, carrier-grade NAT): not "private" to Python, not public either.
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# NAT64 (RFC 6052) and 6to4 (RFC 3056) carry an IPv4 address inside an IPv6 one.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_6TO4 = ipaddress.ip_network("2002::/16")


class TargetRefused(Exception):
    """The host is not a public address, or does not resolve to public addresses only, or
    (``unresolved``) does not resolve at all."""

    def __init__(self, reason: str, *, unresolved: bool = False) -> None:
        super().__init__(reason)
        self.unresolved = unresolved


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system's resolver)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _6TO4:
        return address.sixtofour
    return None


def is_public(address: Address) -> bool:
    """Whether ``address`` is a public unicast address: not loopback, private, link-local,
    unique-local, shared (CGNAT), unspecified, multicast or reserved; an IPv4 address
    inside an IPv6 one (mapped, NAT64, 6to4) is judged as itself."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return False
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified or address.is_loopback
    )


def literal(host: str) -> Address | None:
    """``host`` as an IP address, if it is one (``[::1]`` brackets and a zone id allowed)."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def is_local_name(host: str) -> bool:
    """Names that always mean this machine (RFC 6761), whatever the resolver says."""
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


async def checked_address(host: str, port: int, *, allow_private: bool, resolver: Resolver = resolve) -> str:
    """The address to connect to for ``host``: its first address, once every address it
    resolves to is public (unless ``allow_private``). TargetRefused otherwise, and when it
    does not resolve: the caller reports both the same way, so a refusal tells nothing
    about our network."""
    if not allow_private and is_local_name(host):
        raise TargetRefused("not a public address")
    address = literal(host)
    if address is not None:
        addresses = [str(address)]
    else:
        try:
            addresses = await resolver(host, port)
        except OSError as exc:
            raise TargetRefused("the host name does not resolve", unresolved=True) from exc
        if not addresses:
            raise TargetRefused("the host name does not resolve", unresolved=True)
    if not allow_private:
        for raw in addresses:
            parsed = literal(raw)
            if parsed is None or not is_public(parsed):
                raise TargetRefused("not a public address")
    return addresses[0]
