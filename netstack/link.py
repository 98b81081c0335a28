"""One PPP link: framing, LCP, authentication and the NCPs composed (RFC 1661 section 3).

Phases (RFC 1661 3.2): Dead -> Establish (LCP) -> Authenticate (PAP/CHAP) -> Network
(IPCP, IPV6CP) -> Terminate. The link demultiplexes frames by protocol number, sends
Protocol-Reject for protocols it does not run (RFC 1661 5.7), pushes what LCP negotiated
down into the framer (as lwIP's pppos does), keeps the link alive with LCP Echo, and
reports what happened as values from ``netstack.events``.

Call-order contract: ``open(now)`` once, then any number of ``receive_bytes``,
``send_packet``, ``handle_timer`` (at or after ``next_deadline()``), ``close`` and
``lower_down`` calls, in time order. Each returns a list of outputs: ``WriteSerial`` first
(if any), then packets and events in the order they happened. After ``LinkDown`` the
session is over; only an LCP Terminate exchange still in progress is finished.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from .auth import Authentication, ChapClient, ChapServer, PapClient, PapServer
from .config import AuthProtocol, LinkConfig, Role
from .events import (
    Authenticated,
    DeliverPacket,
    DownReason,
    Ipv6Unavailable,
    LcpUp,
    LinkDown,
    LinkInfo,
    LinkRenegotiating,
    LinkUp,
    Output,
    WriteSerial,
)
from .fsm import (
    Automaton,
    AutomatonOutput,
    LayerSignal,
    Notice,
    Signal,
    State,
    TerminateRequested,
    Timers,
    Transmit,
)
from .hdlc import Deframer, Framer
from .ipcp import IpcpNegotiator
from .ipv6cp import Ipv6cpNegotiator
from .lcp import (
    DEFAULT_ACCM,
    DEFAULT_MRU,
    AuthRefused,
    EchoReplied,
    Keepalive,
    KeepaliveAction,
    LcpNegotiator,
    LoopedBack,
    ProtocolRejected,
)
from .numbers import Code, Protocol
from .packet import ControlPacket
from .rng import Rng
from .text import peer_text

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
# A modem that drops the call prints this after the last frame (V.250 result code).
_NO_CARRIER = re.compile(rb"[\r\n]*NO CARRIER[\r\n]*")
# The same text after part of a frame: the modem hung up in the middle of one.
_NO_CARRIER_AFTER_DATA = re.compile(rb"[\r\n]NO CARRIER[\r\n]+\Z")
NO_CARRIER_CONFIRM = 0.5
"""Seconds with nothing more read after ``<part of a frame>\r\nNO CARRIER\r\n`` before it
counts as the modem's result code: the same octets could be data in a frame whose rest
is still on its way (with ACCM 0, CR and LF travel unescaped), and a frame's rest follows
within milliseconds, while after NO CARRIER a modem sends nothing."""
# IP protocol -> the NCP that opens it.
_CONTROL_OF: dict[int, int] = {Protocol.IPV4: Protocol.IPCP, Protocol.IPV6: Protocol.IPV6CP}
_NEGOTIATING = (State.REQ_SENT, State.ACK_RCVD, State.ACK_SENT)
_ALIVE = (*_NEGOTIATING, State.OPENED)


class Phase(Enum):
    """RFC 1661 3.2."""

    DEAD = "dead"
    ESTABLISH = "establish"
    AUTHENTICATE = "authenticate"
    NETWORK = "network"
    TERMINATE = "terminate"


@dataclass(frozen=True, slots=True)
class LinkStatistics:
    frames_in: int
    frames_out: int
    bytes_in: int
    bytes_out: int
    packets_in: int
    packets_out: int
    drops: Mapping[str, int]
    """Dropped frames and packets by reason (framing errors, malformed control packets,
    unknown protocols, packets for a network protocol that is not open...)."""
    accm_ignored_by_peer: int = 0
    """Frames kept although the peer sent control characters raw that our receive ACCM
    asked it to escape (``Deframer.accm_ignored_by_peer``)."""


class Link:
    """A PPP session over one serial line, in the client or the answering role."""

    def __init__(self, config: LinkConfig, rng: Rng) -> None:
        self.config = config
        self.phase = Phase.DEAD
        self._rng = rng
        timers = Timers(
            config.restart_interval, config.max_terminate, config.max_configure, config.max_failure
        )
        self._timers = timers
        self._framer = Framer()
        self._deframer = Deframer(mru=config.mru)
        self.lcp = LcpNegotiator(config, rng)
        self._lcp = Automaton(Protocol.LCP, self.lcp, timers, rng)
        self.ipcp = IpcpNegotiator(config)
        self.ipv6cp = Ipv6cpNegotiator(config, rng)
        self._ncps: dict[int, Automaton] = {}
        if config.ipv4:
            self._ncps[Protocol.IPCP] = Automaton(Protocol.IPCP, self.ipcp, timers, rng)
        if config.ipv6:
            self._ncps[Protocol.IPV6CP] = Automaton(Protocol.IPV6CP, self.ipv6cp, timers, rng)
        self._auth: list[Authentication] = []
        self._keepalive = Keepalive(
            config.echo_interval, config.echo_failures, config.echo_only_when_idle
        )
        self._ipv4_open = False
        self._ipv6_open = False
        self._ended = False
        self._reason: DownReason | None = None
        self._detail = ""
        self._heard_lcp = False
        self._peer_terminated = False
        self._peer_reason = ""
        self._no_carrier_at: float | None = None
        self._rejected: set[int] = set()
        self._lcp_identifier = rng.randrange(256)  # for the LCP packets the link sends
        self._drops: Counter[str] = Counter()
        self._frames_out = self._bytes_out = self._packets_in = self._packets_out = 0
        self._tx: list[bytes] = []
        self._out: list[Output] = []

    def __repr__(self) -> str:
        return f"<Link {self.config.role.value} {self.phase.value} lcp={self._lcp.state.name}>"

    @property
    def ipv4_ready(self) -> bool:
        """IPCP is Opened: IPv4 packets flow."""
        return self._ipv4_open

    @property
    def finished(self) -> bool:
        """The session is over and so is LCP's Terminate exchange (Terminate-Ack received,
        or Max-Terminate retransmissions timed out): nothing more will be sent."""
        return self._ended and self._lcp.state not in (State.CLOSING, State.STOPPING)

    @property
    def ipv6_ready(self) -> bool:
        """IPV6CP is Opened: IPv6 packets flow."""
        return self._ipv6_open

    # ------------------------------------------------------------------ inputs
    def open(self, now: float) -> list[Output]:
        """The line is connected (after CONNECT): start LCP (RFC 1661 3.3)."""
        self.phase = Phase.ESTABLISH
        self._apply(self._lcp.up(now), now)
        self._apply(self._lcp.open(now), now)
        return self._take()

    def receive_bytes(self, data: bytes, now: float) -> list[Output]:
        """Bytes from the serial line, in any chunking."""
        for protocol, info in self._deframer.iter_frames(data):
            if protocol != Protocol.LCP:  # traffic; an Echo-Reply must not postpone echoes
                self._keepalive.heard_from_peer()
            if protocol == Protocol.IPV4 and self._ipv4_open:
                self._packets_in += 1
                self._out.append(DeliverPacket(info))
            elif protocol == Protocol.IPV6 and self._ipv6_open:
                self._packets_in += 1
                self._out.append(DeliverPacket(info))
            else:
                self._receive_other(protocol, info, now)
        self._check_no_carrier(now)
        return self._take()

    def _check_no_carrier(self, now: float) -> None:
        """V.250 5.7.1: after a call the modem prints NO CARRIER; PPP has no word for it."""
        self._no_carrier_at = None
        tail = self._deframer.pending_suffix(32)
        if b"NO CARRIER" not in tail:
            return
        if self._deframer.pending_length() == len(tail) and _NO_CARRIER.fullmatch(tail):
            self._deframer.reset()
            self._lower_down(now, "the modem said NO CARRIER")
        elif _NO_CARRIER_AFTER_DATA.search(tail):
            self._no_carrier_at = now + NO_CARRIER_CONFIRM

    def send_packet(self, packet: bytes, now: float) -> list[Output]:
        """An IPv4 or IPv6 packet from the host, to send to the peer."""
        version = packet[0] >> 4 if packet else 0
        if version == 4 and self._ipv4_open:
            protocol = Protocol.IPV4
        elif version == 6 and self._ipv6_open:
            protocol = Protocol.IPV6
        else:
            self._drops["outbound_not_open"] += 1
            return []
        if len(packet) > self.lcp.peer.mru:
            self._drops["outbound_too_big"] += 1
            return []
        self._packets_out += 1
        frame = self._framer.encode(protocol, packet)
        self._frames_out += 1
        self._bytes_out += len(frame)
        return [WriteSerial(frame)]

    def close(self, now: float, reason: str = "closed by the user") -> list[Output]:
        """End the session politely: LCP Terminate-Request (RFC 1661 3.7)."""
        self._set_reason(DownReason.LOCAL_CLOSE, reason)
        self._apply(self._lcp.close(now, reason.encode()[:64]), now)
        return self._take()

    def renegotiate(self, now: float) -> list[Output]:
        """Renegotiate LCP while Opened (the simulator uses this to play a modem that does)."""
        self._apply(self._lcp.renegotiate(now), now)
        return self._take()

    def lower_down(self, now: float, detail: str = "") -> list[Output]:
        """The carrier went away (the shell saw the port close or DCD drop)."""
        self._lower_down(now, detail)
        return self._take()

    def next_deadline(self) -> float | None:
        times = [self._lcp.deadline, self._keepalive.deadline, self._no_carrier_at]
        times += [ncp.deadline for ncp in self._ncps.values()]
        times += [auth.next_deadline() for auth in self._auth]
        pending = [t for t in times if t is not None]
        return min(pending) if pending else None

    def handle_timer(self, now: float) -> list[Output]:
        if self._no_carrier_at is not None and now >= self._no_carrier_at:
            self._no_carrier_at = None
            self._deframer.reset()
            self._lower_down(now, "the modem said NO CARRIER in the middle of a frame")
        self._apply(self._lcp.handle_timer(now), now)
        for ncp in self._ncps.values():
            self._apply(ncp.handle_timer(now), now)
        for auth in list(self._auth):
            self._apply(auth.handle_timer(now), now)
        self._check_auth(now)
        action = self._keepalive.expire(now)
        if action is KeepaliveAction.SEND_ECHO:
            self._send_echo_request()
        elif action is KeepaliveAction.DECLARE_DEAD:
            self._set_reason(
                DownReason.ECHO_TIMEOUT, f"{self.config.echo_failures} echoes unanswered"
            )
            self._apply(self._lcp.close(now, b"peer not responding"), now)
        return self._take()

    def statistics(self) -> LinkStatistics:
        drops: Counter[str] = Counter(
            {str(k.value): v for k, v in self._deframer.drops.items() if v}
        )
        drops.update(self._drops)
        control = self._lcp.dropped + sum(ncp.dropped for ncp in self._ncps.values())
        control += sum(auth.dropped for auth in self._auth)
        if control:
            drops["control_packet"] += control
        return LinkStatistics(
            frames_in=self._deframer.frames,
            frames_out=self._frames_out,
            bytes_in=self._deframer.bytes,
            bytes_out=self._bytes_out,
            packets_in=self._packets_in,
            packets_out=self._packets_out,
            drops=dict(drops),
            accm_ignored_by_peer=self._deframer.accm_ignored_by_peer,
        )

    # ---------------------------------------------------------------- receive
    def _receive_other(self, protocol: int, info: bytes, now: float) -> None:
        if protocol == Protocol.LCP:
            self._receive_lcp(info, now)
        elif self._ended:
            self._drops["after_link_down"] += 1
        elif protocol in (Protocol.PAP, Protocol.CHAP):
            self._receive_auth(protocol, info, now)
        elif protocol in self._ncps:
            if self.phase == Phase.NETWORK:
                self._apply(self._ncps[protocol].receive(info, now), now)
            else:  # RFC 1661 3.4/3.5: NCP packets before the Network phase are discarded
                self._drops["ncp_before_network_phase"] += 1
        elif _CONTROL_OF.get(protocol) in self._ncps:
            self._drops["ncp_not_open"] += 1  # RFC 1661 3.5: silently discarded
        elif self.phase == Phase.NETWORK:
            self._drops["unknown_protocol"] += 1
            self._protocol_reject(protocol, info)
        else:
            # RFC 1661 3.4/3.5: before the Network phase (LCP negotiating, or
            # authenticating) other protocols are silently discarded, not rejected.
            self._drops["before_network_phase"] += 1

    def _receive_lcp(self, info: bytes, now: float) -> None:
        if self._ended and self._lcp.state not in (State.CLOSING, State.STOPPING):
            self._drops["after_link_down"] += 1
            return
        self._heard_lcp = True
        self._apply(self._lcp.receive(info, now), now)

    def _receive_auth(self, protocol: int, info: bytes, now: float) -> None:
        handlers = [a for a in self._auth if a.protocol == protocol]
        if not handlers or self.phase not in (Phase.AUTHENTICATE, Phase.NETWORK):
            self._drops["auth_not_expected"] += 1
            return
        for auth in handlers:
            self._apply(auth.receive(info, now), now)
        self._check_auth(now)

    def _protocol_rejected(self, protocol: int, now: float) -> None:
        """RFC 1661 5.7: the peer does not run ``protocol``; stop it (RXJ-)."""
        self._rejected.add(protocol)
        ncp = self._ncps.get(protocol)
        if ncp is not None:
            self._apply(ncp.protocol_rejected(now), now)

    def _protocol_reject(self, protocol: int, info: bytes) -> None:
        data = (_U16.pack(protocol) + info)[: max(self.lcp.peer.mru - 4, 2)]
        self._send_lcp(Code.PROTOCOL_REJECT, data)

    def _send_echo_request(self) -> None:
        self._send_lcp(Code.ECHO_REQUEST, _U32.pack(self.lcp.ours.magic))

    def _send_lcp(self, code: Code, data: bytes) -> None:
        """An LCP packet the link itself originates (not the automaton's)."""
        self._lcp_identifier = (self._lcp_identifier + 1) & 0xFF
        self._transmit(Protocol.LCP, ControlPacket(code, self._lcp_identifier, data).emit())

    # --------------------------------------------------------- layer signals
    def _apply(self, outputs: Iterable[AutomatonOutput], now: float) -> None:
        for output in outputs:
            if isinstance(output, Transmit):
                self._transmit(output.protocol, output.data)
            elif isinstance(output, Notice):
                self._notice(output, now)
            elif output.protocol == Protocol.LCP:
                self._lcp_signal(output, now)
            else:
                self._ncp_signal(output, now)

    def _notice(self, notice: Notice, now: float) -> None:
        if isinstance(notice, TerminateRequested) and notice.protocol == Protocol.LCP:
            self._peer_terminated = True
            self._peer_reason = peer_text(notice.reason)
            if notice.opened:
                self._set_reason(DownReason.PEER_TERMINATED, self._peer_reason)
        elif isinstance(notice, ProtocolRejected):
            self._protocol_rejected(notice.rejected, now)
        elif isinstance(notice, EchoReplied):
            self._keepalive.reply_received()
        elif isinstance(notice, LoopedBack):
            self._fail(now, DownReason.LOOPED_BACK, "our own Magic-Number came back")
        elif isinstance(notice, AuthRefused):
            self._fail(now, DownReason.AUTH_FAILED, "the peer refused to authenticate")

    def _lcp_signal(self, signal: LayerSignal, now: float) -> None:
        if signal.signal == Signal.UP:
            self._lcp_up(now)
        elif signal.signal == Signal.DOWN:
            self._lcp_down(now)
        elif signal.signal == Signal.FINISHED:
            self.phase = Phase.DEAD
            self._end(self._unfinished_reason())

    def _lcp_up(self, now: float) -> None:
        ours, peer = self.lcp.ours, self.lcp.peer
        # RFC 1662 7.1 / RFC 1661 6.5-6.6: what was negotiated applies from now on.
        self._framer.accm = DEFAULT_ACCM if peer.accm is None else peer.accm
        self._framer.pfc, self._framer.acfc = peer.pfc, peer.acfc
        self._deframer.accm = DEFAULT_ACCM if ours.accm is None else ours.accm
        self._deframer.mru = ours.mru
        self._set_peer_mru(peer.mru)
        self._keepalive.start(now)
        self._out.append(LcpUp(mru=ours.mru, mtu=peer.mru))
        if self.config.require_auth is not None and ours.auth is None:
            self._fail(now, DownReason.AUTH_FAILED, "the peer refused to authenticate")
            return
        self.phase = Phase.AUTHENTICATE
        self._auth = self._authenticators()
        for auth in self._auth:
            self._apply(auth.start(now), now)
        self._check_auth(now)

    def _authenticators(self) -> list[Authentication]:
        config = self.config
        auth: list[Authentication] = []
        if self.lcp.auth_we_do == AuthProtocol.PAP:
            auth.append(PapClient(self._timers, config.username, config.password, self._rng))
        elif self.lcp.auth_we_do == AuthProtocol.CHAP_MD5:
            auth.append(ChapClient(self._timers, config.username, config.password))
        if self.lcp.auth_peer_does == AuthProtocol.PAP:
            auth.append(PapServer(self._timers, config.secrets))
        elif self.lcp.auth_peer_does == AuthProtocol.CHAP_MD5:
            auth.append(
                ChapServer(
                    self._timers,
                    config.secrets,
                    config.hostname,
                    self._rng,
                    config.chap_rechallenge_interval,
                )
            )
        return auth

    def _check_auth(self, now: float) -> None:
        failed = [a.outcome for a in self._auth if a.outcome is not None and not a.outcome.ok]
        if failed and not self._ended:
            self._fail(now, DownReason.AUTH_FAILED, failed[0].detail)
        elif self.phase == Phase.AUTHENTICATE and all(a.outcome for a in self._auth):
            self.phase = Phase.NETWORK
            self._out.append(Authenticated(tuple(a.name for a in self._auth)))
            for ncp in self._ncps.values():
                self._apply(ncp.up(now), now)
                self._apply(ncp.open(now), now)

    def _set_peer_mru(self, mru: int) -> None:
        # RFC 1661 5.6/5.7: a Code-Reject or Protocol-Reject is truncated to fit the
        # peer's MRU, whichever protocol sends it.
        for automaton in (self._lcp, *self._ncps.values()):
            automaton.max_reject = mru - 4

    def _lcp_down(self, now: float) -> None:
        self._framer.accm, self._framer.pfc, self._framer.acfc = DEFAULT_ACCM, False, False
        self._deframer.accm = DEFAULT_ACCM
        self._set_peer_mru(DEFAULT_MRU)
        self._keepalive.stop()
        self._auth = []
        for ncp in self._ncps.values():
            self._apply(ncp.down(now), now)
        if self._lcp.state in _NEGOTIATING and not self._ended:
            # RFC 1661 4.1, RCR/RCA/RCN in Opened: the peer renegotiates. The session goes
            # on (seen from Quectel BG770 over CMUX); a new LinkUp follows.
            self.phase = Phase.ESTABLISH
            self._out.append(LinkRenegotiating())
        else:
            self.phase = Phase.TERMINATE
            self._end(DownReason.NEGOTIATION_FAILED)

    def _ncp_signal(self, signal: LayerSignal, now: float) -> None:
        protocol = signal.protocol
        if signal.signal == Signal.UP:
            # Only a client needs an address of its own; an answering side may, like
            # u-blox SARA-R412M, announce none.
            client = self.config.role is Role.CLIENT
            if protocol == Protocol.IPCP and client and not _usable(self.ipcp.ours.address):
                self._detail = "the peer gave us no IPv4 address"
                self._apply(self._ncps[protocol].close(now, b"no address"), now)
                return
            self._set_open(protocol, True)
            self._out.append(LinkUp(self._info()))
        elif signal.signal == Signal.DOWN:
            self._set_open(protocol, False)
        elif signal.signal == Signal.FINISHED:
            self._ncp_finished(protocol, now)

    def _ncp_finished(self, protocol: int, now: float) -> None:
        if protocol == Protocol.IPV6CP:
            detail = (
                "the peer Protocol-Rejected IPV6CP"
                if protocol in self._rejected
                else "IPV6CP did not open"
            )
            self._out.append(Ipv6Unavailable(f"IPv6 is not available on PPP: {detail}"))
        if self.phase == Phase.NETWORK and not any(
            ncp.state in _ALIVE for ncp in self._ncps.values()
        ):
            self._fail(now, DownReason.NO_NETWORK_PROTOCOLS, self._detail)

    def _set_open(self, protocol: int, is_open: bool) -> None:
        if protocol == Protocol.IPCP:
            self._ipv4_open = is_open
        else:
            self._ipv6_open = is_open

    # ----------------------------------------------------------- bookkeeping
    def _transmit(self, protocol: int, data: bytes) -> None:
        frame = self._framer.encode(protocol, data)
        self._frames_out += 1
        self._bytes_out += len(frame)
        self._tx.append(frame)

    def _take(self) -> list[Output]:
        out = self._out
        if self._tx:
            out.insert(0, WriteSerial(b"".join(self._tx)))
            self._tx = []
        self._out = []
        return out

    def _set_reason(self, reason: DownReason, detail: str = "") -> None:
        if self._reason is None and not self._ended:
            self._reason, self._detail = reason, detail

    def _fail(self, now: float, reason: DownReason, detail: str) -> None:
        self._set_reason(reason, detail)
        self._apply(self._lcp.close(now, reason.value.encode()), now)
        if self._lcp.state not in _ALIVE:
            self._end(reason)

    def _lower_down(self, now: float, detail: str) -> None:
        self._set_reason(DownReason.CARRIER_LOST, detail)
        self._apply(self._lcp.down(now), now)
        self.phase = Phase.DEAD
        self._end(DownReason.CARRIER_LOST)

    def _unfinished_reason(self) -> DownReason:
        if self._peer_terminated:
            self._set_reason(DownReason.PEER_TERMINATED, self._peer_reason)
            return DownReason.PEER_TERMINATED
        return DownReason.NEGOTIATION_FAILED if self._heard_lcp else DownReason.PEER_NOT_RESPONDING

    def _end(self, default: DownReason) -> None:
        if self._ended:
            return
        self._ended = True
        self._keepalive.stop()
        self._ipv4_open = self._ipv6_open = False
        self._out.append(LinkDown(self._reason or default, self._detail))

    def _info(self) -> LinkInfo:
        ours, peer = self.lcp.ours, self.lcp.peer
        used = self.lcp.auth_we_do or self.lcp.auth_peer_does
        ipv4 = self._ipv4_open
        dns = tuple(a for a in self.ipcp.ours.dns.values() if _usable(a)) if ipv4 else ()
        if ipv4 and self.config.role == Role.ANSWERING:
            dns = self.config.dns
        return LinkInfo(
            mru=ours.mru,
            mtu=peer.mru,
            auth=used.value if used else None,
            local_ipv4=self.ipcp.ours.address if ipv4 else None,
            peer_ipv4=(self.ipcp.peer.address or self.config.peer_ipv4) if ipv4 else None,
            dns=dns,
            local_interface_id=self.ipv6cp.ours if self._ipv6_open else None,
            peer_interface_id=self.ipv6cp.peer if self._ipv6_open else None,
        )


def _usable(address: ipaddress.IPv4Address | None) -> bool:
    return address is not None and not address.is_unspecified
