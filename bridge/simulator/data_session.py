"""One data call: PPP in the answering role, plus what a cellular gateway adds around it.

Pure, like ``netstack``: bytes, packets and ``now`` in; outputs out; one deadline. The
modem creates a session on CONNECT and hands it every byte of the line while online.
Around the ``Link`` it plays the gateway (3GPP TS 29.061 11.2.1.3: a Router Advertisement
with the PDP context's /64 once IPV6CP is up, and an answer to Router Solicitations),
network-initiated pings, the profile's PPP quirk, and the faults that concern the call:
carrier drop, LCP Terminate, silence, renegotiation, corrupted frames.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from netstack.config import AuthProtocol, LinkConfig, Role
from netstack.events import (
    DeliverPacket,
    LinkDown,
    LinkRenegotiating,
    LinkUp,
    Output,
    WriteSerial,
)
from netstack.hdlc import Deframer, Framer
from netstack.link import Link, Phase
from netstack.rng import Rng
from netstack.secret import Secret

from .hosts import echo_request, is_router_solicitation, match_echo_reply, router_advertisement
from .plan import NetworkPlan
from .profiles import PppQuirk

_FLAG = 0x7E
_ESCAPE = 0x7D


@dataclass(frozen=True)
class Note:
    """A line for the transcript."""

    topic: str
    """``at``, ``ppp``, ``net`` or ``fault``."""
    text: str


@dataclass(frozen=True)
class CapturedFrame:
    """A PPP frame as sent or received (for the pcap), from the Address field on."""

    frame: bytes
    sent: bool


@dataclass(frozen=True)
class SessionEnded:
    """The call is over; the modem says NO CARRIER (``silent_drop``: not even that)."""

    reason: str


@dataclass(frozen=True)
class CallAuth:
    """What the network asks of the PPP client for this call."""

    protocol: AuthProtocol | None
    user: str
    password: Secret


@dataclass(frozen=True)
class CallPlan:
    pdp_type: str
    auth: CallAuth
    ipv6cp_rejected: bool
    quirk: PppQuirk
    corrupt_rate: float
    capture: bool


class DataSession:
    def __init__(self, call: CallPlan, plan: NetworkPlan, rng: Rng, now: float) -> None:
        self.call = call
        self.plan = plan
        self._rng = rng
        ipv4 = call.pdp_type in ("IP", "IPV4V6")
        ipv6 = call.pdp_type in ("IPV6", "IPV4V6") and not call.ipv6cp_rejected
        secrets = {call.auth.user: call.auth.password} if call.auth.protocol else {}
        self.link = Link(
            LinkConfig(
                role=Role.ANSWERING,
                require_auth=call.auth.protocol,
                secrets=secrets,
                hostname="pppbridge-sim",
                local_ipv4=None if call.quirk is PppQuirk.NO_GATEWAY_ADDRESS else plan.gateway_ipv4,
                peer_ipv4=plan.client_ipv4,
                dns=plan.dns_ipv4,
                # An IPv6-only context whose PPP cannot carry IPv6 still offers IPCP, as
                # modems do: the link needs one network protocol.
                ipv4=ipv4 or not ipv6,
                ipv6=ipv6,
                local_interface_id=plan.gateway_interface_id,
                peer_interface_id=plan.client_interface_id,
            ),
            rng,
        )
        self.silent = False
        self.corrupt_rate = call.corrupt_rate
        self.ended = False
        self.opened_at = now
        self._ra_sent = False
        self._ping_ident = rng.randrange(1, 0x10000)
        self._pings: dict[int, float] = {}
        self.ping_replies: list[tuple[int, float]] = []
        """(sequence, round-trip seconds) of answered network pings."""
        self._tap = (Deframer(accm=0, mru=65535), Deframer(accm=0, mru=65535))
        self._quirk_in = Deframer(accm=0, mru=65535)
        self._quirk_out = _quirk_framer(call.quirk)
        self._lcp_was_open = False
        self._out: list[Output | Note | CapturedFrame | SessionEnded] = []

    # ------------------------------------------------------------------ inputs
    def start(self, now: float) -> list[object]:
        self._note("ppp", f"LCP starts (answering; auth {self._auth_name()})")
        self._link(self.link.open(now), now)
        return self._take()

    def receive(self, data: bytes, now: float) -> list[object]:
        if self.silent or self.ended:
            return []
        self._capture(data, sent=False)
        self._link(self.link.receive_bytes(data, now), now)
        return self._take()

    def from_network(self, packet: bytes, now: float) -> list[object]:
        if self.ended:
            return []
        self._link(self.link.send_packet(packet, now), now)
        return self._take()

    def next_deadline(self) -> float | None:
        return None if self.ended else self.link.next_deadline()

    def handle_timer(self, now: float) -> list[object]:
        if not self.ended:
            self._link(self.link.handle_timer(now), now)
        return self._take()

    # ------------------------------------------------------------------ faults
    def terminate(self, now: float) -> list[object]:
        self._note("fault", "LCP Terminate-Request from the network")
        self._link(self.link.close(now, "network terminated the call"), now)
        return self._take()

    def renegotiate(self, now: float) -> list[object]:
        self._note("fault", "LCP renegotiation while Opened")
        self._link(self.link.renegotiate(now), now)
        return self._take()

    def drop_carrier(self, now: float) -> list[object]:
        """The carrier-loss fault: no LCP Terminate, the link is just gone."""
        self._note("fault", "carrier dropped (no LCP Terminate)")
        return self._lower(now, "carrier dropped by the simulator", "carrier dropped")

    def hang_up(self, now: float, command: str) -> list[object]:
        """The DTE ended the call with ``command`` (ATH, +CGACT=0, +CFUN): as abrupt as a
        carrier loss on the wire, but the user's doing, not a fault."""
        self._note("at", f"call hung up ({command})")
        return self._lower(now, f"hung up ({command})", f"hung up ({command})")

    def _lower(self, now: float, why: str, reason: str) -> list[object]:
        self.link.lower_down(now, why)
        self._finish(reason)
        return self._take()

    def ping(
        self, destination: ipaddress.IPv4Address | ipaddress.IPv6Address, seq: int, now: float
    ) -> list[object]:
        """An ICMP echo request from the network's echo host to the client."""
        packet = echo_request(self.plan, destination, self._ping_ident, seq, b"pppbridge-sim")
        self._pings[seq] = now
        self._note("net", f"ping {destination} seq={seq}")
        return self.from_network(packet, now)

    # ---------------------------------------------------------------- internals
    def _link(self, outputs: list[Output], now: float) -> None:
        lcp_open = self.link.phase in (Phase.AUTHENTICATE, Phase.NETWORK)
        if lcp_open and not self._lcp_was_open and self.call.quirk is PppQuirk.DISCARD_AFTER_OPEN:
            outputs = [*outputs, WriteSerial(_discard_request(self.link.lcp.ours.magic))]
        self._lcp_was_open = lcp_open
        for output in outputs:
            if isinstance(output, WriteSerial):
                self._write(output.data)
            elif isinstance(output, DeliverPacket):
                self._from_client(output.data, now)
            elif isinstance(output, LinkUp):
                self._link_up(output, now)
            elif isinstance(output, LinkDown):
                detail = f": {output.detail}" if output.detail else ""
                self._note("ppp", f"link down, {output.reason.value}{detail}")
                self._finish(output.reason.value)
            elif isinstance(output, LinkRenegotiating):
                self._note("ppp", "LCP renegotiating")
            else:
                self._note("ppp", str(output))

    def _link_up(self, up: LinkUp, now: float) -> None:
        info = up.info
        self._note(
            "ppp",
            f"up: client {info.peer_ipv4 or '-'} dns {','.join(map(str, info.dns)) or '-'}"
            f" ipv6 {info.peer_ipv6_link_local or '-'}"
            f" auth {info.auth or 'none'} mtu {info.mtu}",
        )
        if self.link.ipv6_ready and not self._ra_sent:
            self._ra_sent = True
            self._note("net", f"Router Advertisement: prefix {self.plan.client_prefix}")
            self._link(self.link.send_packet(router_advertisement(self.plan), now), now)

    def _from_client(self, packet: bytes, now: float) -> None:
        if is_router_solicitation(packet):
            self._note("net", "Router Solicitation answered")
            self._link(self.link.send_packet(router_advertisement(self.plan), now), now)
            return
        seq = match_echo_reply(packet, self._ping_ident)
        if seq is not None and seq in self._pings:
            rtt = now - self._pings.pop(seq)
            self.ping_replies.append((seq, rtt))
            self._note("net", f"ping reply seq={seq} {rtt * 1000:.1f} ms")
            return
        self._out.append(DeliverPacket(packet))

    def _write(self, data: bytes) -> None:
        if self.silent:
            return
        if self._quirk_out is not None and self.link.phase in (Phase.AUTHENTICATE, Phase.NETWORK):
            data = b"".join(
                self._quirk_out.encode(frame.protocol, frame.info)
                for frame in self._quirk_in.iter_frames(data)
            )
        self._capture(data, sent=True)
        if self.corrupt_rate:
            data = self._corrupt(data)
        self._out.append(WriteSerial(data))

    def _corrupt(self, data: bytes) -> bytes:
        """Flip one byte inside some frames: the peer sees a bad FCS (RFC 1662 4.3)."""
        segments = data.split(b"\x7e")
        for index, segment in enumerate(segments):
            if len(segment) > 2 and self._rng.random() < self.corrupt_rate:
                at = self._rng.randrange(1, len(segment) - 1)
                flipped = segment[at] ^ 0x55
                if flipped in (_FLAG, _ESCAPE):
                    flipped ^= 0x02
                segments[index] = segment[:at] + bytes((flipped,)) + segment[at + 1 :]
        return b"\x7e".join(segments)

    def _capture(self, data: bytes, *, sent: bool) -> None:
        if not self.call.capture:
            return
        for frame in self._tap[sent].iter_frames(data):
            raw = b"\xff\x03" + frame.protocol.to_bytes(2, "big") + frame.info
            self._out.append(CapturedFrame(raw, sent))

    def _finish(self, reason: str) -> None:
        if not self.ended:
            self.ended = True
            self._out.append(SessionEnded(reason))

    def _auth_name(self) -> str:
        protocol = self.call.auth.protocol
        return protocol.value if protocol else "none"

    def _note(self, topic: str, text: str) -> None:
        self._out.append(Note(topic, text))

    def _take(self) -> list[object]:
        out: list[object] = list(self._out)
        self._out = []
        return out


def _discard_request(magic: int) -> bytes:
    """RFC 1661 5.9: Code 11, the sender's Magic-Number (0 when not negotiated)."""
    packet = bytes((11, 0x5A, 0, 8)) + magic.to_bytes(4, "big")
    return Framer().encode(0xC021, packet)


def _quirk_framer(quirk: PppQuirk) -> Framer | None:
    if quirk is PppQuirk.COMPRESS_UNNEGOTIATED:
        # Escaping every control character stays legal whatever ACCM was negotiated.
        return Framer(accm=0xFFFFFFFF, acfc=True, pfc=True)
    if quirk is PppQuirk.ACCM_ZERO:
        return Framer(accm=0)
    return None
