"""An AtSocketBridge and a real AtChannel driven as the bridge shell drives them, on
virtual time, against bytes from the modem: a test's transcript or a scripted modem.

The shell's part, as netstack/atsocket.py's call-order contract states it: every
``SendAt`` goes to ``AtChannel.send`` and its bytes to the modem; every ``SendPayload``
to ``AtChannel.send_payload``, its ``pieces()`` written one by one; every ``ToTun``
packet to the host. The modem's bytes go through ``AtChannel.receive`` and each event to
``AtSocketBridge.at_event``; one timer is kept at the earlier of the two deadlines.

The host's packets are built with scapy, the independent oracle; what reaches the host
is read back with scapy, checksums included (``Host``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from typing import Protocol

from scapy.layers.inet import TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6PacketTooBig,
    IPv6,
    in6_chksum,
)
from scapy.packet import Packet, Raw

from atsocket_modems import MODEMS, ScriptedModem
from netstack.at import STANDARD_URCS, AtChannel, AtEvent, Connected
from netstack.atsocket import AtSocketBridge
from netstack.atsocket_events import AtSocketOutput, SendAt, SendPayload, ToTun
from netstack.atsocket_vendors import VENDORS, VendorSockets

HOST = IPv6Address("2001:db8:aa::2")
"""The modem's global address, which the host uses as its source."""
REMOTE = IPv6Address("2001:db8:1::10")
OTHER = IPv6Address("2001:db8:2::20")
ROUTER = IPv6Address("fe80::1")
HOST_LINK_LOCAL = IPv6Address("fe80::2")
ALL_ROUTERS = "ff02::2"
MLDV2_ROUTERS = "ff02::16"

UDP_PROTO, TCP_PROTO, ICMPV6_PROTO = 17, 6, 58


# --- the host's packets, built by scapy --------------------------------------------


def udp(
    payload: bytes = b"hello",
    *,
    sport: int = 40000,
    dport: int = 5683,
    src: IPv6Address | str = HOST,
    dst: IPv6Address | str = REMOTE,
) -> bytes:
    return bytes(IPv6(src=str(src), dst=str(dst)) / UDP(sport=sport, dport=dport) / Raw(payload))


def tcp_syn(dport: int = 443) -> bytes:
    return bytes(IPv6(src=str(HOST), dst=str(REMOTE)) / TCP(sport=40001, dport=dport, flags="S"))


def echo_request(
    data: bytes = b"ping data", *, ident: int = 0x1234, seq: int = 1, dst: IPv6Address = REMOTE
) -> bytes:
    packet = IPv6(src=str(HOST), dst=str(dst)) / ICMPv6EchoRequest(id=ident, seq=seq, data=data)
    return bytes(packet)


# --- what the host receives, read by scapy -------------------------------------------


def checksum_ok(packet: Packet) -> bool:
    """The upper-layer checksum of ``packet`` (UDP or ICMPv6) as scapy computes it."""
    ip = packet[IPv6]
    raw = bytes(ip.payload)
    offset = 6 if ip.nh == UDP_PROTO else 2
    sent = int.from_bytes(raw[offset : offset + 2], "big")
    zeroed = raw[:offset] + b"\0\0" + raw[offset + 2 :]
    computed = in6_chksum(ip.nh, ip, zeroed)
    if ip.nh == UDP_PROTO and computed == 0:
        computed = 0xFFFF  # RFC 8200 8.1
    return bool(sent == computed)


def datagram(packet: bytes) -> Packet:
    """A UDP datagram for the host, checked: IPv6, UDP, lengths and checksum."""
    parsed = IPv6(packet)
    assert parsed.version == 6 and parsed.nh == UDP_PROTO, parsed.summary()
    assert parsed.plen == len(packet) - 40
    assert parsed[UDP].len == parsed.plen
    assert checksum_ok(parsed), parsed.show(dump=True)
    return parsed


def icmp_error(packet: bytes) -> Packet:
    """An ICMPv6 error for the host, checked: from the router, to the host, checksum,
    at most 1280 octets, quoting the start of the invoking packet."""
    parsed = IPv6(packet)
    assert parsed.nh == ICMPV6_PROTO
    assert parsed.src == str(ROUTER) and parsed.dst == str(HOST)
    assert len(packet) <= 1280 and parsed.plen == len(packet) - 40
    assert checksum_ok(parsed)
    return parsed


def unreachable_code(packet: bytes, invoking: bytes) -> int:
    parsed = icmp_error(packet)
    assert packet[48:] == invoking[: 1280 - 48]
    return int(parsed[ICMPv6DestUnreach].code)


def too_big_mtu(packet: bytes, invoking: bytes) -> int:
    parsed = icmp_error(packet)
    assert packet[48:] == invoking[: 1280 - 48]
    return int(parsed[ICMPv6PacketTooBig].mtu)


def echo_reply(packet: bytes) -> Packet:
    parsed = IPv6(packet)
    assert parsed.nh == ICMPV6_PROTO and checksum_ok(parsed)
    assert parsed.haslayer(ICMPv6EchoReply), parsed.summary()
    return parsed


# --- the modem side --------------------------------------------------------------------


class Modem(Protocol):
    """A scripted modem: what it prints for what the DTE writes."""

    def write(self, data: bytes, now: float) -> bytes: ...


@dataclass
class Rig:
    """The bridge, its AT channel, and the shell between them."""

    vendor: VendorSockets
    bridge: AtSocketBridge
    channel: AtChannel
    now: float = 0.0
    writes: deque[bytes] = field(default_factory=deque)
    """Bytes written to the modem, one entry per write, not yet taken by the test."""
    log: list[bytes] = field(default_factory=list)
    """Every write, in order."""
    to_host: list[bytes] = field(default_factory=list)
    modem: Modem | None = None
    """When set, every write goes to it at once and what it prints comes back."""
    stale_payloads: int = 0
    _inbox: deque[bytes] = field(default_factory=deque)
    _busy: bool = False

    @classmethod
    def of(cls, vendor: VendorSockets, *, modem: Modem | None = None, **options: object) -> Rig:
        options.setdefault("local_address", HOST)
        options.setdefault("router_address", ROUTER)
        bridge = AtSocketBridge(vendor, **options)  # type: ignore[arg-type]
        channel = AtChannel(urcs=STANDARD_URCS + vendor.urc_prefixes)
        return cls(vendor, bridge, channel, modem=modem)

    # ------------------------------------------------------------------ inputs
    def host(self, *packets: bytes) -> None:
        for packet in packets:
            self._apply(self.bridge.from_tun(packet, self.now))
        self._settle()

    def reply(self, data: bytes | str) -> None:
        """Bytes from the modem (a str is encoded as ASCII)."""
        raw = data.encode("ascii") if isinstance(data, str) else data
        self._receive(raw)
        self._settle()

    def advance(self, seconds: float) -> None:
        """Let time pass, firing every deadline on the way as the shell's timer does."""
        target = self.now + seconds
        for _ in range(10_000):
            deadline = self.deadline()
            if deadline is None or deadline > target:
                break
            self.now = max(self.now, deadline)
            for event in self.channel.handle_timer(self.now):
                self._apply(self.bridge.at_event(event, self.now))
            self._apply(self.bridge.handle_timer(self.now))
            self._settle()
            if self.deadline() == deadline and deadline is not None and deadline <= self.now:
                raise AssertionError(f"deadline {deadline} stays after handle_timer")
        else:
            raise AssertionError("timers never settle")
        self.now = target

    def close_all(self) -> None:
        self._apply(self.bridge.close_all(self.now))
        self._settle()

    def deadline(self) -> float | None:
        times = [self.bridge.next_deadline(), self.channel.next_deadline()]
        return min((t for t in times if t is not None), default=None)

    # ----------------------------------------------------------------- checks
    def take_write(self) -> bytes:
        assert self.writes, "nothing was written to the modem"
        return self.writes.popleft()

    def expect(self, command: str) -> None:
        """The next write is ``command`` and its CR."""
        written = self.take_write()
        assert written == command.encode("ascii") + b"\r", (written, command)

    def expect_payload(self, data: bytes, *, chunk: int | None = None) -> None:
        """The next writes are ``data`` after a prompt, in pieces of at most ``chunk``."""
        pieces: list[bytes] = []
        while sum(map(len, pieces)) < len(data):
            piece = self.take_write()
            assert chunk is None or len(piece) <= chunk, (len(piece), chunk)
            pieces.append(piece)
        assert b"".join(pieces) == data
        if chunk is not None and len(data) > chunk:
            assert len(pieces) == -(-len(data) // chunk)

    def exchange(self, command: str, reply: bytes | str) -> None:
        self.expect(command)
        self.reply(reply)

    def nothing_written(self) -> None:
        assert not self.writes, list(self.writes)

    def host_packets(self) -> list[bytes]:
        taken, self.to_host[:] = list(self.to_host), []
        return taken

    def one_to_host(self) -> bytes:
        packets = self.host_packets()
        assert len(packets) == 1, [IPv6(p).summary() for p in packets]
        return packets[0]

    def commands(self) -> list[str]:
        """Every command line written so far (payloads left out)."""
        return [w[:-1].decode("ascii") for w in self.log if w.startswith(b"AT") and w[-1:] == b"\r"]

    def stats(self) -> dict[str, int]:
        return {k: v for k, v in vars_of(self.bridge.statistics()).items() if v}

    # ------------------------------------------------------------------ shell
    def _apply(self, outputs: Iterable[AtSocketOutput]) -> None:
        for output in outputs:
            if isinstance(output, SendAt):
                data = self.channel.send(
                    output.command,
                    self.now,
                    output.timeout,
                    response_prefix=output.response_prefix,
                    expect_prompt=output.expect_prompt,
                    extra_finals=dict(output.extra_finals),
                )
                self._write(data)
            elif isinstance(output, SendPayload):
                if self.channel.pending != output.command:
                    self.stale_payloads += 1  # the modem ended the command with its prompt
                    continue
                self.channel.send_payload(output.data, self.now, output.timeout)
                for piece in output.pieces():
                    self._write(piece)
            else:
                assert isinstance(output, ToTun)
                self.to_host.append(output.packet)

    def _write(self, data: bytes) -> None:
        self.log.append(data)
        if self.modem is None:
            self.writes.append(data)
        else:
            self._inbox.append(self.modem.write(data, self.now))

    def _receive(self, data: bytes) -> None:
        events: Sequence[AtEvent] = self.channel.receive(data, self.now)
        for event in events:
            if isinstance(event, Connected):  # a CONNECT nobody asked for: back to AT
                self.channel.resume_command_mode(self.now)
            self._apply(self.bridge.at_event(event, self.now))

    def _settle(self) -> None:
        """With a scripted modem: feed back what it printed until it prints no more."""
        if self._busy:
            return
        self._busy = True
        try:
            while self._inbox:
                self._receive(self._inbox.popleft())
        finally:
            self._busy = False


def vars_of(stats: object) -> dict[str, int]:
    return {name: getattr(stats, name) for name in stats.__dataclass_fields__}  # type: ignore[attr-defined]


def scripted(name: str, *, messy: bool = False, **options: object) -> tuple[Rig, ScriptedModem]:
    """A rig whose every write is answered at once by the vendor's scripted modem."""
    modem = MODEMS[name](messy=messy, echo=not messy)
    return Rig.of(VENDORS[name], modem=modem, **options), modem
