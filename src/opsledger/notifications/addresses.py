"""Where notifications may go: http(s) URLs whose host resolves only to public addresses,
unless OPSLEDGER_NOTIFY_ALLOW_PRIVATE allows loopback, private and link-local ones (cloud
metadata lives at a link-local address). Checked when a channel is saved and again at
each send, on the very address the send then connects to, so a name that resolves to
something else later (DNS rebinding) reaches nothing it may not."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
SCHEMES = frozenset({"http", "https"})


class Refused(Exception):
    """A URL notifications may not be sent to; the message says why."""


@dataclass(frozen=True)
class Pinned:
    """A checked URL with its host replaced by the address it was checked at; the name
    goes in the Host header and TLS's server name (certificates are checked against it)."""

    url: httpx.URL
    host: str
    netloc: str  # the Host header: the name and port as the URL gave them


def parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as bad:
        raise Refused(f"not a URL: {bad}") from None
    if parsed.scheme not in SCHEMES:
        raise Refused("only http and https URLs are allowed")
    if not parsed.host:
        raise Refused("the URL names no host")
    return parsed


def allowed(address: Address, allow_private: bool) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_multicast or address.is_unspecified:
        return False
    if address.is_global:
        return True
    return allow_private and (address.is_loopback or address.is_private or address.is_link_local)


async def resolve(url: str, allow_private: bool) -> Pinned:
    """The URL pinned to an address its host resolves to, when every address it resolves
    to is allowed (one refused address refuses the URL: a resolver may hand out either)."""
    parsed = parse(url)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parsed.host,
            parsed.port or (443 if parsed.scheme == "https" else 80),
            type=socket.SOCK_STREAM,
        )
    except (socket.gaierror, UnicodeError) as failure:
        raise Refused(f"{parsed.host} does not resolve: {failure}") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    refused = sorted({str(address) for address in addresses if not allowed(address, allow_private)})
    if refused or not addresses:
        raise Refused(
            f"{parsed.host} resolves to {', '.join(refused) or 'nothing'}: loopback, private "
            "and link-local addresses are refused (OPSLEDGER_NOTIFY_ALLOW_PRIVATE allows them)"
        )
    return Pinned(parsed.copy_with(host=str(addresses[0])), parsed.host, parsed.netloc.decode())


def origin(url: str) -> str:
    """What a channel shows of its URL: scheme, host and port, never the path or query
    (a Slack webhook's path is its credential)."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return f"{parsed.scheme}://{host}{port}"
