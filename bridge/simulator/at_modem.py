"""The simulated modem: the AT command interpreter and its data calls, without I/O.

Bytes from the DTE, packets from the network and ``now`` go in; outputs come out
(``WriteSerial`` for the line, ``DeliverPacket`` for the network, ``Note`` for the
transcript, ``CapturedFrame`` for the pcap); ``next_deadline()``/``handle_timer(now)``
drive registration delays, the escape guard time and the PPP timers.

Modes (V.250 5.1): command state; online data state, where the line carries PPP; and
online command state, entered with ``+++`` between guard times (V.250 6.3.6? S12), left
with ``ATO`` (resume) or ``ATH`` (hang up). Command lines follow V.250 5.2: echo while
typing when E1, terminated by S3 (CR), results framed <CR><LF> when V1.

The modem's own IP stack (``at_sockets.py``, the vendors' ``at_socket_*`` commands) adds
two waits to command state: after a data prompt (``> ``, ``@``) the next bytes are a
payload of a known length, not a command line (``expect_payload``); and a command may go
on after its reply started (a vendor's ping prints its results, then OK:
``Final.PENDING``), input typed meanwhile waits. URCs the stack raises are held while the
line carries PPP, and in tidy mode while a payload is expected or a command goes on.

Terminals (``at_port.py``): the first port carries the AT dialogue and the data call; with
``at_port=True`` a second, AT-only port (``receive_at_port``, output ``WriteAtPort``)
talks to the same modem state while the first carries PPP. Replies go to the port that
typed the command; URCs (registration, sockets, pings that answer after OK) go to the
second port when there is one, as Quectel's USB modems send URCs to their AT port
(``AT+QURCCFG="urcport"``, default "usbat"), else to the first.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from ipaddress import IPv4Address, IPv6Address

from netstack.events import DeliverPacket, WriteSerial

from . import (  # they register their commands too
    at_basic,
    at_network,
    at_pdp,
    at_socket_quectel,
    at_socket_sequans,
    at_socket_telit,
    at_socket_ublox,
)
from .at_commands import HANDLERS, VENDOR_HANDLERS, Handler
from .at_parser import Command, Form, parse_line
from .at_port import (
    AUX,
    MAIN,
    AtPort,
    EscapeDetector,
    LaterAnswer,
    PayloadWait,
    PortSetting,
    WriteAtPort,
    masked,
    printable,
)
from .at_results import ERROR, Final, Reply, cme, final_text
from .at_sockets import SocketStack
from .data_session import CallPlan, CapturedFrame, DataSession, Note, SessionEnded
from .ipv6_notation import Piaf
from .modem_state import URC_COMMANDS, Context, Radio, Sim
from .plan import DEFAULT_PLAN, NetworkPlan
from .profiles import PROFILES, PppQuirk
from .settings import DialResult, Registration, SimSettings
from .socket_events import NetworkEvent

_LF = 0x0A
PAYLOAD_TIMEOUT = 10.0
"""Seconds the modem waits for a payload after its prompt before it answers ERROR [U]."""
_VENDOR_MODULES = (at_socket_quectel, at_socket_sequans, at_socket_telit, at_socket_ublox)
"""Imported for the commands they register (``handles(..., vendor=...)``)."""
TIDY_CONNECT_DELAY = 0.05
"""Seconds between CONNECT and the first LCP frame in tidy mode (``--messy`` sends both in
one write)."""


class Mode(Enum):
    COMMAND = "command"
    ONLINE = "online"
    ONLINE_COMMAND = "online-command"


@dataclass
class Faults:
    """The faults that can change while the simulator runs (control socket)."""

    pdp_refuse: bool
    dial_result: DialResult
    reject_ipv6cp: bool
    corrupt_rate: float
    silent: bool = False


class Modem:
    def __init__(
        self,
        settings: SimSettings,
        plan: NetworkPlan = DEFAULT_PLAN,
        rng: random.Random | None = None,
        now: float = 0.0,
        capture: bool = False,
        at_port: bool = False,
    ) -> None:
        """``at_port``: the modem has a second, AT-only terminal (``receive_at_port``)."""
        self.settings = settings
        self.profile = PROFILES[settings.profile]
        self.plan = plan
        self.rng = rng or random.Random(settings.seed)
        self.capture = capture
        self.messy = settings.messy
        self.faults = Faults(
            settings.pdp_refuse,
            settings.dial_result,
            settings.reject_ipv6cp,
            settings.corrupt_rate,
        )
        self.ports = [AtPort(MAIN), *([AtPort(AUX)] if at_port else [])]
        self.port = self.ports[0]
        """The port whose input (or whose late answer) is being handled."""
        self.cmee = 0
        self.s_registers = {0: 0, 2: 43, 3: 13, 4: 10, 5: 8, 7: 50, 12: 50}
        self.sim = Sim(settings.pin, settings.puk)
        self.radio = Radio(settings.registration, settings.registration_delay)
        self.contexts: dict[int, Context] = {1: Context("IPV4V6", "")}
        self.piaf = Piaf()
        self.mode = Mode.COMMAND
        self.session: DataSession | None = None
        self.session_cid = 0
        self.now = now
        self._connect_at: float | None = None
        self._held: list[bytes] = []
        """PPP bytes held until ``_connect_at`` (tidy mode: not in CONNECT's write)."""
        self._scheduled: dict[str, float] = {}
        self._escape = EscapeDetector()
        self._out: list[object] = []
        self.line_limit = settings.at_line_limit or self.profile.line_limit
        self.stack = SocketStack(self, self.profile.sockets)
        self._due_urcs: list[tuple[float, str]] = []
        self._dial_activated = False
        """The dial activated the call's context, so the call's end deactivates it."""

    def __repr__(self) -> str:
        return f"<Modem {self.profile.name} {self.mode.value} sim={self.sim.state}>"

    # V.250 E, V and Q belong to the terminal that sets them (``at_port.py``).
    echo = PortSetting()
    verbose = PortSetting()
    quiet = PortSetting()

    @property
    def on_data_port(self) -> bool:
        """The command came from the first port, the one that can carry a data call."""
        return self.port is self.ports[0]

    @contextlib.contextmanager
    def _on(self, port: AtPort) -> Iterator[None]:
        """Handle input or output of ``port`` (the first port otherwise)."""
        before, self.port = self.port, port
        try:
            yield
        finally:
            self.port = before

    # ------------------------------------------------------------------ inputs
    def start(self, now: float) -> list[object]:
        """Power on: the boot URCs, then the radio starts searching."""
        self.now = now
        for port in self.ports:
            with self._on(port):
                self._write_lines(list(self.profile.boot_urcs))
        self._radio_changed(self.radio.update(self.sim.ready, now))
        return self._take()

    def receive(self, data: bytes, now: float) -> list[object]:
        """Bytes the DTE wrote to the line."""
        self.now = now
        if self.mode is Mode.ONLINE and self.session is not None:
            self._receive_online(data, now)
        else:
            self._receive_command(data, now)
        return self._take()

    def receive_at_port(self, data: bytes, now: float) -> list[object]:
        """Bytes the DTE wrote to the second, AT-only terminal."""
        self.now = now
        with self._on(self.ports[-1]):
            self._receive_command(data, now)
        return self._take()

    def network_event(self, event: NetworkEvent, now: float) -> list[object]:
        """A datagram or a ping reply for the modem's own IP stack."""
        self.now = now
        self.stack.receive(event, now)
        return self._take()

    def from_network(self, packet: bytes, now: float) -> list[object]:
        """An IP packet from the operator network for the client."""
        self.now = now
        if self.mode is Mode.ONLINE and self.session is not None:
            self._session(self.session.from_network(packet, now))
        return self._take()

    def next_deadline(self) -> float | None:
        times = [self.radio.deadline, self._connect_at, self._escape.deadline]
        times += self._scheduled.values()
        times += [self.stack.next_deadline(), *(when for when, _ in self._due_urcs)]
        times += [port.payload.deadline for port in self.ports if port.payload is not None]
        if self.session is not None and self.mode is Mode.ONLINE:
            times.append(self.session.next_deadline())
        pending = [t for t in times if t is not None]
        return min(pending) if pending else None

    def handle_timer(self, now: float) -> list[object]:
        self.now = now
        if self.radio.expire(now):
            self._radio_changed(True)
        if self._connect_at is not None and now >= self._connect_at:
            self._connect_at = None
            if self._held:
                self._write(b"".join(self._held))
                self._held.clear()
        self._escape_timer(now)
        for name, when in list(self._scheduled.items()):
            if now >= when:
                del self._scheduled[name]
                self._fault(name, now)
        self.stack.handle_timer(now)
        due = [text for when, text in self._due_urcs if now >= when]
        self._due_urcs = [(when, text) for when, text in self._due_urcs if now < when]
        for text in due:
            self.urc(text)
        for port in self.ports:
            if port.payload is not None and now >= port.payload.deadline:
                port.payload = None
                with self._on(port):
                    self._at_note("payload not complete in time")
                    self._reply([], ERROR)
        if self.session is not None and self.mode is Mode.ONLINE:
            self._session(self.session.handle_timer(now))
        return self._take()

    # ------------------------------------------------------------------ faults
    def fault(self, name: str, now: float) -> list[object]:
        """A fault acting on the current call: drop, terminate, silent, renegotiate."""
        self.now = now
        self._fault(name, now)
        return self._take()

    def _fault(self, name: str, now: float) -> None:
        session = self.session
        if session is None:
            self._note("fault", f"{name}: no data call")
            return
        if name == "drop":
            self._session(session.drop_carrier(now))
        elif name == "terminate":
            self._session(session.terminate(now))
        elif name == "silent":
            self.faults.silent = session.silent = True
            self._note("fault", "link silent: nothing sent, nothing answered")
        elif name == "renegotiate":
            self._session(session.renegotiate(now))

    def set_silent(self, silent: bool) -> None:
        self.faults.silent = silent
        if self.session is not None:
            self.session.silent = silent

    def set_registration(self, target: Registration, delay: float, now: float) -> list[object]:
        self.now = now
        self._note("fault", f"network registration -> {target.name.lower()} in {delay:g} s")
        self._radio_changed(self.radio.retarget(target, delay, self.sim.ready, now))
        return self._take()

    def ping(self, destination: IPv4Address | IPv6Address, seq: int, now: float) -> list[object]:
        self.now = now
        if self.session is not None and self.mode is Mode.ONLINE:
            self._session(self.session.ping(destination, seq, now))
        return self._take()

    # ------------------------------------------------------------ command state
    def _receive_command(self, data: bytes, now: float) -> None:
        port = self.port
        while data:
            if port.pending:
                port.deferred += data
                return
            if port.payload is not None:
                data = self._feed_payload(data, now)
            else:
                data = self._receive_text(data, now)

    def _feed_payload(self, data: bytes, now: float) -> bytes:
        """Payload bytes after a prompt: taken as they are (no echo, no editing)."""
        wait = self.port.payload
        assert wait is not None
        take = wait.size - len(wait.data)
        wait.data += data[:take]
        if len(wait.data) == wait.size:
            self.port.payload = None
            reply = wait.finish(bytes(wait.data), now)
            self._reply(list(reply.lines), reply)
        return data[take:]

    def _receive_text(self, data: bytes, now: float) -> bytes:
        """Command-line bytes; returns what follows a line that made the modem wait for
        a payload or a pending command."""
        port = self.port
        echo = bytearray()
        for index, byte in enumerate(data):
            if port.echo:
                echo.append(byte)
            if byte == ord("/") and port.line.strip().upper() == b"A":
                # V.250 5.2.4: "A/" repeats the last line at once, no terminator needed.
                port.line.append(byte)
            if self._ends_line(byte):
                if echo:
                    self._write(bytes(echo))
                    echo.clear()
                line = port.line.decode("latin-1")
                port.line.clear()
                self._command_line(line, now)
                if self.mode is Mode.ONLINE and self.on_data_port:  # the rest is data
                    if data[index + 1 :]:
                        self._receive_online(data[index + 1 :], now)
                    return b""
                if port.payload is not None or port.pending:
                    return data[index + 1 :]
            elif byte == self.s_registers[5]:
                if port.line:
                    port.line.pop()
            elif byte != self.s_registers[4]:
                self._take_char(byte, echo)
        if echo:
            self._write(bytes(echo))
        return b""

    def _take_char(self, byte: int, echo: bytearray) -> None:
        """One character into the line buffer of ``line_limit`` characters. Past it, the
        line keeps its tail, where "AT" may start after noise; under ``--at-line-limit``
        a line that starts with AT keeps its head instead and the rest is lost, not even
        echoed, as when a Pycom host cuts its commands (reference 1.8)."""
        line = self.port.line
        if len(line) < self.line_limit:
            line.append(byte)
        elif self.settings.at_line_limit and line.lstrip()[:2].upper() == b"AT":
            if self.port.echo and echo:
                echo.pop()
        else:
            line.append(byte)
            del line[: len(line) - self.line_limit]

    def _ends_line(self, byte: int) -> bool:
        """S3 (CR) ends a command line (V.250 5.2.1), and so does ``A/`` at once. So does
        LF after something: terminals and scripts often send LF alone (``echo``, picocom
        mapped so); an LF with nothing before it (CR LF) stays ignored."""
        line = self.port.line
        if byte == self.s_registers[3] or line.strip().upper() == b"A/":
            return True
        return byte == _LF and bool(line.strip())

    def _command_line(self, line: str, now: float) -> None:
        start = line.upper().find("AT")
        if line.strip().upper() == "A/":
            line = self.port.last_line
        elif start < 0:
            return  # V.250 5.2.1: characters before "AT" are ignored
        else:
            line = line[start:]
        self.port.last_line = line
        self._at_note(f"> {masked(line)}")
        commands = parse_line(line[2:])
        if commands is None:
            self._reply([], ERROR)
            return
        lines: list[str] = []
        for command in commands:
            reply = self._execute(command, now)
            lines.extend(reply.lines)
            if reply.final is not Final.OK or "data" in reply.then or reply.raw:
                self._reply(lines, reply)
                return
        self._reply(lines, Reply())

    def _execute(self, command: Command, now: float) -> Reply:
        name = self.profile.aliases.get(command.name, command.name)
        dialect = self.profile.sockets
        if dialect is not None and name in VENDOR_HANDLERS.get(dialect.name, {}):
            return VENDOR_HANDLERS[dialect.name][name](self, command, now)
        if name == self.profile.iccid_command:
            name = "ICCID"
        if self.profile.vendor_auth and name == self.profile.vendor_auth.command:
            name = "VENDOR-AUTH"
        handler: Handler | None = HANDLERS.get(name)
        if handler is None and name.startswith("S") and name[1:].isdigit():
            handler = HANDLERS["S"]
        if handler is None:
            return ERROR
        return handler(self, command, now)

    def _reply(self, lines: list[str], reply: Reply) -> None:
        shown = list(lines)
        if self.messy and shown and any(self.radio.urc_mode.values()):
            # Real modems print URCs wherever they happen, even inside a response.
            shown.insert(
                1,
                self._registration_urc(
                    next(name for name in URC_COMMANDS if self.radio.urc_mode[name])
                ),
            )
        if reply.final is Final.PROMPT:
            # The vendor's prompt exactly (``SocketDialect.prompt``: "> " alone on
            # Sequans, "<CR><LF>> " on Telit), never framed as a line.
            self._write_lines(shown)
            self._at_note(f"< {printable(reply.connect_text)}")
            self._write(reply.connect_text.encode("latin-1"))
            return
        if reply.final is Final.PENDING:
            self._write_lines(shown)
            self.port.pending = True
            return
        shown_final = "" if self.quiet else final_text(reply, self.cmee, self.verbose, self.messy)
        if reply.raw:
            self._write_lines(shown)
            self._at_note(f"< {printable(reply.raw)}")
            self._write(reply.raw)
            shown = []
        self._write_lines(shown, final=shown_final)
        self._flush_urcs()
        if "data" in reply.then:
            self._enter_online(self.now)
        elif "resume" in reply.then:
            self.mode = Mode.ONLINE
            self._note("ppp", "online again (ATO)")

    # ------------------------------------------------------------- data state
    def dial(self, cid: int, now: float) -> Reply:
        """ATD*99***<cid># and +CGDATA: the checks a modem makes before CONNECT."""
        context = self.contexts.get(cid)
        if error := at_basic.sim_error(self):
            return error
        if self.session is not None or not self.on_data_port:
            return cme(3)  # a call is up (ATO resumes it, ATH ends it); an AT-only port
        if context is None:
            return cme(21)
        if at_pdp.granted_type(self, context) is None:
            self._note("at", "dial refused: an IP context on an IPv6-only network")
            return Reply(final=Final.NO_CARRIER)
        result = self.faults.dial_result
        if result is not DialResult.CONNECT:
            self._note("fault", f"dial answered {result.value}")
            return Reply(final=Final[result.name])
        if not self.radio.service or self.faults.pdp_refuse:
            self._note(
                "at",
                "dial refused: "
                + ("PDP activation refused" if self.faults.pdp_refuse else "no service"),
            )
            return Reply(final=Final.NO_CARRIER)
        self.session_cid = cid
        return Reply(final=Final.CONNECT, connect_text=self.profile.connect_text, then=["data"])

    def _enter_online(self, now: float) -> None:
        context = self.contexts[self.session_cid]
        self._dial_activated = not context.active
        context.active = True
        quirk = self.profile.quirk if self.settings.quirks else PppQuirk.NONE
        call = CallPlan(
            pdp_type=at_pdp.granted_type(self, context) or context.pdp_type,
            auth=at_pdp.call_auth(self, context),
            ipv6cp_rejected=self.faults.reject_ipv6cp,
            quirk=quirk,
            corrupt_rate=self.faults.corrupt_rate,
            capture=self.capture,
        )
        self.session = DataSession(call, self.plan, self.rng, now)
        self.session.silent = self.faults.silent
        self.mode = Mode.ONLINE
        self._escape.reset(now)
        if self.messy:
            # Seen in field logs: CONNECT and the first LCP frame in the same read.
            self._session(self.session.start(now), merge_with_last=True)
        else:
            # The link listens at once; its first frame follows CONNECT a moment later.
            self._connect_at = now + TIDY_CONNECT_DELAY
            self._session(self.session.start(now))
        for name, after in (
            ("drop", self.settings.drop_after),
            ("terminate", self.settings.terminate_after),
            ("silent", self.settings.silent_after),
            ("renegotiate", self.settings.renegotiate_after),
        ):
            if after is not None:
                self._scheduled[name] = now + after

    def _receive_online(self, data: bytes, now: float) -> None:
        assert self.session is not None
        guard = self.s_registers[12] / 50
        for chunk in self._escape.feed(data, now, guard):
            self._session(self.session.receive(chunk, now))

    def _escape_timer(self, now: float) -> None:
        verdict = self._escape.expire(now)
        if verdict is None or self.session is None:
            return
        if verdict == b"+++":
            self.mode = Mode.ONLINE_COMMAND
            self._note("at", "+++ escape: online command state, PPP suspended")
            with self._on(self.ports[0]):
                self._reply([], Reply())
        elif verdict and self.mode is Mode.ONLINE:
            self._session(self.session.receive(verdict, now))

    def hang_up(self, now: float, command: str) -> None:
        """The DTE ends the call with ``command`` (ATH in online command state, +CGACT=0,
        +CFUN): no LCP Terminate, no NO CARRIER (the command answers OK)."""
        if self.session is not None:
            self._session(self.session.hang_up(now, command), announce=False)

    def _session(
        self, outputs: list[object], merge_with_last: bool = False, announce: bool = True
    ) -> None:
        for output in outputs:
            if isinstance(output, WriteSerial):
                if self.mode is not Mode.ONLINE:
                    continue
                if self._connect_at is not None:
                    self._held.append(output.data)
                else:
                    with self._on(self.ports[0]):
                        self._write(output.data, merge_with_last)
            elif isinstance(output, SessionEnded):
                self._end_call(output.reason, announce)
            else:
                self._out.append(output)

    def _end_call(self, reason: str, announce: bool) -> None:
        context = self.contexts.get(self.session_cid)
        if context is not None and self._dial_activated:
            context.active = False  # a context active before the dial stays up
            self.stack.close_context(self.session_cid)
        self.session = None
        self._connect_at = None
        self._held.clear()
        self._scheduled.clear()
        self._escape.reset(self.now)
        was_online = self.mode is Mode.ONLINE
        self.mode = Mode.COMMAND
        main = self.ports[0]
        main.line.clear()
        if was_online and (announce or self.port is not main):
            # A hang-up typed on the AT port drops the carrier under the data port's feet.
            with self._on(main):
                self._reply([], Reply(final=Final.NO_CARRIER))
        self._note("ppp", f"call ended: {reason}")
        self._flush_urcs()

    # ----------------------------------------------------------- registration
    def radio_changed(self, now: float) -> None:
        """+CFUN/+COPS changed: the radio searches again or goes quiet."""
        self._radio_changed(self.radio.update(self.sim.ready, now))

    def sim_unlocked(self, now: float) -> None:
        self._note("at", "SIM ready")
        self.radio_changed(now)

    def note(self, topic: str, text: str) -> None:
        self._note(topic, text)

    def _radio_changed(self, changed: bool) -> None:
        if not changed:
            return
        self._note("at", f"registration stat {self.radio.stat}")
        default = self.contexts.get(1)
        if self.settings.attached and self.radio.service and default is not None:
            if not default.active and at_pdp.activation_error(self, default) is None:
                default.active = True
                self._note("at", "default EPS bearer up: context 1 active (attached, no PPP)")
        if self.urc_port is self.ports[0] and self.mode is Mode.ONLINE:
            return  # URCs are not mixed into PPP
        for name in URC_COMMANDS:
            if self.radio.urc_mode[name]:
                self.urc(self._registration_urc(name))

    def _registration_urc(self, name: str) -> str:
        return f"{name}: " + ",".join(at_network.registration_fields(self, name, urc=True))

    # ------------------------------------------------------------- IP stack
    def emit(self, output: object) -> None:
        """An output for the shell (a socket or ping for the network)."""
        self._out.append(output)

    @property
    def urc_port(self) -> AtPort:
        """Where URCs go: the AT-only port when there is one (module docstring)."""
        return self.ports[-1]

    def urc(self, text: str) -> None:
        """An unsolicited line now, or as soon as its port can take it: never inside
        PPP, and in tidy mode never inside a payload or a response that goes on."""
        port = self.urc_port
        if self._holds_urcs(port, tidy=not self.messy):
            port.held_urcs.append(text)
        else:
            with self._on(port):
                self._write_lines([text])

    def _holds_urcs(self, port: AtPort, tidy: bool = True) -> bool:
        if port is self.ports[0] and self.mode is Mode.ONLINE:
            return True
        return tidy and (port.payload is not None or port.pending)

    def later_urc(self, delay: float, text: str) -> None:
        """A URC ``delay`` seconds from now (a result that follows OK)."""
        self._due_urcs.append((self.now + delay, text))

    def expect_payload(self, size: int, finish: Callable[[bytes, float], Reply]) -> Reply:
        """The reply of a command that takes a payload: the vendor's prompt, then ``size``
        bytes, then ``finish(payload, now)`` gives the final result."""
        self.port.payload = PayloadWait(size, finish, self.now + PAYLOAD_TIMEOUT)
        dialect = self.profile.sockets
        assert dialect is not None
        prompt = dialect.prompt
        if self.messy and dialect.messy_prompt is not None:
            prompt = dialect.messy_prompt
        return Reply(final=Final.PROMPT, connect_text=prompt)

    def answer_later(self) -> LaterAnswer:
        """For a command that goes on (return ``Reply(final=Final.PENDING)``): its later
        lines and its final result, written to the port that typed it."""
        port = self.port

        def line(text: str) -> None:
            with self._on(port):
                self._write_lines([text])

        def finish(reply: Reply) -> None:
            with self._on(port):
                port.pending = False
                self._reply(list(reply.lines), reply)
                deferred, port.deferred = bytes(port.deferred), bytearray()
                if deferred:  # typed meanwhile
                    self._receive_command(deferred, self.now)

        return LaterAnswer(line, finish)

    def _flush_urcs(self) -> None:
        port = self.urc_port
        if self._holds_urcs(port):
            return
        held, port.held_urcs = port.held_urcs, []
        with self._on(port):
            for text in held:
                self._write_lines([text])

    # ---------------------------------------------------------------- output
    def _write_lines(self, lines: list[str], final: str = "") -> None:
        """Write lines to the DTE, framed per V1/V0, and note each one as written: the
        transcript shows every line the DTE sees, URCs included, where it sees them."""
        for line in [*lines, final] if final else lines:
            self._at_note(f"< {printable(line)}")
        if self.verbose:
            separator = "\r\n\r\n" if self.messy else "\r\n"
            text = ("\r\n" + separator.join(lines) + "\r\n") if lines else ""
            text += f"\r\n{final}\r\n" if final else ""
        else:
            text = "".join(f"{line}\r\n" for line in lines) + (f"{final}\r" if final else "")
        if text:
            self._write(text.encode("latin-1", "replace"))

    def _write(self, data: bytes, merge_with_last: bool = False) -> None:
        if merge_with_last:
            # The "< CONNECT" and "LCP starts" notes (and captured frames) sit between
            # CONNECT's write and this one: look past them, or nothing is ever merged.
            for index in range(len(self._out) - 1, -1, -1):
                last = self._out[index]
                if isinstance(last, WriteSerial):
                    self._out[index] = WriteSerial(last.data + data)
                    return
                if not isinstance(last, (Note, CapturedFrame)):
                    break
        self._out.append(WriteSerial(data) if self.on_data_port else WriteAtPort(data))

    def _note(self, topic: str, text: str) -> None:
        self._out.append(Note(topic, text))

    def _at_note(self, text: str) -> None:
        """The transcript's line for the AT dialogue; "at2": on the AT-only port."""
        self._note("at" if self.on_data_port else "at2", text)

    def _take(self) -> list[object]:
        out, self._out = self._out, []
        return out


__all__ = [
    "CapturedFrame",
    "DeliverPacket",
    "Form",
    "Modem",
    "Mode",
    "Note",
    "WriteAtPort",
    "WriteSerial",
]
