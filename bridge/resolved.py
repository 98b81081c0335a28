"""DNS through systemd-resolved: the link's servers and routing domain set on the TUN
through resolved's D-Bus API, and reverted on exit (``--dns resolved``).

The interface (org.freedesktop.resolve1(5), "The Manager Object"; systemd's "Writing
Network Configuration Managers"): on the system bus, the object
``/org/freedesktop/resolve1`` of ``org.freedesktop.resolve1`` has, in interface
``org.freedesktop.resolve1.Manager``,

- ``SetLinkDNS(in i ifindex, in a(iay) addresses)``: the link's DNS servers, each an
  address family (AF_INET 2, AF_INET6 10) and the address's bytes in network order;
- ``SetLinkDomains(in i ifindex, in a(sb) domains)``: the link's domains, each with
  "routing only" (resolvectl writes ``~name``); ``~.`` routes every name not claimed by a
  longer routing domain elsewhere to this link's servers;
- ``SetLinkDefaultRoute(in i ifindex, in b enable)``: whether the link is a default route
  for lookups; said outright, since a link with servers and no domains is one by default.
- ``RevertLink(in i ifindex)``: forget all that was set on the link.

resolved forgets a link's settings when the link goes away, so a TUN the bridge made needs
no revert once it is gone; one that stays (a persistent TUN) does. resolved allows these
calls to a caller with CAP_NET_ADMIN (otherwise polkit's
``org.freedesktop.resolve1.set-dns-servers`` and friends decide), and refuses them on a
link that systemd-networkd manages (``LinkBusy``).

The D-Bus library: jeepney, pure Python with no dependencies and no C extension (the
bridge runs on small ARM boards too), with a blocking API that suits ``netconfig``'s
synchronous, bounded calls; dbus-next is unmaintained and dbus-fast brings an optional
Cython build and an asyncio-only API for three method calls. Each call opens a connection
of its own (the bus authenticates in about a millisecond) and waits ``CALL_TIMEOUT`` at
most; every failure is a ``HostSetupError`` saying what to do.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from ipaddress import IPv4Address, IPv6Address

from jeepney import DBusAddress, DBusErrorResponse, new_method_call
from jeepney.io.blocking import DBusConnection, open_dbus_connection
from jeepney.wrappers import unwrap_msg

from .errors import HostSetupError

log = logging.getLogger(__name__)

RESOLVE1 = DBusAddress(
    "/org/freedesktop/resolve1",
    bus_name="org.freedesktop.resolve1",
    interface="org.freedesktop.resolve1.Manager",
)
CALL_TIMEOUT = 5.0
"""Seconds a call may take, connecting included (resolved answers in milliseconds)."""
ROUTE_ALL = "~."
"""The routing domain that sends every name to the link's servers."""
_NOT_RUNNING = (
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
)
_NO_SUCH_LINK = "org.freedesktop.resolve1.NoSuchLink"
_LINK_BUSY = "org.freedesktop.resolve1.LinkBusy"
_DENIED = (
    "org.freedesktop.DBus.Error.AccessDenied",
    "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
)

Server = IPv4Address | IPv6Address


class ResolvedUnavailable(HostSetupError):
    """No system bus, or systemd-resolved is not on it."""


class NoSuchLink(HostSetupError):
    """systemd-resolved does not know the interface (it is gone, or not yet seen)."""


def set_link_dns(
    ifindex: int,
    servers: Sequence[Server],
    domains: Sequence[str] = (),
    *,
    bus: str | None = None,
) -> None:
    """Give interface ``ifindex`` the DNS ``servers`` and the ``domains`` (``~name``: a
    routing domain, as resolvectl writes them), replacing what it had. ``bus``: a D-Bus
    address; None, the system bus (``$DBUS_SYSTEM_BUS_ADDRESS`` or its usual socket)."""
    addresses = [(_family(server), server.packed) for server in servers]
    pairs = [(name.removeprefix("~") or ".", name.startswith("~")) for name in domains]
    with _connection(bus) as connection:
        _call(connection, "SetLinkDNS", "ia(iay)", ifindex, addresses)
        _call(connection, "SetLinkDomains", "ia(sb)", ifindex, pairs)
        # Without the route-everything domain, say so outright: a link with DNS servers and
        # no domains is otherwise a default DNS route for resolved (its DefaultRoute=
        # setting's default), and the host's lookups would go to the carrier's servers.
        _call(connection, "SetLinkDefaultRoute", "ib", ifindex, ROUTE_ALL in domains)


def revert_link(ifindex: int, *, bus: str | None = None) -> None:
    """Forget what was set on interface ``ifindex`` (``NoSuchLink``: it is gone)."""
    with _connection(bus) as connection:
        _call(connection, "RevertLink", "i", ifindex)


@contextmanager
def _connection(bus: str | None) -> Iterator[DBusConnection]:
    where = bus or "the system bus"
    try:
        connection = open_dbus_connection(bus or "SYSTEM", auth_timeout=CALL_TIMEOUT)
    except (OSError, ValueError, RuntimeError) as exc:  # no socket; refused; not a bus
        raise ResolvedUnavailable(
            f"cannot reach systemd-resolved: no D-Bus at {where} ({_reason(exc)}); "
            "choose another --dns mode"
        ) from None
    try:
        yield connection
    finally:
        connection.close()


def _call(
    connection: DBusConnection, method: str, signature: str, ifindex: int, *rest: object
) -> None:
    body = (ifindex, *rest)
    message = new_method_call(RESOLVE1, method, signature, body)
    try:
        reply = connection.send_and_get_reply(message, timeout=CALL_TIMEOUT)
    except TimeoutError:
        raise HostSetupError(
            f"systemd-resolved did not answer {method} within {CALL_TIMEOUT:g} s"
        ) from None
    except OSError as exc:
        raise ResolvedUnavailable(f"systemd-resolved: the bus failed: {_reason(exc)}") from None
    try:
        unwrap_msg(reply)
    except DBusErrorResponse as exc:
        raise _refusal(method, ifindex, exc) from None
    log.debug("systemd-resolved: %s%r", method, body)


def _refusal(method: str, ifindex: int, exc: DBusErrorResponse) -> HostSetupError:
    detail = exc.data[0] if exc.data and isinstance(exc.data[0], str) else ""
    link = _link_name(ifindex)
    if exc.name in _NOT_RUNNING:
        return ResolvedUnavailable(
            "systemd-resolved is not running: start it, or choose another --dns mode"
        )
    if exc.name == _NO_SUCH_LINK:
        return NoSuchLink(f"systemd-resolved does not know {link}")
    if exc.name == _LINK_BUSY:
        return HostSetupError(
            f"systemd-resolved refuses DNS for {link}: systemd-networkd manages it "
            "(exclude it from its .network files)"
        )
    if exc.name in _DENIED:
        return HostSetupError(
            f"systemd-resolved refuses {method}: needs CAP_NET_ADMIN (or a polkit rule)"
        )
    return HostSetupError(f"systemd-resolved refuses {method} for {link}: {exc.name} {detail}")


def _link_name(ifindex: int) -> str:
    try:
        return f"{socket.if_indextoname(ifindex)} (index {ifindex})"
    except OSError:
        return f"interface {ifindex}"


def _family(server: Server) -> int:
    return int(socket.AF_INET if server.version == 4 else socket.AF_INET6)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
