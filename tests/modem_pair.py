"""``bridge.modem.BringUp`` against the pure simulator ``Modem``, on virtual time.

    pair = ModemPair(ModemSettings(apn="internet"), SimSettings(profile="quectel"))
    result = pair.run()               # Dialled or BringUpFailed
    pair.ppp                          # Dialled.trailing and every later modem write
    pair.written                      # every line the bring-up wrote, in order

Nothing sleeps: the loop jumps virtual time to the next deadline of either side. Bytes
cross at once; with ``split`` each of the modem's writes is cut at up to three random
places (seeded), as ``--messy`` modems on real UARTs do (``bridge.simulator.line_io``),
and the pieces are read one by one. ``dead`` leaves the line unanswered; ``deaf_after``
drops every command from the n-th on (a modem that stops answering).
"""

from __future__ import annotations

import random
from collections import deque
from typing import TypeVar

from bridge.modem import BringUp, BringUpFailed, BringUpOutput, Dialled, ModemSettings, WriteModem
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
        prime: tuple[str, ...] = (),
    ) -> None:
        self.modem = Modem(sim or SimSettings(), rng=random.Random(seed), now=0.0)
        self.bring_up = BringUp(settings)
        self.rng = random.Random(seed)
        self.split = split
        self.dead = dead
        self.deaf_after = deaf_after
        self.now = 0.0
        self.outputs: list[BringUpOutput] = []
        self.written: list[WriteModem] = []
        self.ppp = bytearray()
        self.result: Dialled | BringUpFailed | None = None
        self._to_dte: deque[bytes] = deque()
        for command in prime:  # put the simulated modem in a state first, unseen
            self.modem.receive(command.encode() + b"\r", 0.0)

    def run(self) -> Dialled | BringUpFailed:
        # The modem booted as the port opened: its boot URCs are read after the first AT.
        boot = self.modem.start(0.0)
        first = self.bring_up.start(0.0)
        self._from_modem(boot)
        self._from_bring_up(first)
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
    def _advance(self) -> None:
        deadlines = [self.bring_up.next_deadline()]
        if not self.dead:
            deadlines.append(self.modem.next_deadline())
        pending = [d for d in deadlines if d is not None]
        assert pending, "both sides wait for nothing"
        self.now = max(self.now, min(pending))
        assert self.now <= TIME_LIMIT, "virtual time ran away"
        if not self.dead:
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
            if isinstance(output, Dialled | BringUpFailed):
                self.result = output
        for output in outputs:
            if isinstance(output, WriteModem):
                self.written.append(output)
                deaf = self.deaf_after is not None and len(self.written) > self.deaf_after
                if not (self.dead or deaf):
                    self._from_modem(self.modem.receive(output.data, self.now))

    def _from_modem(self, outputs: list[object]) -> None:
        for output in outputs:
            if isinstance(output, WriteSerial):
                self._to_dte.extend(self._cut(output.data))
        while self._to_dte:
            chunk = self._to_dte.popleft()
            if self.result is not None:
                self.ppp += chunk
                continue
            outputs = self.bring_up.receive(chunk, self.now)
            for output in outputs:
                if isinstance(output, Dialled):
                    self.ppp += output.trailing
            self._from_bring_up(outputs)

    def _cut(self, data: bytes) -> list[bytes]:
        if not self.split or len(data) < 2:
            return [data]
        cuts = sorted(self.rng.sample(range(1, len(data)), min(3, len(data) - 1)))
        return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
