"""``pppbridge info --device D [--json]``: the modem's identity, firmware, SIM,
registration and signal, without dialling.

The pure query (``bridge.modem.query.ModemQuery``: the bring-up's probe, then reads
only) runs over the port with the AT pump (``bridge.at_pump``), bounded by its own
deadlines. For a Sequans modem the firmware edition tells what the radio does: LR5.x is
the LTE-M (Cat-M1) firmware, LR6.x the NB-IoT one (they are not interchangeable).

Exit statuses (``bridge.client_exit``): 0 shown; 2 a bad switch or a device missing,
busy or not a terminal (a running bridge's device: ``pppbridge status`` shows its
modem); 3 the modem does not answer AT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from netstack.errors import UsageError

from .at_command import add_baud_argument
from .at_pump import pump
from .client_exit import ClientError, ClientExit
from .control_socket import SOCKET_DIR, bridge_holding, say_failure
from .entry import LineWriter
from .errors import DeviceError
from .modem import PROFILES, BringUpFailed, FailureKind, ModemSettings
from .modem.query import ModemQuery, Queried
from .modem_session import bring_up_limit
from .serial_port import SerialPort, SerialSettings
from .status import (
    REGISTRATION_STATES,
    ModemInfo,
    ModemStatus,
    RegistrationStatus,
    SignalStatus,
    to_json,
)
from .status_text import info_text

DESCRIPTION = "show the modem's identity, firmware, SIM, registration and signal, without dialling"


async def query_modem(port: SerialPort, settings: ModemSettings) -> Queried:
    """The query over an open port; ``ClientError`` (status 3) if the modem does not
    answer, ``OSError`` if its line fails."""
    port.discard_input()
    end = await pump(port.fileno(), ModemQuery(settings), _is_end, bring_up_limit(settings))
    if isinstance(end, BringUpFailed):
        status = (
            ClientExit.NO_ANSWER if end.kind is FailureKind.NOT_ANSWERING else ClientExit.FAILED
        )
        raise ClientError(status, f"{port.device}: {end}")
    assert isinstance(end, Queried)
    return end


def _is_end(output: object) -> bool:
    return isinstance(output, Queried | BringUpFailed)


def modem_info(found: Queried, device: str | None = None) -> ModemInfo:
    """What the query found, as the parts ``pppbridge status`` shows too."""
    modem = ModemStatus(
        device=device,
        profile=found.profile,
        maker=found.maker,
        model=found.model,
        firmware=found.firmware,
        imei=found.imei,
        edition=found.edition,
        edition_firmware=found.edition_firmware,
        sim=found.sim,
        iccid=found.iccid,
        imsi=found.imsi,
    )
    read = found.registration
    registration = None
    if read is not None or found.operator is not None:
        registration = RegistrationStatus(
            state="unknown" if read is None else REGISTRATION_STATES.get(read.stat, "unknown"),
            technology=found.technology,
            operator=found.operator,
            area=None if read is None else read.area,
            cell=None if read is None else read.cell,
        )
    s = found.signal
    known = (s.rssi_dbm, s.rsrp_dbm, s.rsrq_db)
    signal = SignalStatus(*known) if any(v is not None for v in known) else None
    return ModemInfo(modem, registration, signal)


# --------------------------------------------------------------- the command
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", required=True, metavar="PATH", help="the modem's AT port")
    add_baud_argument(parser)
    parser.add_argument(
        "--profile",
        choices=tuple(PROFILES),
        help="vendor profile (default: from the modem's identity)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object (docs/status-json.md)")
    parser.add_argument(
        "--state-dir",
        default=SOCKET_DIR,
        metavar="DIR",
        help="where running bridges keep their sockets: a busy device is looked up there",
    )


def main_info(args: argparse.Namespace) -> int:
    try:
        settings = ModemSettings(profile=args.profile)
        info = modem_info(asyncio.run(_query(args, settings)), args.device)
    except (ClientError, UsageError) as exc:
        return say_failure("pppbridge info", exc)
    except DeviceError as exc:
        holder = bridge_holding(args.device, args.state_dir)
        if holder is None:
            return say_failure("pppbridge info", exc)
        return say_failure(
            "pppbridge info",
            DeviceError(
                f"{args.device}: pppbridge {holder.instance} is using it; "
                f"pppbridge status --instance {holder.instance} shows its modem"
            ),
        )
    out = LineWriter(sys.stdout, "standard output")
    out.line(json.dumps(to_json(info), indent=2) if args.json else info_text(info))
    return 0


async def _query(args: argparse.Namespace, settings: ModemSettings) -> Queried:
    port = SerialPort.open(SerialSettings(args.device, baud=args.baud))
    try:
        return await query_modem(port, settings)
    except TimeoutError:  # before OSError, of which it is a subclass
        raise ClientError(
            ClientExit.NO_ANSWER, f"{args.device}: the modem stopped answering"
        ) from None
    except OSError as exc:
        raise ClientError(ClientExit.FAILED, f"{args.device}: {exc}") from None
    finally:
        port.close()
