"""Radio, operator, registration and signal: +CFUN, +COPS, +CREG/+CGREG/+CEREG, +CGATT,
+CSQ, +CESQ (3GPP TS 27.007 7.2, 7.3, 8.2, 10.1.9, 10.1.22, 8.69)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .at_basic import sim_error
from .at_commands import handles, int_arg
from .at_parser import Command, Form
from .at_results import OK, Reply, cme, info

if TYPE_CHECKING:
    from .at_modem import Modem

OPERATOR = ("Simulated Operator", "SimOp", "00101")
"""Long name, short name, MCC+MNC (001/01 is the 3GPP test network)."""
AREA_CODE, CELL_ID = "00C3", "0A2B3C4D"


@handles("+CFUN")
def _cfun(modem: Modem, command: Command, now: float) -> Reply:
    if command.form is Form.READ:
        return info(f"+CFUN: {modem.radio.cfun}")
    if command.form is Form.TEST:
        return info("+CFUN: (0,1,4),(0-1)")
    fun = int_arg(command, 0)
    if fun not in (0, 1, 4) or int_arg(command, 1, 0) not in (0, 1):
        return cme(50)
    modem.radio.cfun = fun
    if fun != 1 and modem.session is not None:
        modem.hang_up(now, f"+CFUN={fun}")  # no radio, no call
    modem.radio_changed(now)
    return OK


@handles("+COPS")
def _cops(modem: Modem, command: Command, now: float) -> Reply:
    radio = modem.radio
    if command.form is Form.READ:
        if not radio.registered:
            return info(f"+COPS: {radio.cops_mode}")
        return info(f'+COPS: {radio.cops_mode},0,"{OPERATOR[0]}",{access_technology(modem)}')
    if command.form is Form.TEST:
        long_name, short_name, numeric = OPERATOR
        act = access_technology(modem)
        return info(f'+COPS: (2,"{long_name}","{short_name}","{numeric}",{act}),,(0-4),(0-2)')
    mode = int_arg(command, 0, 0)
    if mode not in (0, 1, 2, 3, 4):
        return cme(50)
    if mode == 3:
        return OK  # sets the print format only
    if mode != 2 and (error := sim_error(modem)):
        return error
    radio.cops_mode = 0 if mode in (1, 4) else mode
    modem.radio_changed(now)
    return OK


@handles("+CREG", "+CGREG", "+CEREG")
def _registration(modem: Modem, command: Command, now: float) -> Reply:
    name = command.name
    if command.form is Form.READ:
        return info(f"{name}: " + ",".join(registration_fields(modem, name, urc=False)))
    if command.form is Form.TEST:
        return info(f"{name}: (0-2)")
    mode = int_arg(command, 0, 0)
    if mode not in (0, 1, 2):
        return cme(50)
    modem.radio.urc_mode[name] = mode
    return OK


def registration_fields(modem: Modem, name: str, urc: bool) -> list[str]:
    """<n>,<stat>[,<lac/tac>,<ci>,<AcT>] (the URC has no <n>); ``--messy`` always adds the
    location, NB-IoT's access technology 9 and the mode-3 cause fields."""
    radio = modem.radio
    mode = radio.urc_mode[name]
    fields = [] if urc else [str(mode)]
    fields.append(str(radio.stat))
    located = radio.stat in (1, 5)
    if modem.messy and located:
        fields += [f'"{AREA_CODE}"', f'"{CELL_ID}"', "9", "0", "0"]
    elif mode == 2 and located:
        fields += [f'"{AREA_CODE}"', f'"{CELL_ID}"', str(access_technology(modem))]
    return fields


def access_technology(modem: Modem) -> int:
    return 9 if modem.messy else modem.profile.access_technology


@handles("+CGATT")
def _cgatt(modem: Modem, command: Command, now: float) -> Reply:
    radio = modem.radio
    if command.form is Form.READ:
        return info(f"+CGATT: {int(radio.service)}")
    if command.form is Form.TEST:
        return info("+CGATT: (0,1)")
    state = int_arg(command, 0)
    if state not in (0, 1):
        return cme(50)
    if error := sim_error(modem):
        return error
    if state == 1 and not radio.registered:
        return cme(30)
    radio.attached = bool(state)
    return OK


@handles("+CSQ")
def _csq(modem: Modem, command: Command, now: float) -> Reply:
    if command.form is Form.TEST:
        return info("+CSQ: (0-31,99),(0-7,99)")
    return info("+CSQ: 20,99" if modem.radio.cfun == 1 and modem.radio.stat else "+CSQ: 99,99")


@handles("+CESQ")
def _cesq(modem: Modem, command: Command, now: float) -> Reply:
    if command.form is Form.TEST:
        return info("+CESQ: (0-63,99),(0-7,99),(0-96,255),(0-49,255),(0-34,255),(0-97,255)")
    if modem.radio.cfun == 1 and modem.radio.stat:
        return info("+CESQ: 99,99,255,255,20,45")  # RSRQ -10 dB, RSRP -95 dBm
    return info("+CESQ: 99,99,255,255,255,255")
