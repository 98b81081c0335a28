"""V.250 basics, identification, the SIM and the call commands (ATD, ATO, ATH).

Identification answers exactly as the profile says, so a driver can detect the vendor
(ATI, +CGMI/+CGMM/+CGMR and the V.250 +GMI/+GMM/+GMR, +CGSN, +CIMI, the vendor's ICCID).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .at_commands import handles, int_arg, str_arg
from .at_parser import Command, Form
from .at_results import ERROR, OK, Final, Reply, cme, info

if TYPE_CHECKING:
    from .at_modem import Modem

_DIAL_PACKET = re.compile(r"\*99(?:\*{3}(\d+))?#", re.ASCII)
_FALLBACK = {"+GMI": "+CGMI", "+GMM": "+CGMM", "+GMR": "+CGMR"}


@handles("E", "V", "Q")
def _switch(modem: Modem, command: Command, now: float) -> Reply:
    value = int_arg(command, 0, 0)
    if command.form is not Form.ACTION or value not in (0, 1):
        return ERROR
    if command.name == "E":
        modem.echo = bool(value)
    elif command.name == "V":
        modem.verbose = bool(value)
    else:
        modem.quiet = bool(value)
    return OK


@handles("Z", "&F")
def _reset(modem: Modem, command: Command, now: float) -> Reply:
    modem.echo, modem.verbose, modem.quiet, modem.cmee = True, True, False, 0
    modem.s_registers.update({3: 13, 4: 10, 5: 8, 12: 50})
    return OK


@handles("&C", "&D", "&K", "&W", "X", "L", "M", "+IFC", "+IPR", "+ICF", "+CSCS")
def _accepted(modem: Modem, command: Command, now: float) -> Reply:
    """Line settings that mean nothing on a pseudo-terminal: accepted, as modems do."""
    return OK


@handles("S")
def _s_register(modem: Modem, command: Command, now: float) -> Reply:
    number = int(command.name[1:])
    if command.form is Form.READ:
        return info(f"{modem.s_registers.get(number, 0):03d}")
    value = int_arg(command, 0, 0)
    if value is None or not 0 <= value <= 255:
        return ERROR
    modem.s_registers[number] = value
    return OK


@handles("I")
def _ati(modem: Modem, command: Command, now: float) -> Reply:
    number = int_arg(command, 0, 0)
    lines = modem.profile.identification.get("I" if not number else f"I{number}")
    return ERROR if lines is None else info(*lines)


@handles("+CGMI", "+CGMM", "+CGMR", "+GMI", "+GMM", "+GMR", "#CGMR")
def _identity(modem: Modem, command: Command, now: float) -> Reply:
    if command.form is Form.TEST:
        return OK
    table = modem.profile.identification
    lines = table.get(command.name) or table.get(_FALLBACK.get(command.name, ""))
    return ERROR if lines is None else info(*lines)


@handles("+CGSN", "+GSN")
def _imei(modem: Modem, command: Command, now: float) -> Reply:
    if command.form is Form.TEST:
        return OK
    if command.form is Form.SET and int_arg(command, 0) == 1:
        return info(f'+CGSN: "{modem.profile.imei}"')
    return info(modem.profile.imei)


@handles("+CIMI")
def _imsi(modem: Modem, command: Command, now: float) -> Reply:
    if command.form is Form.TEST:
        return OK
    return sim_error(modem) or info(modem.profile.imsi)


@handles("ICCID")
def _iccid(modem: Modem, command: Command, now: float) -> Reply:
    if command.form is Form.TEST:
        return OK
    return info(modem.profile.iccid_reply.format(iccid=modem.profile.iccid))


@handles("+CMEE")
def _cmee(modem: Modem, command: Command, now: float) -> Reply:
    if command.form is Form.READ:
        return info(f"+CMEE: {modem.cmee}")
    if command.form is Form.TEST:
        return info("+CMEE: (0-2)")
    value = int_arg(command, 0, 0)
    if value not in (0, 1, 2):
        return cme(50)
    modem.cmee = value
    return OK


@handles("+CPIN")
def _cpin(modem: Modem, command: Command, now: float) -> Reply:
    if command.form is Form.READ:
        return info(f"+CPIN: {modem.sim.state}")
    if command.form is not Form.SET:
        return OK
    code, new_pin = str_arg(command, 0), str_arg(command, 1) or None
    if not code.isdigit():
        return cme(50)
    error = modem.sim.enter(code, new_pin)
    if error is not None:
        modem.note("at", _cpin_refusal(modem, error))
        return cme(error)
    modem.sim_unlocked(now)
    return OK


def _cpin_refusal(modem: Modem, error: int) -> str:
    """The transcript's words for a refused +CPIN: what the modem's answer means."""
    sim = modem.sim
    if error == 3:
        return "SIM: no code needed, the SIM is ready (operation not allowed)"
    if error == 13:
        return "SIM: blocked for good, no code unlocks it (SIM failure)"
    left = f"{sim.pin_attempts} PIN" if sim.state == "SIM PIN" else f"{sim.puk_attempts} PUK"
    return f"SIM: wrong code, {sim.state}, {left} attempts left"


@handles("+CPINR")
def _cpinr(modem: Modem, command: Command, now: float) -> Reply:
    sim = modem.sim
    return info(
        f"+CPINR: SIM PIN,{sim.pin_attempts},{sim.ATTEMPTS}",
        f"+CPINR: SIM PUK,{sim.puk_attempts},{sim.PUK_ATTEMPTS}",
    )


def sim_error(modem: Modem) -> Reply | None:
    """+CME ERROR 11/12 while the SIM is locked (27.007 9.2)."""
    if modem.sim.ready:
        return None
    return cme(11 if modem.sim.state == "SIM PIN" else 12 if modem.sim.state == "SIM PUK" else 13)


@handles("D")
def _dial(modem: Modem, command: Command, now: float) -> Reply:
    match = _DIAL_PACKET.fullmatch(command.text.upper().removeprefix("T").strip(";"))
    if match is None:
        # A voice/CSD number: an LTE modem has no circuit-switched data to offer.
        return Reply(final=Final.NO_CARRIER)
    return modem.dial(int(match.group(1) or 1), now)


@handles("O")
def _online(modem: Modem, command: Command, now: float) -> Reply:
    if not modem.on_data_port:
        return cme(3)  # the AT-only port has no data state to return to
    if modem.session is None:
        return Reply(final=Final.NO_CARRIER)
    return Reply(final=Final.CONNECT, connect_text=modem.profile.connect_text, then=["resume"])


@handles("H")
def _hang_up(modem: Modem, command: Command, now: float) -> Reply:
    modem.hang_up(now, "ATH")
    return OK
