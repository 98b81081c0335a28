"""``--metrics FILE``: the bridge's state and counters in the Prometheus text exposition
format (version 0.0.4), rewritten atomically every ``interval`` seconds.

node_exporter's textfile collector (``--collector.textfile.directory``) reads every
``*.prom`` file of its directory at each scrape, so fleets of gateways are watched the
way their other hosts are: give ``FILE`` in that directory, ending in ``.prom``.

Each write goes to a new file in the same directory (``O_EXCL``, a random name starting
with a dot and not ending in ``.prom``, so the collector never reads it), mode 0644,
then ``rename()`` puts it in place: a reader sees the old file or the new one, never a
part. On stop the file is removed, only while it is still the one we wrote last
(``bridge.owned_paths``): a bridge that stopped reports nothing rather than stale
values (``node_textfile_mtime_seconds`` tells a bridge that was killed).

Every sample has the label ``bridge="<instance>"``, so several bridges of one host
(one file each) never collide. The families (``render``):

- ``pppbridge_info`` (gauge, 1): version, profile, maker, model, firmware, edition.
- ``pppbridge_phase{phase}`` (gauge): 1 for the current phase, 0 for the others.
- ``pppbridge_up``: 1 while IP traffic flows; ``pppbridge_link_uptime_seconds``.
- ``pppbridge_start_time_seconds``: when the bridge started (Unix time).
- ``pppbridge_reconnects_total`` (counter): calls that ended other than by a stop.
- ``pppbridge_registered``, ``pppbridge_roaming`` and ``pppbridge_registration_info``
  {state, technology, operator}, as read before the last dial.
- ``pppbridge_signal_rssi_dbm``, ``_rsrp_dbm``, ``_rsrq_db``, ``_sinr_db``: only
  those the modem gave, as read before the last dial.
- ``pppbridge_{receive,transmit}_{bytes,frames,packets}_total`` (counters): since the
  bridge started, across calls.
- ``pppbridge_drops_total{reason}`` (counter): dropped frames and packets by reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from netstack.errors import UsageError

from .file_write import replace_file
from .owned_paths import Identity, remove_if_ours
from .status import BridgeState, Phase

log = logging.getLogger("pppbridge")
DEFAULT_INTERVAL = 15.0
"""Prometheus scrapes every 15 to 60 s: a file never older than one scrape interval."""
MIN_INTERVAL, MAX_INTERVAL = 1.0, 3600.0
FILE_MODE = 0o644
"""node_exporter runs as its own user: it must read the file."""

Labels = dict[str, str]


@dataclass(frozen=True)
class MetricsSettings:
    path: str
    """The file to write (``--metrics``); its directory must exist."""
    interval: float = DEFAULT_INTERVAL
    """Seconds between two writes (``--metrics-interval``)."""

    def __post_init__(self) -> None:
        interval = self.interval
        if isinstance(interval, bool) or not isinstance(interval, int | float):
            raise UsageError("--metrics-interval must be a number of seconds")
        if not (math.isfinite(interval) and MIN_INTERVAL <= interval <= MAX_INTERVAL):
            raise UsageError(
                f"--metrics-interval must be from {MIN_INTERVAL:g} to {MAX_INTERVAL:g} seconds"
            )
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise UsageError(f"--metrics {self.path}: no such directory {directory}")
        with contextlib.suppress(OSError):
            if stat.S_ISDIR(os.lstat(self.path).st_mode):
                raise UsageError(f"--metrics {self.path}: is a directory; give a file in it")


# ------------------------------------------------------------------ the format
@dataclass(frozen=True, slots=True)
class Family:
    """One metric family: its samples share the name, HELP and TYPE."""

    name: str
    kind: str
    """``gauge`` or ``counter`` (a counter's name ends in ``_total``)."""
    help: str
    samples: tuple[tuple[Labels, float], ...]


def render(state: BridgeState) -> str:
    """The state in the text exposition format, newline-terminated; families without a
    sample (a signal value the modem does not give, no drops yet) are left out."""
    return "".join(_family_text(family) for family in families(state) if family.samples)


def families(state: BridgeState) -> list[Family]:
    bridge = {"bridge": state.instance}

    def one(name: str, kind: str, text: str, value: float | None, **labels: str) -> Family:
        samples = () if value is None else (({**bridge, **labels}, value),)
        return Family(name, kind, text, samples)

    modem, c = state.modem, state.counters
    info = {
        "version": state.version,
        **{k: v or "" for k, v in (("profile", modem.profile), ("maker", modem.maker))},
        **{k: v or "" for k, v in (("model", modem.model), ("firmware", modem.firmware))},
        "edition": modem.edition or "",
    }
    result = [
        one("pppbridge_info", "gauge", "What the bridge runs: version and modem.", 1, **info),
        Family(
            "pppbridge_phase",
            "gauge",
            "The bridge's phase: 1 for the current one.",
            tuple(({**bridge, "phase": p.value}, float(p is state.phase)) for p in Phase),
        ),
        one("pppbridge_up", "gauge", "1 while IP traffic flows over the link.", _up(state)),
        one(
            "pppbridge_link_uptime_seconds",
            "gauge",
            "Seconds since IP came up in the current call; 0 while down.",
            state.link_uptime_seconds or 0.0,
        ),
        one(
            "pppbridge_start_time_seconds",
            "gauge",
            "When the bridge started, in seconds since the Unix epoch.",
            state.started_unix,
        ),
        one(
            "pppbridge_reconnects_total",
            "counter",
            "Calls that ended other than by a stop.",
            state.reconnects,
        ),
    ]
    result += _registration_families(bridge, state)
    signal = state.signal
    for name, text in (
        ("rssi_dbm", "Received signal strength (dBm)"),
        ("rsrp_dbm", "LTE reference signal received power (dBm)"),
        ("rsrq_db", "LTE reference signal received quality (dB)"),
        ("sinr_db", "Signal to interference and noise ratio (dB)"),
    ):
        value = None if signal is None else getattr(signal, name)
        help_text = f"{text}, as read before the last dial."
        result.append(one(f"pppbridge_signal_{name}", "gauge", help_text, value))
    for way, direction, verb in (("receive", "in", "received"), ("transmit", "out", "sent")):
        for unit, text in (
            ("bytes", f"Octets {verb} on the serial line"),
            ("frames", f"Whole PPP frames {verb}"),
            ("packets", f"IP packets {verb}"),
        ):
            value = getattr(c, f"{unit}_{direction}")
            result.append(one(f"pppbridge_{way}_{unit}_total", "counter", f"{text}.", value))
    result.append(
        Family(
            "pppbridge_drops_total",
            "counter",
            "Frames and packets dropped, by reason.",
            tuple(({**bridge, "reason": r}, n) for r, n in sorted(c.drops.items())),
        )
    )
    return result


def _up(state: BridgeState) -> int:
    return int(state.phase is Phase.UP)


def _registration_families(bridge: Labels, state: BridgeState) -> list[Family]:
    registration = state.registration
    if registration is None:
        return []
    labels = {
        **bridge,
        "state": registration.state,
        "technology": registration.technology or "",
        "operator": registration.operator or "",
    }
    return [
        Family(
            "pppbridge_registered",
            "gauge",
            "1 when registered (home or roaming), as read before the last dial.",
            ((bridge, float(registration.registered)),),
        ),
        Family(
            "pppbridge_roaming",
            "gauge",
            "1 when registered on a roaming network, as read before the last dial.",
            ((bridge, float(registration.state == "roaming")),),
        ),
        Family(
            "pppbridge_registration_info",
            "gauge",
            "The registration: state, access technology, operator.",
            ((labels, 1.0),),
        ),
    ]


def _family_text(family: Family) -> str:
    lines = [
        f"# HELP {family.name} {_escape_help(family.help)}",
        f"# TYPE {family.name} {family.kind}",
    ]
    lines += [f"{family.name}{_labels(labels)} {_value(value)}" for labels, value in family.samples]
    return "\n".join(lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels.items()) + "}"


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _value(value: float) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


# ------------------------------------------------------------------- the file
def write_atomically(path: str, text: str) -> Identity:
    """``text`` in ``path``, whole or not at all (a new file renamed over it); the
    identity of the file now at ``path``."""
    info = replace_file(path, text.encode(), mode=FILE_MODE)
    return Identity(info.st_dev, info.st_ino, stat.S_IFREG)


class MetricsWriter:
    """Writes ``render(snapshot())`` to the file now and every ``interval`` seconds."""

    def __init__(self, settings: MetricsSettings, snapshot: Callable[[], BridgeState]) -> None:
        self.settings = settings
        self._snapshot = snapshot
        self._written: Identity | None = None
        self._last_problem: str | None = None
        self._task: asyncio.Task[None] | None = None

    def write(self) -> None:
        """One write; ``OSError`` if it fails."""
        self._written = write_atomically(self.settings.path, render(self._snapshot()))

    def start(self) -> None:
        """The first write at once (``UsageError`` with one line if it fails: a path
        that cannot be written is a mistake to show before the modem is touched), then
        one every interval on the running loop. A file already at the path is replaced
        only if it is a metrics file of this same bridge (left by one that was killed):
        a mistyped path never replaces anyone's file."""
        self._refuse_foreign_file()
        try:
            self.write()
        except OSError as exc:
            raise UsageError(f"--metrics {self.settings.path}: {exc.strerror or exc}") from None
        self._task = asyncio.get_running_loop().create_task(self._every_interval())

    def _refuse_foreign_file(self) -> None:
        path = self.settings.path
        try:
            with open(path, encoding="utf-8", errors="replace") as existing:
                head = existing.read(4096)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise UsageError(f"--metrics {path}: {exc.strerror or exc}") from None
        bridge = self._snapshot().instance
        if f'pppbridge_info{{bridge="{bridge}"' not in head:
            raise UsageError(
                f"--metrics {path}: exists and is not this bridge's metrics file; "
                "it is never replaced: give another path"
            )

    async def stop(self) -> None:
        """No more writes; the file removed while it is still the one we wrote."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        written, self._written = self._written, None
        remove_if_ours(self.settings.path, written)

    async def _every_interval(self) -> None:
        while True:
            # The period of the file, not a wait for something to happen.
            await asyncio.sleep(self.settings.interval)
            self._write_or_warn()

    def _write_or_warn(self) -> None:
        """A failed write (disk full, the directory removed) is said once, not every
        interval, and never stops the bridge; the next success is said too."""
        try:
            self.write()
        except OSError as exc:
            problem = f"cannot write --metrics {self.settings.path}: {exc.strerror or exc}"
            if problem != self._last_problem:
                log.warning("%s", problem)
            self._last_problem = problem
            return
        if self._last_problem is not None:
            log.warning("writing --metrics %s again", self.settings.path)
            self._last_problem = None
