"""The bridge's status: ``StatusRecorder`` fed what the supervisor sees, the frozen
``BridgeState`` it makes, its JSON (stable, documented in docs/status-json.md) and the
text ``pppbridge status`` prints."""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest

from bridge.modem.events import Dialled, ModemFound, Registered, SignalQuality, SimReady
from bridge.status import (
    SCHEMA_VERSION,
    BridgeState,
    Counters,
    ModemInfo,
    Phase,
    SchemaError,
    from_json,
    to_json,
)
from bridge.status_recorder import StatusRecorder, counters_of
from bridge.status_text import duration, state_text
from netstack.events import (
    DownReason,
    LcpUp,
    LinkDown,
    LinkInfo,
    LinkRenegotiating,
    LinkUp,
    WriteSerial,
)
from netstack.link import LinkStatistics

DOC = Path(__file__).resolve().parent.parent / "docs" / "status-json.md"
INFO = LinkInfo(
    mru=1500,
    mtu=1400,
    auth=None,
    local_ipv4=IPv4Address("203.0.113.10"),
    peer_ipv4=IPv4Address("198.51.100.1"),
    dns=(IPv4Address("198.51.100.53"),),
    local_interface_id=bytes.fromhex("0211223344556677"),
    peer_interface_id=bytes.fromhex("0200000000000001"),
)


def stats(bytes_in: int, drops: dict[str, int] | None = None) -> LinkStatistics:
    return LinkStatistics(
        frames_in=bytes_in // 100,
        frames_out=2,
        bytes_in=bytes_in,
        bytes_out=300,
        packets_in=bytes_in // 100,
        packets_out=1,
        drops=drops or {},
    )


def recorder() -> StatusRecorder:
    return StatusRecorder(
        "pppbridge0", now=100.0, started_unix=1_700_000_000.0, device="/dev/ttyUSB2", pid=42
    )


def bring_up(status: StatusRecorder, now: float = 101.0) -> None:
    status.phase(Phase.BRINGING_UP, now)
    status.report(
        ModemFound(
            "SEQUANS Communications",
            "VZM20Q",
            "UE5.0.0.0d",
            "354347094405312",
            "sequans",
            "LTE-M",
            0.5,
            0.5,
        ),
        now,
    )
    status.report(SimReady("89882280666027595366", False, 0.1, 0.6), now)
    status.report(Registered(True, "LTE-M", 7, "+CEREG", "00C3", "0A2B3C4D", 1.0, 1.6), now)
    status.report(SignalQuality(-73, -95, -10.5, 0.1, 1.7), now)
    status.report(Dialled(b"", "", "ATD*99***1#", 0.2, 1.9), now + 1)


def up_state() -> BridgeState:
    status = recorder()
    bring_up(status)
    status.carrying(lambda: counters_of(stats(1200, {"bad_fcs": 2}), {"tun_refused": 1}))
    status.link_event(LcpUp(1500, 1400), 103.0)
    status.link_event(LinkUp(INFO), 104.0)
    status.ipv6_globals([IPv6Address("2001:db8:2::211:2233:4455:6677")])
    status.failure("dial: the data call failed", 90.0 + 10)
    return status.snapshot(164.0)


# ------------------------------------------------------------------- recorder
def test_a_new_bridge_is_starting_and_knows_only_its_device() -> None:
    state = recorder().snapshot(100.0)
    assert state.phase is Phase.STARTING
    assert state.modem.device == "/dev/ttyUSB2" and state.modem.model is None
    assert state.registration is None and state.signal is None
    assert state.link_uptime_seconds is None and state.last_error is None
    assert state.counters == Counters()
    assert state.schema == SCHEMA_VERSION


def test_the_reports_and_events_move_the_phase_and_fill_the_state() -> None:
    status = recorder()
    bring_up(status)
    assert status.snapshot(102.0).phase is Phase.NEGOTIATING  # Dialled
    state = up_state()
    assert state.phase is Phase.UP
    assert state.link_uptime_seconds == 60.0
    assert state.uptime_seconds == 64.0
    assert (state.modem.maker, state.modem.edition) == ("SEQUANS Communications", "LTE-M")
    assert state.modem.sim == "READY" and state.modem.iccid == "89882280666027595366"
    assert state.registration is not None and state.registration.state == "roaming"
    assert state.registration.technology == "LTE-M"
    assert state.registration.age_seconds == 63.0  # read before the dial
    assert state.signal is not None and state.signal.rsrq_db == -10.5
    network = state.network
    assert (network.mtu, network.ipv4, network.peer_ipv4) == (1400, INFO.local_ipv4, INFO.peer_ipv4)
    assert network.ipv6_link_local == IPv6Address("fe80::211:2233:4455:6677")
    assert network.dns == (IPv4Address("198.51.100.53"),)
    assert state.last_error is not None and state.last_error.age_seconds == 64.0


def test_renegotiation_and_link_down_move_the_phase_and_withdraw_the_addresses() -> None:
    status = recorder()
    bring_up(status)
    status.link_event(LinkUp(INFO), 104.0)
    status.link_event(LinkRenegotiating(), 110.0)
    state = status.snapshot(111.0)
    assert state.phase is Phase.NEGOTIATING and state.link_uptime_seconds == 7.0
    status.link_event(WriteSerial(b"~"), 111.0)  # not an event of the session: ignored
    status.link_event(LinkDown(DownReason.CARRIER_LOST), 112.0)
    state = status.snapshot(113.0)
    assert state.phase is Phase.LINK_DOWN and state.phase_seconds == 1.0
    assert state.link_uptime_seconds is None
    assert state.network.ipv4 is None and state.network.dns == ()
    status.phase(Phase.WAITING_TO_REDIAL, 114.0)
    status.reconnected()
    assert status.snapshot(115.0).reconnects == 1


def test_counters_add_up_across_calls_and_never_go_back() -> None:
    status = recorder()
    status.carrying(lambda: counters_of(stats(1000, {"bad_fcs": 1}), {}))
    first = status.snapshot(101.0).counters
    assert (first.bytes_in, first.drops) == (1000, {"bad_fcs": 1})
    status.call_ended()
    status.carrying(lambda: counters_of(stats(500, {"bad_fcs": 2, "runt": 1}), {"tun_gone": 3}))
    second = status.snapshot(102.0).counters
    assert second.bytes_in == 1500 and second.packets_in == 15 and second.bytes_out == 600
    assert second.drops == {"bad_fcs": 3, "runt": 1, "tun_gone": 3}
    status.call_ended()
    status.call_ended()  # twice: counted once
    assert status.snapshot(103.0).counters == second


def test_counters_of_leaves_out_reasons_never_seen() -> None:
    counters = counters_of(stats(0, {"bad_fcs": 0, "runt": 1}), {"tun_refused": 0})
    assert counters.drops == {"runt": 1}


# ----------------------------------------------------------------------- JSON
def test_the_json_goes_through_json_and_back_unchanged() -> None:
    state = up_state()
    text = json.dumps(to_json(state))
    assert from_json(BridgeState, json.loads(text)) == state
    data = json.loads(text)
    assert data["schema"] == 1 and data["phase"] == "up"
    assert data["network"]["ipv6_global"] == ["2001:db8:2:0:211:2233:4455:6677"]
    assert data["counters"]["drops"] == {"bad_fcs": 2, "tun_refused": 1}


def test_a_reader_ignores_unknown_keys_and_reads_missing_nullable_ones_as_null() -> None:
    data = to_json(up_state())
    data["a_field_of_a_newer_bridge"] = {"x": 1}
    data["modem"]["something_new"] = 3
    del data["modem"]["imsi"], data["signal"]["sinr_db"]
    state = from_json(BridgeState, data)
    assert state.modem.imsi is None and state.signal is not None and state.signal.sinr_db is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema=2), "schema 2"),
        (lambda d: d.pop("schema"), "schema None"),
        (lambda d: d.update(phase="dancing"), "phase: 'dancing'"),
        (lambda d: d.update(pid="42"), "pid: '42' is not a int"),
        (lambda d: d.update(reconnects=True), "reconnects: True"),
        (lambda d: d["network"].update(ipv4="::1"), "network.ipv4: '::1' is not an IPv4Address"),
        (lambda d: d["network"].update(dns=["x"]), "network.dns[0]"),
        (lambda d: d["counters"]["drops"].update(bad_fcs="many"), "counters.drops.bad_fcs"),
        (lambda d: d.pop("instance"), "no 'instance'"),
    ],
)
def test_what_is_not_a_state_is_refused_saying_where(change, message) -> None:  # type: ignore[no-untyped-def]
    data = to_json(up_state())
    change(data)
    with pytest.raises(SchemaError, match=re.escape(message)):
        from_json(BridgeState, data)


def test_not_an_object_is_refused() -> None:
    with pytest.raises(SchemaError):
        from_json(BridgeState, [1, 2])


def _fields(kind: type, prefix: str = "") -> set[str]:
    """Every JSON field of ``kind``, nested ones as ``part.field``."""
    names = set()
    hints = typing.get_type_hints(kind)
    for field in dataclasses.fields(kind):
        names.add(prefix + field.name)
        inner = [t for t in typing.get_args(hints[field.name]) if dataclasses.is_dataclass(t)]
        inner += [hints[field.name]] if dataclasses.is_dataclass(hints[field.name]) else []
        for part in inner:
            names |= _fields(part, f"{field.name}.")
    return names


def test_every_json_field_is_documented() -> None:
    doc = DOC.read_text()
    documented = set(re.findall(r"^\| `([a-z_0-9]+)`(?:, `([a-z_0-9]+)`)?", doc, re.M))
    names = {n for pair in documented for n in pair if n}
    for kind in (BridgeState, ModemInfo):
        for field in _fields(kind):
            assert field.rsplit(".", 1)[-1] in names, f"{field} is not in {DOC.name}"


def test_the_json_field_names_are_the_schema_1_names() -> None:
    """Within schema 1 no field is renamed or removed: this list only ever grows."""
    schema_1 = {
        "schema", "instance", "pid", "version", "phase", "phase_seconds", "uptime_seconds",
        "started_unix", "link_uptime_seconds", "reconnects", "last_error",
        "last_error.message", "last_error.age_seconds", "modem", "modem.device",
        "modem.at_port", "modem.profile", "modem.maker", "modem.model", "modem.firmware",
        "modem.imei", "modem.edition", "modem.edition_firmware", "modem.sim", "modem.iccid",
        "modem.imsi", "registration", "registration.state", "registration.technology",
        "registration.operator", "registration.area", "registration.cell",
        "registration.age_seconds", "signal", "signal.rssi_dbm", "signal.rsrp_dbm",
        "signal.rsrq_db", "signal.sinr_db", "signal.age_seconds", "network",
        "network.interface", "network.mtu", "network.ipv4", "network.peer_ipv4",
        "network.ipv6_link_local", "network.ipv6_global", "network.dns", "counters",
        "counters.bytes_in", "counters.bytes_out", "counters.frames_in",
        "counters.frames_out", "counters.packets_in", "counters.packets_out", "counters.drops",
    }  # fmt: skip
    assert schema_1 <= _fields(BridgeState)


# ----------------------------------------------------------------------- text
def test_the_text_shows_each_section_with_units_and_leaves_out_the_unknown() -> None:
    text = state_text(up_state())
    rows = {}
    for line in text.splitlines():
        if "|" in line:
            key, _, value = line.split("|", 1)[1].partition(":")
            rows[key.strip()] = value.strip()
    assert rows["phase"] == "up (for 1m 00s)"
    assert rows["edition"] == "LTE-M"
    assert rows["state"] in ("READY", "roaming")
    assert rows["access tech"] == "LTE-M"
    assert rows["RSRQ"] == "-10.5 dB" and rows["RSSI"] == "-73 dBm"
    assert rows["IPv4"] == "203.0.113.10 peer 198.51.100.1"
    assert rows["dropped"] == "bad_fcs 2, tun_refused 1"
    assert rows["last error"] == "dial: the data call failed (1m 04s ago)"
    assert "SINR" not in rows and "IMSI" not in rows and "AT port" not in rows
    sections = [line.split("|")[0].strip() for line in text.splitlines() if "|" in line]
    assert [s for s in sections if s] == [
        "Bridge", "Modem", "SIM", "Registration", "Signal", "Network", "Traffic"
    ]  # fmt: skip
    bars = {line.index("|") for line in text.splitlines() if "|" in line}
    colons = {line.index(":") for line in text.splitlines() if "|" in line}
    assert len(bars) == 1 and len(colons) == 1  # aligned as mmcli aligns


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (59.9, "59 s"), (61, "1m 01s"), (3600, "1h 00m"), (90061, "1d 01h"), (-1, "0 s")],
)
def test_durations(seconds: float, text: str) -> None:
    assert duration(seconds) == text
