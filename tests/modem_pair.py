"""``bridge.modem.BringUp`` against the pure simulator ``Modem``, on virtual time.

    pair = ModemPair(ModemSettings(apn="internet"), SimSettings(profile="quectel"))
    result = pair.run()               # Dialled, Attached (dial=False) or BringUpFailed
    pair.ppp                          # Dialled.trailing and every later modem write
    pair.written                      # every line the bring-up wrote, in order

Nothing sleeps: the loop jumps virtual time to the next deadline of either side. Bytes
cross at once; with ``split`` each of the modem's writes is cut at up to three random
places (seeded), as ``--messy`` modems on real UARTs do (``bridge.simulator.line_io``),
and the pieces are read one by one. ``dead`` leaves the line unanswered; ``deaf_after``
drops every command after the n-th (a modem that stops answering); ``booting_until``
starts the modem only then (what is written before is lost); ``noise`` is read first
(leftovers on the line); ``prime`` command lines go to the modem before, unseen;
``machine`` is ``BringUp`` or one of its kind (``ContextRead``).
"""

from __future__ import annotations

import random
from collections import deque
from typing import TypeVar

from bridge.modem import (
    Attached,
    BringUp,
    BringUpFailed,
    BringUpOutput,
    Dialled,
    ModemSettings,
    WriteModem,
)
from bridge.simulator.at_modem import Modem
from bridge.simulator.settings import SimSettings
from netstack.events import WriteSerial
from netstack.hdlc import Deframer, Frame

T = TypeVar("T")
TIME_LIMIT = 1000.0
STEP_LIMIT = 100_000
PPP_WAIT = 1.0
"""Seconds of the modem's time to wait after CONNECT for its first PPP frame."""


class ModemPair:
    def __init__(
        self,
        settings: ModemSettings,
        sim: SimSettings | None = None,
        *,
        seed: int = 1,
        split: bool = False,
        dead: bool = False,
        deaf_after: int | None = None,
        booting_until: float = 0.0,
        noise: bytes = b"",
        prime: tuple[str, ...] = (),
        machine: type[BringUp] = BringUp,
    ) -> None:
        self.modem = Modem(sim or SimSettings(), rng=random.Random(seed), now=0.0)
        self.bring_up = machine(settings)
        self.rng = random.Random(seed)
        self.split = split
        self.dead = dead
        self.deaf_after = deaf_after
        self.booting_until = booting_until
        self.booted = False
        self.noise = noise
        self.now = 0.0
        self.outputs: list[BringUpOutput] = []
        self.written: list[WriteModem] = []
        self.ppp = bytearray()
        self.result: Dialled | Attached | BringUpFailed | None = None
        self._to_dte: deque[bytes] = deque()
        for command in prime:  # put the simulated modem in a state first, unseen
            self.modem.receive(command.encode() + b"\r", 0.0)

    def run(self) -> Dialled | Attached | BringUpFailed:
        # The modem boots as the port opens: its boot URCs are read after the first AT.
        boot = self._boot() if not self.booting_until else []
        first = self.bring_up.start(0.0)
        # Read in this order, once the first AT has reached the modem: the leftovers, the
        # boot URCs, the answer.
        if self.noise:
            self._to_dte.append(self.noise)
        self._queue(boot)
        self._from_bring_up(first)
        self._from_modem([])
        for _ in range(STEP_LIMIT):
            if self.result is not None:
                break
            self._advance()
        assert self.result is not None, f"no result by {self.now} s"
        if isinstance(self.result, Dialled):
            self._wait_for_ppp()
        return self.result

    def frames(self) -> list[Frame]:
        return Deframer().feed(bytes(self.ppp))

    def of_type(self, kind: type[T]) -> list[T]:
        return [output for output in self.outputs if isinstance(output, kind)]

    def sent(self, prefix: str) -> list[str]:
        """The command lines written that start with ``prefix`` (shown form)."""
        return [w.shown for w in self.written if w.shown.startswith(prefix)]

    # ---------------------------------------------------------------- pump
    def _boot(self) -> list[object]:
        self.booted = True
        return self.modem.start(self.now)

    def _advance(self) -> None:
        deadlines = [self.bring_up.next_deadline()]
        if not self.dead:
            deadlines.append(self.modem.next_deadline() if self.booted else self.booting_until)
        pending = [d for d in deadlines if d is not None]
        assert pending, "both sides wait for nothing"
        self.now = max(self.now, min(pending))
        assert self.now <= TIME_LIMIT, "virtual time ran away"
        if not self.dead and not self.booted and self.now >= self.booting_until:
            self._from_modem(self._boot())
        elif not self.dead and self.booted:
            self._from_modem(self.modem.handle_timer(self.now))
        if self.result is None:
            self._from_bring_up(self.bring_up.handle_timer(self.now))

    def _wait_for_ppp(self) -> None:
        end = self.now + PPP_WAIT
        while not self.frames():
            deadline = self.modem.next_deadline()
            if deadline is None or deadline > end:
                break
            self.now = max(self.now, deadline)
            self._from_modem(self.modem.handle_timer(self.now))

    def _from_bring_up(self, outputs: list[BringUpOutput]) -> None:
        self.outputs += outputs  # all of them first: the modem's replies come after
        for output in outputs:
            if isinstance(output, Dialled | Attached | BringUpFailed):
                self.result = output
        for output in outputs:
            if isinstance(output, WriteModem):
                self.written.append(output)
                deaf = self.deaf_after is not None and len(self.written) > self.deaf_after
                if not (self.dead or deaf or not self.booted):
                    self._from_modem(self.modem.receive(output.data, self.now))

    def _queue(self, outputs: list[object]) -> None:
        for output in outputs:
            if isinstance(output, WriteSerial):
                self._to_dte.extend(self._cut(output.data))

    def _from_modem(self, outputs: list[object]) -> None:
        self._queue(outputs)
        while self._to_dte:
            chunk = self._to_dte.popleft()
            if self.result is not None:
                self.ppp += chunk
                continue
            read = self.bring_up.receive(chunk, self.now)
            for output in read:
                if isinstance(output, Dialled):
                    self.ppp += output.trailing
            self._from_bring_up(read)

    def _cut(self, data: bytes) -> list[bytes]:
        if not self.split or len(data) < 2:
            return [data]
        cuts = sorted(self.rng.sample(range(1, len(data)), min(3, len(data) - 1)))
        return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
