"""``pppbridge probe``: every path through the modem tried against the built-in simulator,
as a real process (its own simulator, its own pty), nothing on this host configured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from run_process import ROOT
from sim_process import SimProcess

PROBE_TIMEOUT = 180.0
"""Generous: three bring-ups and the echoes on a busy machine."""
PATHS = ["IPv4 over PPP", "IPv6 over PPP", "IPv6 UDP over AT sockets"]


def probe(*args: str) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "probe", "--count", "2", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT,
    )
    return done.returncode, done.stdout, done.stderr


def rows(*args: str) -> list[dict[str, Any]]:
    status, out, err = probe("--json", *args)
    assert status == 0, err
    assert "Traceback" not in err and err == "", err  # --json: nothing but the rows
    found: list[dict[str, Any]] = json.loads(out)
    assert [row["path"] for row in found] == PATHS
    return found


@pytest.mark.parametrize("profile", ["sequans", "telit", "quectel", "ublox"])
def test_every_path_works_with_a_vendor_that_has_sockets(profile: str) -> None:
    for row in rows("--sim-profile", profile, "--sim-messy"):
        assert row["works"], row
        assert (row["replies"], row["sent"], row["reason"]) == (2, 2, None)
        for timing in ("attach", "connect", "first_reply", "median_rtt"):
            assert row[timing] is not None and row[timing] >= 0
    assert [row["address"] for row in rows("--sim-profile", profile)] == [
        "203.0.113.10",
        "2001:db8:2::2",
        "2001:db8:2::2",
    ]


def test_ipv6_on_ppp_rejected_then_only_the_at_sockets_carry_it() -> None:
    v4, v6, at = rows("--sim-profile", "quectel", "--sim-reject-ipv6cp")
    assert v4["works"] and at["works"]
    assert not v6["works"]
    assert v6["reason"] == "IPv6 is not available on PPP: the peer Protocol-Rejected IPV6CP"


def test_a_modem_without_socket_commands_says_why_in_its_row() -> None:
    v4, v6, at = rows("--sim-profile", "generic")
    assert v4["works"] and v6["works"] and not at["works"]
    assert "no AT socket commands: name the modem with --profile" in at["reason"]


def test_the_table_for_a_person() -> None:
    status, out, err = probe("--sim-profile", "telit", "--sim-reject-ipv6cp")
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["path", "result", "attach", "connect", "first", "median", "replies"]
    assert lines[1].startswith("IPv4 over PPP") and " works " in lines[1]
    assert lines[2].startswith("IPv6 over PPP") and " fails " in lines[2]
    assert lines[3] == "  IPv6 is not available on PPP: the peer Protocol-Rejected IPV6CP"
    assert lines[4].startswith("IPv6 UDP over AT sockets") and lines[4].endswith("2/2")
    assert "pppbridge probe: no --device: the built-in simulator plays a telit modem" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--count", "0"), "pppbridge probe: error: --count must be from 1 to 1000"),
        (("--target", "no.such.name.invalid"), "pppbridge probe: error: --target no.such"),
    ],
)
def test_user_mistakes_are_one_line(args: tuple[str, ...], message: str) -> None:
    status, out, err = probe(*args)
    assert status == 2, (out, err)
    assert err.startswith(message) and len(err.splitlines()) == 1, err


def test_a_real_modem_needs_a_target(tmp_path: Path) -> None:
    device = tmp_path / "ttyUSB0"
    device.write_text("")
    status, _, err = probe("--device", str(device))
    assert status == 2
    assert err.strip() == (
        "pppbridge probe: error: give --target HOST: an address or name that answers UDP echo"
    )


def test_a_missing_device_is_a_user_mistake() -> None:
    status, _, err = probe("--device", "/dev/pppbridge-no-such-tty", "--target", "192.0.2.1")
    assert status == 2
    assert err.startswith("pppbridge probe: error: /dev/pppbridge-no-such-tty: no such device")
    assert len(err.splitlines()) == 1


def test_a_missing_at_port_costs_its_row_only(tmp_path: Path) -> None:
    with SimProcess(tmp_path, "--profile", "telit") as sim:
        args = ("--device", sim.device, "--target", "2001:db8:1::1")
        status, out, err = probe("--json", *args, "--at-port", "/dev/pppbridge-no-such-tty")
    assert status == 0, err
    _, v6, at = json.loads(out)
    assert v6["works"]
    assert not at["works"] and at["reason"].startswith("--at-port: /dev/pppbridge-no-such-tty")
