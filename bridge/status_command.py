"""``pppbridge status [--instance NAME] [--json]``: what a running bridge is doing.

Asks the bridge's control socket (``bridge.control_socket``), bounded: 2 s to connect,
5 s for the answer. Prints the state in the layout of ``mmcli -m 0``
(``bridge.status_text``), or with ``--json`` one JSON object, the stable interface of
``docs/status-json.md``. No bridge running is one line and exit status 5
(``bridge.client_exit``).
"""

from __future__ import annotations

import argparse
import json
import sys

from netstack.errors import UsageError

from .client_exit import ClientError
from .control_socket import ControlClient, add_instance_arguments, say_failure
from .entry import LineWriter
from .status import to_json
from .status_text import state_text

DESCRIPTION = "show what a running bridge is doing: phase, modem, signal, addresses, counters"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_instance_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object (docs/status-json.md)")


def main_status(args: argparse.Namespace) -> int:
    try:
        state = ControlClient.for_instance(args.instance, args.state_dir).status()
    except (ClientError, UsageError) as exc:
        return say_failure("pppbridge status", exc)
    out = LineWriter(sys.stdout, "standard output")
    out.line(json.dumps(to_json(state), indent=2) if args.json else state_text(state))
    return 0
