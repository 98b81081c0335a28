"""The modem bring-up: from a silent serial line to CONNECT, without I/O.

``BringUp`` runs the scripts of ``script.py`` over a ``netstack.at.AtChannel``, one
command at a time, and reports what it finds. It knows no vendor: the profile (from
``--profile`` or picked once the modem has identified itself) supplies every command
that differs.

Call-order contract (the shell's pump: input -> outputs -> re-arm one timer):

* ``start(now)`` once; then ``receive(data, now)`` with every read from the serial port
  and ``handle_timer(now)`` when ``next_deadline()`` has passed (calling it early is
  harmless). Each returns a list of outputs (``events.py``), in order: write each
  ``WriteModem.data`` to the port as it comes.
* The bring-up ends with exactly one ``Dialled``, ``Attached`` (``ModemSettings.dial``
  False: the context activated and its addresses read, the line still in command mode)
  or ``BringUpFailed``. After ``Dialled`` the line carries PPP: ``Dialled.trailing`` and
  every later read go to the PPP deframer, none lost. After any of them, ``receive``
  raises ``UsageError``, ``next_deadline()`` is None and ``handle_timer`` returns nothing.
* A modem that does not answer AT ends in ``BringUpFailed`` of kind ``NOT_ANSWERING``;
  the supervisor may then write ``reset.data`` (the profile's reset command, e.g.
  ``AT+CFUN=1,1``), wait for one of ``profile.boot_urcs`` or a while, and start a new
  ``BringUp``.

Input before the modem answers the first ``AT`` with ``OK`` is ignored, and so is what
comes in the short pause after it (the answers to earlier tries, which AT cannot tell
from the last one's). A URC while the script waits for news (between sync tries, SIM-busy
reads or registration polls) ends the wait at once.
"""

from __future__ import annotations

from netstack.at import (
    STANDARD_URCS,
    AtChannel,
    AtEvent,
    AtStatistics,
    CommandDone,
    Connected,
    Outcome,
    Urc,
)
from netstack.errors import UsageError

from .chat import Again, Chat, Fail, Goto, Next, Verdict
from .events import (
    Attached,
    BringUpFailed,
    BringUpOutput,
    Dialled,
    FailureKind,
    Step,
    Transcript,
    WriteModem,
)
from .facts import REPORTS, Facts
from .profiles import ALL_URCS, GENERIC, PROFILES, ModemProfile, identify
from .script import bring_up_script, probe_script
from .settings import ModemSettings


class BringUp:
    """One bring-up of one modem: bytes and ``now`` in, outputs out, one deadline."""

    def __init__(self, settings: ModemSettings) -> None:
        if not isinstance(settings, ModemSettings):
            raise UsageError("BringUp takes a ModemSettings")
        self._settings = settings
        chosen = PROFILES[settings.profile] if settings.profile is not None else GENERIC
        self._facts = Facts(settings, chosen)
        self._channel = AtChannel(STANDARD_URCS + ALL_URCS)
        self._script = probe_script(settings)
        self._probing = True
        self._labels = _labels(self._script)
        self._index = 0
        self._pending: Chat | None = None
        self._resume_at: float | None = None
        self._wake_on_urc = False
        self._step: Step | None = None
        self._started: float | None = None
        self._last_report = 0.0
        self._result: Dialled | Attached | BringUpFailed | None = None

    # ------------------------------------------------------------------ state
    @property
    def profile(self) -> ModemProfile:
        """``--profile``'s, the identified one, or generic before identification."""
        return self._facts.profile

    @property
    def reset(self) -> WriteModem:
        """The profile's reset command, ready to write (for a modem that stopped
        answering; the bring-up never sends it itself)."""
        command = self.profile.reset_command
        return WriteModem(command.encode("ascii") + b"\r", command)

    @property
    def step(self) -> Step | None:
        """The step running (or that ended the bring-up); None before ``start``."""
        return self._step

    @property
    def result(self) -> Dialled | Attached | BringUpFailed | None:
        return self._result

    def statistics(self) -> AtStatistics:
        return self._channel.statistics()

    # ----------------------------------------------------------------- inputs
    def start(self, now: float) -> list[BringUpOutput]:
        if self._started is not None:
            raise UsageError("start() was already called")
        self._started = self._last_report = now
        out: list[BringUpOutput] = []
        self._run(now, out)
        return out

    def receive(self, data: bytes, now: float) -> list[BringUpOutput]:
        if self._started is None:
            raise UsageError("receive() before start()")
        if self._result is not None:
            raise UsageError("the bring-up is over: after Dialled the bytes are PPP's")
        out: list[BringUpOutput] = []
        for event in self._channel.receive(data, now):
            self._event(event, now, out)
            if self._result is not None:
                return out
        self._run(now, out)
        return out

    def next_deadline(self) -> float | None:
        if self._result is not None or self._started is None:
            return None
        if self._pending is not None:
            return self._channel.next_deadline()
        return self._resume_at

    def handle_timer(self, now: float) -> list[BringUpOutput]:
        if self._result is not None or self._started is None:
            return []
        out: list[BringUpOutput] = []
        if self._pending is not None:
            for event in self._channel.handle_timer(now):
                self._event(event, now, out)
        elif self._resume_at is not None and now >= self._resume_at:
            self._resume_at = None
        self._run(now, out)
        return out

    # ---------------------------------------------------------------- running
    def _run(self, now: float, out: list[BringUpOutput]) -> None:
        """Start chats until one waits for the modem or a pause, or the end."""
        while self._result is None and self._pending is None and self._resume_at is None:
            if self._index == len(self._script):
                self._script_ended(now, out)
                continue
            chat = self._script[self._index]
            if chat.when is not None and not chat.when(self._facts):
                self._index += 1
                continue
            self._enter(chat.step, now, out)
            if chat.line is None:
                self._apply(chat, chat.read(self._facts, None, now), None, now, out)
                continue
            data = self._channel.send(
                chat.line.text, now, chat.timeout, response_prefix=chat.response
            )
            self._pending = chat
            out.append(WriteModem(data, chat.line.shown))
            out.append(Transcript(f"> {chat.line.shown}"))

    def _pick_profile(self, out: list[BringUpOutput]) -> None:
        facts, settings = self._facts, self._settings
        if settings.profile is None:
            facts.profile = identify(facts.maker, facts.model)
        out.append(Transcript(f"profile: {facts.profile.name} ({facts.profile.description})"))
        self._script = bring_up_script(facts.profile, settings)
        self._labels = _labels(self._script)
        self._index = 0
        self._probing = False

    def _script_ended(self, now: float, out: list[BringUpOutput]) -> None:
        """The probe ends in picking the profile; a dialling script never reaches its end
        (CONNECT ends it), one that does not dial ends in ``Attached``."""
        if self._probing:
            self._pick_profile(out)
        else:
            self._attached(now, out)

    def _attached(self, now: float, out: list[BringUpOutput]) -> None:
        """The script of a modem that is not dialled ran to its end: the context is up."""
        facts = self._facts
        duration, elapsed = self._times(now)
        self._result = Attached(
            facts.context_ipv4, facts.context_ipv6, facts.context_dns, duration, elapsed
        )
        out.append(self._result)

    def _enter(self, step: Step, now: float, out: list[BringUpOutput]) -> None:
        """A new step begins: the one that ended makes its report."""
        if step is self._step:
            return
        build = None if self._step is None else REPORTS.get(self._step)
        report = None if build is None else build(self._facts, *self._times(now))
        if report is not None:
            out.append(report)
            self._last_report = now
        self._step = step
        self._facts.step_started.setdefault(step, now)

    def _times(self, now: float) -> tuple[float, float]:
        """(duration since the last report, elapsed since start)."""
        started = now if self._started is None else self._started
        return now - self._last_report, now - started

    # ------------------------------------------------------------------ events
    def _event(self, event: AtEvent, now: float, out: list[BringUpOutput]) -> None:
        if isinstance(event, Urc):
            out.append(Transcript(f"< {event.line}"))
            self._facts.note_registration(event.line)
            if self._wake_on_urc:
                self._resume_at = None
        elif isinstance(event, CommandDone):
            chat, self._pending = self._pending, None
            if chat is None or chat.line is None:
                raise AssertionError("a result without a command")
            out += _transcript(chat, event)
            if event.outcome is Outcome.TIMEOUT and not chat.reads_timeout:
                verdict: Verdict = Fail(
                    FailureKind.NOT_ANSWERING,
                    f"the modem stopped answering; {self.profile.reset_command} restarts it",
                )
            else:
                verdict = chat.read(self._facts, event, now)
            self._apply(chat, verdict, event, now, out)
        elif isinstance(event, Connected):
            self._connected(event, now, out)

    def _connected(self, event: Connected, now: float, out: list[BringUpOutput]) -> None:
        chat, self._pending = self._pending, None
        out.append(Transcript(f"< CONNECT {event.text}".rstrip()))
        if chat is None or chat.step is not Step.DIAL or chat.line is None:
            self._fail(
                Step.DIAL if chat is None else chat.step,
                FailureKind.PDP,
                "the modem went online (CONNECT) without being dialled",
                now,
                out,
            )
            return
        duration, elapsed = self._times(now)
        self._result = Dialled(
            event.trailing,
            event.text,
            chat.line.shown,
            duration,
            elapsed,
            self._facts.escape_guard,
        )
        out.append(self._result)

    def _apply(
        self,
        chat: Chat,
        verdict: Verdict,
        done: CommandDone | None,
        now: float,
        out: list[BringUpOutput],
    ) -> None:
        if isinstance(verdict, Next):
            self._index += 1
            self._pause(verdict.after, False, now)
        elif isinstance(verdict, Again):
            self._pause(verdict.after, verdict.wake_on_urc, now)
        elif isinstance(verdict, Goto):
            self._index = self._labels[verdict.label]
            self._pause(verdict.after, verdict.wake_on_urc, now)
        else:
            said = "" if done is None or chat.line is None else f" (modem: {_said(chat, done)})"
            self._fail(chat.step, verdict.kind, verdict.message + said, now, out)

    def _pause(self, after: float, wake_on_urc: bool, now: float) -> None:
        if after > 0:
            self._resume_at = now + after
            self._wake_on_urc = wake_on_urc

    def _fail(
        self, step: Step, kind: FailureKind, message: str, now: float, out: list[BringUpOutput]
    ) -> None:
        self._result = BringUpFailed(step, kind, message, self._times(now)[1])
        out.append(self._result)


def _labels(script: tuple[Chat, ...]) -> dict[str, int]:
    return {chat.label: index for index, chat in enumerate(script) if chat.label}


def _said(chat: Chat, done: CommandDone) -> str:
    """The modem's own words for ``chat``'s command, for a message."""
    shown = "" if chat.line is None else chat.line.shown
    if done.outcome is Outcome.TIMEOUT:
        return f"{shown}: no answer in {chat.timeout:g} s"
    words = str(done.error) if done.error is not None else (done.lines or ("OK",))[-1]
    return f"{shown} -> {words}"


def _transcript(chat: Chat, done: CommandDone) -> list[BringUpOutput]:
    lines: list[BringUpOutput] = [Transcript(f"< {line}") for line in done.lines]
    if done.outcome is Outcome.TIMEOUT:
        lines.append(Transcript(f"! no answer in {chat.timeout:g} s"))
    else:
        lines.append(Transcript(f"< {done.error if done.error is not None else 'OK'}"))
    return lines
