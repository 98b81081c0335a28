"""The systemd unit (systemd/pppbridge@.service): ``systemd-analyze verify`` accepts it
without a warning, ``systemd-analyze security`` rates its exposure low, and its choices
agree with the code: the exit statuses that must not restart it, the state directory, the
one capability, the notify protocol (bridge/notify.py; tested in test_notify.py: systemd
need not run here).

``verify`` checks that ExecStart's program exists; the unit names ``pppbridge`` (found in
systemd's own search path, /usr/local/bin for a pip install as root), so the copy checked
here names the one this test run can execute.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.netconfig import DEFAULT_STATE_DIR
from bridge.notify import watchdog_interval
from bridge.run_exit import RunExit

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "pppbridge@.service"
TIMEOUT = 60.0
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="needs systemd-analyze (Debian package systemd; .ci/run installs it)"
)


def settings() -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit, values in order (keys such as DeviceAllow repeat)."""
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def one(key: str) -> str:
    values = settings()[key]
    assert len(values) == 1, f"{key} is set {len(values)} times"
    return values[0]


def instance_copy(directory: Path) -> Path:
    """The unit as instance ``quectel``, its ExecStart naming an executable that exists."""
    program = shutil.which("pppbridge") or f"{sys.executable} -m bridge"
    text = UNIT.read_text().replace("ExecStart=pppbridge ", f"ExecStart={program} ")
    assert text != UNIT.read_text()
    copy = directory / "pppbridge@quectel.service"
    copy.write_text(text)
    return copy


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, *args], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


@needs_analyze
def test_systemd_analyze_verify_passes(tmp_path: Path) -> None:
    verified = analyze("verify", "--man=no", str(instance_copy(tmp_path)))
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr == ""  # an unknown key or a bad value is only a warning there


@needs_analyze
def test_systemd_analyze_verify_notices_mistakes(tmp_path: Path) -> None:
    """The check above can fail: a key this systemd does not know is reported."""
    copy = instance_copy(tmp_path)
    copy.write_text(copy.read_text().replace("RestartSec=30s", "RestartSec=30s\nRestartSecs=1"))
    verified = analyze("verify", "--man=no", str(copy))
    assert "Unknown key 'RestartSecs'" in verified.stderr


@needs_analyze
def test_exposure_is_low(tmp_path: Path) -> None:
    """``systemd-analyze security``: 0 (locked down) to 100; fails above the threshold."""
    rated = analyze("security", "--offline=yes", "--threshold=30", str(instance_copy(tmp_path)))
    assert rated.returncode == 0, rated.stdout[-2000:] + rated.stderr


def test_runs_the_instances_configuration() -> None:
    assert one("ExecStart") == "pppbridge run --config /etc/pppbridge/%i.toml"
    assert one("Type") == "notify" and one("NotifyAccess") == "main"


def test_restart_spares_what_a_restart_cannot_fix() -> None:
    assert one("Restart") == "on-failure"
    prevented = {RunExit(int(status)) for status in one("RestartPreventExitStatus").split()}
    assert prevented == {RunExit.USAGE, RunExit.SIM, RunExit.AUTH_FAILED}


def test_least_privilege() -> None:
    assert one("AmbientCapabilities") == one("CapabilityBoundingSet") == "CAP_NET_ADMIN"
    assert one("DynamicUser") == "yes" and one("NoNewPrivileges") == "yes"
    assert one("ProtectSystem") == "strict" and one("DevicePolicy") == "closed"
    assert settings()["DeviceAllow"] == ["/dev/net/tun rw", "char-ttyUSB rw", "char-ttyACM rw"]


def test_state_directory_is_the_runtime_directory() -> None:
    assert Path("/run") / one("RuntimeDirectory") == DEFAULT_STATE_DIR
    assert one("RuntimeDirectoryPreserve") == "yes"  # a killed bridge's state survives


def test_watchdog_cadence() -> None:
    seconds = float(one("WatchdogSec").removesuffix("s"))
    assert watchdog_interval(str(int(seconds * 1e6))) == seconds / 2
