"""examples/container/: the recipe for the bridge in a container. Docker itself is not run
here; the compose file is read with PyYAML where it is installed (it is no dependency of
the tests), and what the recipe promises is checked in it: the modem and /dev/net/tun as
devices, CAP_NET_ADMIN alone, never --privileged or /dev/ppp, an application in the
bridge's network namespace; the Dockerfile copies what exists.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "container"


def compose() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    document = yaml.safe_load((EXAMPLE / "compose.yaml").read_text())
    assert isinstance(document, dict)
    return document


def test_the_recipe_is_there() -> None:
    assert sorted(p.name for p in EXAMPLE.iterdir()) == ["Dockerfile", "README.md", "compose.yaml"]


def test_the_bridge_needs_two_devices_and_one_capability() -> None:
    bridge = compose()["services"]["pppbridge"]
    devices = [device.split(":")[0] for device in bridge["devices"]]
    assert "/dev/net/tun" in devices and len(devices) == 2  # the TUN driver and the modem
    assert bridge["cap_add"] == ["NET_ADMIN"]
    assert not bridge.get("privileged", False)
    assert "/dev/ppp" not in (EXAMPLE / "compose.yaml").read_text()
    assert bridge["command"][:1] == ["run"]
    assert (EXAMPLE / bridge["build"]["context"] / bridge["build"]["dockerfile"]).is_file()


def test_the_application_lives_in_the_bridges_namespace() -> None:
    services = compose()["services"]
    assert services["app"]["network_mode"] == "service:pppbridge"
    assert services["pppbridge"]["network_mode"] == "none"  # no other default route


def test_the_dockerfile_copies_what_exists() -> None:
    copied = re.findall(r"^COPY (.+) \S+$", (EXAMPLE / "Dockerfile").read_text(), re.MULTILINE)
    sources = [source for line in copied for source in line.split()]
    assert sources and all((ROOT / source).exists() for source in sources)
