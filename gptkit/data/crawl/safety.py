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


def is_public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
        or ip.is_reserved or ip.is_unspecified
    )  # fmt: skip


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
