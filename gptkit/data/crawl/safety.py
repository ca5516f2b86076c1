"""SSRF protection: resolve a host and refuse addresses a public crawler must not reach.

The check runs on the resolved addresses (a public name can point at 127.0.0.1 or at a cloud
metadata service), and the fetch then connects to the address that was checked, so a second
DNS answer cannot swap it (DNS rebinding). It runs again for every redirect target.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The URL must not be fetched; the message is the reason recorded in the fetch log."""


class LookupFailed(Exception):
    """The host name does not resolve; the message is the reason recorded in the fetch log."""


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address
#: Not globally reachable by the registries, but global to some Python versions' ``is_global``.
_NOT_GLOBAL = tuple(map(ipaddress.ip_network, (
    "::/96",  # IPv4-compatible (deprecated, RFC 4291): tunnelled to the IPv4 address it holds
    "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215)
    "192.0.0.0/24",  # IETF protocol assignments: only a few single addresses in it are global
)))  # fmt: skip


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries to its destination: IPv4-mapped, 6to4 (2002::/16) or
    well-known NAT64 (64:ff9b::/96). Teredo (2001::/32) needs none: the registry marks it not global."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """Globally reachable by IANA's special-purpose address registries (Python's ``is_global``:
    this excludes private, loopback, link-local, carrier-grade NAT 100.64.0.0/10, documentation,
    benchmarking, Teredo, …) and not multicast; an IPv6 address that embeds an IPv4 address is
    judged by that address, where its packets go."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        return is_public(inner)
    return ip.is_global and not ip.is_multicast and not any(ip in net for net in _NOT_GLOBAL)


class AddressGuard:
    """Resolves hosts and decides which addresses may be contacted."""

    def __init__(self, allow_private: bool = False, allow_networks: list[str] = ()):
        self.allow_private = allow_private
        try:
            self.networks = [ipaddress.ip_network(n, strict=False) for n in allow_networks]
        except ValueError as e:
            raise ValueError(f"allow_networks: {e}") from None

    def allowed(self, ip: IPAddress) -> bool:
        return self.allow_private or is_public(ip) or any(ip in net for net in self.networks)

    async def resolve(self, host: str, port: int) -> str:
        """An address of ``host`` that may be contacted; raises :class:`Refused` for a forbidden
        address and :class:`LookupFailed` when the name does not resolve."""
        try:
            addresses = [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError) as e:
                raise LookupFailed(f"DNS lookup failed: {e}") from None
            addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
        refused = [ip for ip in addresses if not self.allowed(ip)]
        if refused:  # one bad answer taints the name: it could be served next
            raise Refused(f"private address {refused[0]} (use --allow-private to crawl it)")
        if not addresses:
            raise LookupFailed("DNS lookup failed: no address")
        return str(addresses[0])
