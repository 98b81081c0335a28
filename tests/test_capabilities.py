"""Dropping capabilities (bridge/capabilities.py) for real, in child processes run as root:
after ``keep_only()`` the kernel shows CAP_NET_ADMIN alone (``/proc/self/status``), an
address can still be added in a network namespace the test makes, while what root could
do only through another capability fails: reading another user's 0600 file
(CAP_DAC_OVERRIDE), chown (CAP_CHOWN). What root owns, it still writes (resolv.conf's
restore), and a program it runs gets nothing back. Once as root (uid 0), once after
becoming a plain user that kept its capabilities, as a persistent TUN's owner would run.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.capabilities import CAP_NET_ADMIN, CapabilitySets, current, mask, names
from test_tun import NOBODY, Namespace, namespace, needs_root, run_child

__all__ = ["namespace"]  # the fixture, from test_tun

NET_ADMIN = 1 << CAP_NET_ADMIN  # 0x1000
NEEDED = mask([CAP_NET_ADMIN, 8])  # CAP_SETPCAP, to drop the bounding set


def _has_capabilities() -> bool:
    return os.geteuid() == 0 and current().effective & NEEDED == NEEDED


needs_capabilities = pytest.mark.skipif(
    not _has_capabilities(), reason="needs root with CAP_NET_ADMIN and CAP_SETPCAP"
)

# The child: enters the namespace and warms pyroute2 up while it may (setns needs
# CAP_SYS_ADMIN; imports after becoming nobody could fail), optionally becomes nobody
# keeping its capabilities (PR_SET_KEEPCAPS), drops, and reports what the kernel says and
# what it can still do, as JSON.
DROPPING = """
import ctypes, json, os, subprocess, sys
from pathlib import Path
from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError
from bridge.capabilities import current, keep_only
from bridge.netconfig import replace_file

namespace, files, as_user = sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "user"
netns.setns(namespace, flags=0)
ipr = IPRoute()
lo = ipr.link_lookup(ifname="lo")[0]
if as_user:
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(8, ctypes.c_ulong(1), 0, 0, 0) == 0  # PR_SET_KEEPCAPS
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
first = keep_only()
again = keep_only()  # nothing left to drop: changes nothing
fields = ("effective", "permitted", "inheritable", "bounding", "ambient")
report = {"uid": os.getuid(), "sets": [getattr(first, f) for f in fields]}
report["again_same"] = again == first
status = dict(line.split(":\\t") for line in Path("/proc/self/status").read_text().splitlines()
              if line.startswith("Cap"))
report["status"] = {key: int(value, 16) for key, value in status.items()}

def attempt(action):
    try:
        action()
        return "done"
    except NetlinkError as exc:
        return f"netlink error {exc.code}"
    except OSError as exc:
        return exc.__class__.__name__

report["address"] = attempt(lambda: ipr.addr("add", index=lo, address="192.0.2.7", prefixlen=32))
report["others_secret"] = attempt(lambda: (files / "others-secret").read_bytes())
report["chown"] = attempt(lambda: os.chown(files / "mine", 0, 1))
if not as_user:
    report["own_secret"] = attempt(lambda: (files / "own-secret").read_bytes())
    new = b"nameserver 192.0.2.53\\n"
    report["resolv_conf"] = attempt(lambda: replace_file(files / "resolv.conf", new))
child = subprocess.run(["cat", "/proc/self/status"], capture_output=True, text=True, check=True)
report["child"] = {line.split(":")[0]: int(line.split()[1], 16)
                   for line in child.stdout.splitlines() if line.startswith("Cap")}
ipr.close()
print(json.dumps(report))
"""


@pytest.fixture
def files() -> Iterator[Path]:
    """A directory anyone may enter (pytest's own are root's alone): another user's secret
    (0600), root's own secret, a file of the child's to chown, root's resolv.conf."""
    with tempfile.TemporaryDirectory(prefix="pppbridge-capabilities-") as name:
        directory = Path(name)
        directory.chmod(0o755)
        _fill(directory)
        yield directory


def _fill(directory: Path) -> None:
    (directory / "others-secret").write_bytes(b"not yours\n")
    (directory / "others-secret").chmod(0o600)
    os.chown(directory / "others-secret", NOBODY - 1, NOBODY - 1)
    (directory / "own-secret").write_bytes(b"root's\n")
    (directory / "own-secret").chmod(0o600)
    (directory / "mine").write_bytes(b"")
    os.chown(directory / "mine", NOBODY, NOBODY)
    (directory / "resolv.conf").write_bytes(b"nameserver 192.0.2.1\n")


def dropping(namespace: Namespace, files: Path, who: str) -> dict[str, Any]:
    child = run_child(DROPPING, namespace.name, str(files), who)
    assert child.returncode == 0, child.stderr
    return json.loads(child.stdout)  # type: ignore[no-any-return]


@needs_root
@needs_capabilities
def test_root_keeps_net_admin_only(namespace: Namespace, files: Path) -> None:
    report = dropping(namespace, files, "root")
    assert report["uid"] == 0
    assert report["sets"] == [NET_ADMIN, NET_ADMIN, 0, NET_ADMIN, 0]
    assert report["again_same"]
    status = report["status"]
    assert (status["CapEff"], status["CapPrm"], status["CapBnd"]) == (NET_ADMIN,) * 3
    assert (status["CapInh"], status["CapAmb"]) == (0, 0)
    assert report["address"] == "done"  # CAP_NET_ADMIN: still there
    assert report["others_secret"] == "PermissionError"  # CAP_DAC_OVERRIDE: gone
    assert report["chown"] == "PermissionError"  # CAP_CHOWN: gone
    assert report["own_secret"] == "done"  # an owner needs no capability
    assert report["resolv_conf"] == "done"  # so resolv.conf is still restored
    assert (files / "resolv.conf").read_bytes() == b"nameserver 192.0.2.53\n"
    # A program root runs now gets the bounding set, not everything back.
    assert report["child"]["CapEff"] == report["child"]["CapPrm"] == NET_ADMIN


@needs_root
@needs_capabilities
def test_plain_user_with_net_admin_only(namespace: Namespace, files: Path) -> None:
    report = dropping(namespace, files, "user")
    assert report["uid"] == NOBODY
    assert report["sets"] == [NET_ADMIN, NET_ADMIN, 0, NET_ADMIN, 0]
    assert report["again_same"]
    assert report["address"] == "done"
    assert report["others_secret"] == "PermissionError"
    assert report["chown"] == "PermissionError"
    assert report["child"]["CapEff"] == report["child"]["CapPrm"] == 0  # no ambient: none


def test_reading_and_naming_sets(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(
        "Name:\tpython3\nCapInh:\t0000000000000000\nCapPrm:\t0000000000001000\n"
        "CapEff:\t0000000000001000\nCapBnd:\t0000000000003000\nCapAmb:\t0000000000001000\n"
    )
    sets = current(status)
    assert sets == CapabilitySets(NET_ADMIN, NET_ADMIN, 0, 0x3000, NET_ADMIN)
    assert sets.describe() == (
        "effective cap_net_admin, permitted cap_net_admin, inheritable none, "
        "bounding cap_net_admin,cap_net_raw, ambient cap_net_admin"
    )
    assert names(mask([0, 40, 45])) == "cap_chown,cap_checkpoint_restore,cap_45"
