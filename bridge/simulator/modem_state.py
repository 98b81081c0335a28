"""The modem's state apart from the command line: SIM, radio and registration, PDP contexts.

Pure: every change takes ``now``; the registration result arrives at a deadline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netstack.secret import Secret

from .settings import Registration


class Sim:
    """A SIM with a PIN lock (27.007 +CPIN): three wrong PINs block it until the PUK."""

    ATTEMPTS = 3
    PUK_ATTEMPTS = 10

    def __init__(self, pin: str | None, puk: str) -> None:
        self._pin = pin
        self._puk = puk
        self.state = "SIM PIN" if pin is not None else "READY"
        self.pin_attempts = self.ATTEMPTS
        self.puk_attempts = self.PUK_ATTEMPTS

    def __repr__(self) -> str:  # never the PIN
        return f"<Sim {self.state} pin_attempts={self.pin_attempts}>"

    @property
    def ready(self) -> bool:
        return self.state == "READY"

    def enter(self, code: str, new_pin: str | None) -> int | None:
        """+CPIN="<pin>" or +CPIN="<puk>","<new pin>": None on success, else a CME code."""
        if self.state == "READY":
            return 3  # operation not allowed: nothing to unlock
        if self.state == "SIM PIN":
            if code == self._pin:
                self.state, self.pin_attempts = "READY", self.ATTEMPTS
                return None
            self.pin_attempts -= 1
            if self.pin_attempts == 0:
                self.state = "SIM PUK"
            return 16  # incorrect password
        if self.state == "SIM PUK" and self.puk_attempts > 0:
            if code == self._puk and new_pin and new_pin.isdigit() and 4 <= len(new_pin) <= 8:
                self._pin, self.state = new_pin, "READY"
                self.pin_attempts = self.ATTEMPTS
                return None
            self.puk_attempts -= 1
            if self.puk_attempts == 0:
                self.state = "SIM BLOCKED"
            return 16
        return 13  # SIM failure: permanently blocked


URC_COMMANDS = ("+CREG", "+CGREG", "+CEREG")


class Radio:
    """+CFUN, +COPS and the registration state reported by +CREG/+CGREG/+CEREG.

    With the radio on, the SIM ready and automatic operator selection, the modem searches
    (stat 2) for ``delay`` seconds, then gets what the network answers: home (1), roaming
    (5), denied (3), or keeps searching.
    """

    def __init__(self, target: Registration, delay: float) -> None:
        self.cfun = 1
        self.cops_mode = 0
        self.target = target
        self.delay = delay
        self.stat = 0
        self.attached = True
        """+CGATT: follows registration unless detached by +CGATT=0."""
        self.urc_mode = dict.fromkeys(URC_COMMANDS, 0)
        self.deadline: float | None = None

    @property
    def registered(self) -> bool:
        return self.stat in (1, 5)

    @property
    def service(self) -> bool:
        """Registered and attached: packet data possible."""
        return self.registered and self.attached

    def update(self, sim_ready: bool, now: float) -> bool:
        """Re-evaluate after a change; True if ``stat`` changed."""
        before = self.stat
        if not (self.cfun == 1 and sim_ready and self.cops_mode != 2):
            self.stat, self.deadline = 0, None
        elif self.stat == 0:
            self.stat, self.deadline = 2, now + self.delay
            self.expire(now)
        return self.stat != before

    def retarget(self, target: Registration, delay: float, sim_ready: bool, now: float) -> bool:
        """The network changes its mind (control socket): search again, then ``target``."""
        self.target, self.delay = target, delay
        before = self.stat
        self.stat, self.deadline = 0, None
        self.update(sim_ready, now)
        return self.stat != before

    def expire(self, now: float) -> bool:
        if self.deadline is None or now < self.deadline:
            return False
        self.deadline = None
        before, self.stat = self.stat, self.target.value
        return self.stat != before


@dataclass
class Context:
    """A PDP context (27.007 +CGDCONT) and its authentication (+CGAUTH)."""

    pdp_type: str
    apn: str
    auth: str = "unset"
    """"unset" (the network's default), "none", "pap", "chap" or "auto"."""
    user: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    active: bool = False


PDP_TYPES = ("IP", "IPV6", "IPV4V6")
