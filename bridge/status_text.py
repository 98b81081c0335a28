"""``BridgeState`` and ``ModemInfo`` for a person, in the layout of ``mmcli -m 0``.

    --------------------------------
    Bridge       |     instance: pppbridge0
                 |        phase: up (for 1h 02m)
    --------------------------------
    Signal       |         RSRP: -95 dBm

A section a block, keys right-aligned, values as the modem gave them with their units;
what is not known is left out (``--json`` shows it as null). For scripts, ``--json``.
"""

from __future__ import annotations

from .status import BridgeState, ModemInfo, ModemStatus, RegistrationStatus, SignalStatus

Row = tuple[str, str | None]
Section = tuple[str, list[Row]]
_RULE = "  " + "-" * 32


def render(sections: list[Section]) -> str:
    """The sections as text; rows whose value is None are left out, and so is a
    section left empty."""
    kept = [(name, [(k, v) for k, v in rows if v is not None]) for name, rows in sections]
    kept = [(name, rows) for name, rows in kept if rows]
    name_width = max((len(name) for name, _ in kept), default=0)
    key_width = max((len(key) for _, rows in kept for key, _ in rows), default=0)
    lines = []
    for name, rows in kept:
        lines.append(_RULE)
        for index, (key, value) in enumerate(rows):
            label = name if index == 0 else ""
            lines.append(f"  {label:<{name_width}} | {key:>{key_width}}: {value}")
    return "\n".join(lines)


def state_text(state: BridgeState) -> str:
    return render(
        [
            _bridge(state),
            *_modem(state.modem),
            _registration(state.registration),
            _signal(state.signal),
            _network(state),
            _traffic(state),
        ]
    )


def info_text(info: ModemInfo) -> str:
    return render([*_modem(info.modem), _registration(info.registration), _signal(info.signal)])


def duration(seconds: float) -> str:
    """``12 s``, ``5m 03s``, ``1h 02m``, ``3d 04h``."""
    whole = int(max(seconds, 0))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{whole} s"


def _bridge(state: BridgeState) -> Section:
    error = state.last_error
    link = state.link_uptime_seconds
    return (
        "Bridge",
        [
            ("instance", state.instance),
            ("pid", f"{state.pid} (pppbridge {state.version})"),
            ("phase", f"{state.phase.value} (for {duration(state.phase_seconds)})"),
            ("uptime", duration(state.uptime_seconds)),
            ("link uptime", None if link is None else duration(link)),
            ("reconnects", str(state.reconnects)),
            (
                "last error",
                None if error is None else f"{error.message} ({_ago(error.age_seconds)})",
            ),
        ],
    )


def _modem(modem: ModemStatus) -> list[Section]:
    edition = modem.edition
    if edition is not None and modem.edition_firmware is not None:
        edition = f"{edition} ({modem.edition_firmware})"
    return [
        (
            "Modem",
            [
                ("device", modem.device),
                ("AT port", modem.at_port),
                ("profile", modem.profile),
                ("manufacturer", modem.maker),
                ("model", modem.model),
                ("firmware", modem.firmware),
                ("edition", edition),
                ("IMEI", modem.imei),
            ],
        ),
        ("SIM", [("state", modem.sim), ("ICCID", modem.iccid), ("IMSI", modem.imsi)]),
    ]


def _registration(registration: RegistrationStatus | None) -> Section:
    if registration is None:
        return ("Registration", [])
    return (
        "Registration",
        [
            ("state", registration.state),
            ("operator", registration.operator),
            ("access tech", registration.technology),
            ("area", registration.area),
            ("cell", registration.cell),
            ("read", _read_when(registration.age_seconds)),
        ],
    )


def _signal(signal: SignalStatus | None) -> Section:
    if signal is None:
        return ("Signal", [])
    return (
        "Signal",
        [
            ("RSSI", _unit(signal.rssi_dbm, "dBm")),
            ("RSRP", _unit(signal.rsrp_dbm, "dBm")),
            ("RSRQ", _unit(signal.rsrq_db, "dB")),
            ("SINR", _unit(signal.sinr_db, "dB")),
            ("read", _read_when(signal.age_seconds)),
        ],
    )


def _network(state: BridgeState) -> Section:
    network = state.network
    ipv4 = None if network.ipv4 is None else str(network.ipv4)
    if ipv4 is not None and network.peer_ipv4 is not None:
        ipv4 += f" peer {network.peer_ipv4}"
    return (
        "Network",
        [
            ("interface", network.interface),
            ("MTU", None if network.mtu is None else str(network.mtu)),
            ("IPv4", ipv4),
            ("IPv6 link-local", _opt(network.ipv6_link_local)),
            ("IPv6 global", ", ".join(map(str, network.ipv6_global)) or None),
            ("DNS", ", ".join(map(str, network.dns)) or None),
        ],
    )


def _traffic(state: BridgeState) -> Section:
    c = state.counters
    drops = ", ".join(f"{reason} {count}" for reason, count in c.drops.items()) or "none"
    return (
        "Traffic",
        [
            ("received", f"{c.bytes_in} bytes, {c.frames_in} frames, {c.packets_in} packets"),
            ("sent", f"{c.bytes_out} bytes, {c.frames_out} frames, {c.packets_out} packets"),
            ("dropped", drops),
        ],
    )


def _unit(value: float | None, unit: str) -> str | None:
    return None if value is None else f"{value:g} {unit}"


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def _ago(seconds: float) -> str:
    return f"{duration(seconds)} ago"


def _read_when(age: float | None) -> str | None:
    return None if age is None else f"before the dial, {_ago(age)}"
