"""Modem control for ``pppbridge run``: the bring-up from a silent serial line to
CONNECT, pure like ``netstack`` (no I/O, clocks or randomness; ``now`` comes in).

- ``settings.py``: ``ModemSettings``, validated once (APN, PIN, credentials, cid...).
- ``profiles.py``: the vendor tables (generic 27.007, Sequans, Telit, Quectel, u-blox).
- ``parsers.py``: response parsers (+CEREG/+CGREG/+CREG, +CSQ, +CESQ, +CPIN, +CGDCONT?,
  identification).
- ``chat.py`` and ``script.py``: the sequence as data, after Zephyr's ``modem_chat``.
- ``bringup.py``: ``BringUp``, which runs it over ``netstack.at.AtChannel``.
- ``events.py``: its outputs (writes, transcript, phase reports, the end).
"""

from .bringup import BringUp
from .events import (
    Attached,
    BringUpFailed,
    BringUpOutput,
    Dialled,
    FailureKind,
    ModemFound,
    Registered,
    SignalQuality,
    SimReady,
    Step,
    Transcript,
    WriteModem,
)
from .pdp import AuthMode, PdpType
from .profiles import PROFILES, ModemProfile
from .settings import ModemSettings

__all__ = [
    "PROFILES",
    "Attached",
    "AuthMode",
    "BringUp",
    "BringUpFailed",
    "BringUpOutput",
    "Dialled",
    "FailureKind",
    "ModemFound",
    "ModemProfile",
    "ModemSettings",
    "PdpType",
    "Registered",
    "SignalQuality",
    "SimReady",
    "Step",
    "Transcript",
    "WriteModem",
]
