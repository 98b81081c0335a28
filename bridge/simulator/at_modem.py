"""The simulated modem: the AT command interpreter and its data calls, without I/O.

Bytes from the DTE, packets from the network and ``now`` go in; outputs come out
(``WriteSerial`` for the line, ``DeliverPacket`` for the network, ``Note`` for the
transcript, ``CapturedFrame`` for the pcap); ``next_deadline()``/``handle_timer(now)``
drive registration delays, the escape guard time and the PPP timers.

Modes (V.250 5.1): command state; online data state, where the line carries PPP; and
online command state, entered with ``+++`` between guard times (V.250 6.3.6? S12), left
with ``ATO`` (resume) or ``ATH`` (hang up). Command lines follow V.250 5.2: echo while
typing when E1, terminated by S3 (CR), results framed <CR><LF> when V1.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from enum import Enum
from ipaddress import IPv4Address, IPv6Address

from netstack.events import DeliverPacket, WriteSerial

from . import at_basic, at_network, at_pdp  # they register their commands too
from .at_commands import HANDLERS, Handler
from .at_parser import Command, Form, parse_line
from .at_results import ERROR, Final, Reply, cme, final_text
from .data_session import CallPlan, CapturedFrame, DataSession, Note, SessionEnded
from .ipv6_notation import Piaf
from .modem_state import URC_COMMANDS, Context, Radio, Sim
from .plan import DEFAULT_PLAN, NetworkPlan
from .profiles import PROFILES, PppQuirk
from .settings import DialResult, Registration, SimSettings

_MAX_LINE = 1024
_LF = 0x0A
_SECRET_COMMANDS = sorted(
    {"+CPIN", "+CGAUTH", "+CLCK", "+CPWD"}
    | {p.vendor_auth.command for p in PROFILES.values() if p.vendor_auth is not None}
)
_SECRET_ARGS = re.compile(
    "(" + "|".join(re.escape(name) for name in _SECRET_COMMANDS) + r')=(?:"[^"]*"|[^;"])*',
    re.IGNORECASE | re.DOTALL,
)
"""The arguments of the commands that carry PINs and passwords, hidden in the transcript."""
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
    ) -> None:
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
        self.echo = True
        self.verbose = True
        self.quiet = False
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
        self._line = bytearray()
        self._last_line = ""
        self._connect_at: float | None = None
        self._held: list[bytes] = []
        """PPP bytes held until ``_connect_at`` (tidy mode: not in CONNECT's write)."""
        self._scheduled: dict[str, float] = {}
        self._escape = _EscapeDetector()
        self._out: list[object] = []

    def __repr__(self) -> str:
        return f"<Modem {self.profile.name} {self.mode.value} sim={self.sim.state}>"

    # ------------------------------------------------------------------ inputs
    def start(self, now: float) -> list[object]:
        """Power on: the boot URCs, then the radio starts searching."""
        self.now = now
        for urc in self.profile.boot_urcs:
            self._write_lines([urc])
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

    def from_network(self, packet: bytes, now: float) -> list[object]:
        """An IP packet from the operator network for the client."""
        self.now = now
        if self.mode is Mode.ONLINE and self.session is not None:
            self._session(self.session.from_network(packet, now))
        return self._take()

    def next_deadline(self) -> float | None:
        times = [self.radio.deadline, self._connect_at, self._escape.deadline]
        times += self._scheduled.values()
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
        echo = bytearray()
        for index, byte in enumerate(data):
            if self.echo:
                echo.append(byte)
            if byte == ord("/") and self._line.strip().upper() == b"A":
                # V.250 5.2.4: "A/" repeats the last line at once, no terminator needed.
                self._line.append(byte)
            if self._ends_line(byte):
                if echo:
                    self._write(bytes(echo))
                    echo.clear()
                line = self._line.decode("latin-1")
                self._line.clear()
                self._command_line(line, now)
                if self.mode is Mode.ONLINE:  # the rest is data
                    if data[index + 1 :]:
                        self._receive_online(data[index + 1 :], now)
                    return
            elif byte == self.s_registers[5]:
                if self._line:
                    self._line.pop()
            elif byte != self.s_registers[4]:
                self._line.append(byte)
                if len(self._line) > _MAX_LINE:  # noise: keep the tail, where "AT" may start
                    del self._line[: len(self._line) - _MAX_LINE]
        if echo:
            self._write(bytes(echo))

    def _ends_line(self, byte: int) -> bool:
        """S3 (CR) ends a command line (V.250 5.2.1), and so does ``A/`` at once. So does
        LF after something: terminals and scripts often send LF alone (``echo``, picocom
        mapped so); an LF with nothing before it (CR LF) stays ignored."""
        if byte == self.s_registers[3] or self._line.strip().upper() == b"A/":
            return True
        return byte == _LF and bool(self._line.strip())

    def _command_line(self, line: str, now: float) -> None:
        start = line.upper().find("AT")
        if line.strip().upper() == "A/":
            line = self._last_line
        elif start < 0:
            return  # V.250 5.2.1: characters before "AT" are ignored
        else:
            line = line[start:]
        self._last_line = line
        self._note("at", f"> {_masked(line)}")
        commands = parse_line(line[2:])
        if commands is None:
            self._reply([], ERROR)
            return
        lines: list[str] = []
        for command in commands:
            reply = self._execute(command, now)
            lines.extend(reply.lines)
            if reply.final is not Final.OK or "data" in reply.then:
                self._reply(lines, reply)
                return
        self._reply(lines, Reply())

    def _execute(self, command: Command, now: float) -> Reply:
        name = self.profile.aliases.get(command.name, command.name)
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
        shown_final = "" if self.quiet else final_text(reply, self.cmee, self.verbose, self.messy)
        self._write_lines(shown, final=shown_final)
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
        if self.session is not None:
            return cme(3)  # a call is up (ATO resumes it, ATH ends it)
        if context is None:
            return cme(21)
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
        context.active = True
        quirk = self.profile.quirk if self.settings.quirks else PppQuirk.NONE
        call = CallPlan(
            pdp_type=context.pdp_type,
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
                    self._write(output.data, merge_with_last)
            elif isinstance(output, SessionEnded):
                self._end_call(output.reason, announce)
            else:
                self._out.append(output)

    def _end_call(self, reason: str, announce: bool) -> None:
        context = self.contexts.get(self.session_cid)
        if context is not None:
            context.active = False
        self.session = None
        self._connect_at = None
        self._held.clear()
        self._scheduled.clear()
        self._escape.reset(self.now)
        was_online = self.mode is Mode.ONLINE
        self.mode = Mode.COMMAND
        self._line.clear()
        if announce and was_online:
            self._reply([], Reply(final=Final.NO_CARRIER))
        self._note("ppp", f"call ended: {reason}")

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
        if self.mode is Mode.ONLINE:
            return  # URCs are not mixed into PPP
        for name in URC_COMMANDS:
            if self.radio.urc_mode[name]:
                self._write_lines([self._registration_urc(name)])

    def _registration_urc(self, name: str) -> str:
        return f"{name}: " + ",".join(at_network.registration_fields(self, name, urc=True))

    # ---------------------------------------------------------------- output
    def _write_lines(self, lines: list[str], final: str = "") -> None:
        """Write lines to the DTE, framed per V1/V0, and note each one as written: the
        transcript shows every line the DTE sees, URCs included, where it sees them."""
        for line in [*lines, final] if final else lines:
            self._note("at", f"< {line}")
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
        self._out.append(WriteSerial(data))

    def _note(self, topic: str, text: str) -> None:
        self._out.append(Note(topic, text))

    def _take(self) -> list[object]:
        out, self._out = self._out, []
        return out


class _EscapeDetector:
    """``+++`` with a guard time of silence before and after (V.250 6.3.x, S2/S12).

    Pluses that turn out to be data are handed back to be fed to PPP.
    """

    def __init__(self) -> None:
        self.deadline: float | None = None
        self._held = b""
        self._last = 0.0

    def reset(self, now: float) -> None:
        self.deadline, self._held, self._last = None, b"", now

    def feed(self, data: bytes, now: float, guard: float) -> list[bytes]:
        quiet_before = now - self._last >= guard
        self._last = now
        if self._held:
            candidate = self._held + data
            if candidate.strip(b"+") == b"" and len(candidate) <= 3:
                self._held = candidate
                self.deadline = now + guard
                return []
            held, self._held, self.deadline = self._held, b"", None
            return [held + data]
        if quiet_before and data.strip(b"+") == b"" and len(data) <= 3:
            self._held = data
            self.deadline = now + guard
            return []
        return [data]

    def expire(self, now: float) -> bytes | None:
        """At the deadline: ``b"+++"`` for an escape, other held bytes to pass on as data."""
        if self.deadline is None or now < self.deadline:
            return None
        held, self._held, self.deadline = self._held, b"", None
        return held


def _masked(line: str) -> str:
    """The command line for the transcript, with PINs and passwords hidden."""
    return _SECRET_ARGS.sub(r"\1=<hidden>", line)


__all__ = ["CapturedFrame", "DeliverPacket", "Form", "Modem", "Mode", "Note", "WriteSerial"]
