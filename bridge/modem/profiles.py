"""Vendor profiles: where modem families differ, as data.

The bring-up script (``script.py``) is the same for every modem; what differs lives in one
``ModemProfile`` per family, looked up by name (``--profile``) or picked from what the
modem says it is (+CGMI/+CGMM, 27.007 5.1/5.2, or ATI). Each field says what the bring-up
does with it. Command lines are complete (``AT`` included); templates take the fields
``{cid}``, ``{auth}`` (the profile's number for the authentication), ``{user}``,
``{password}``, ``{apn}`` and ``{pdp_number}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from .pdp import AuthMode, PdpType


@dataclass(frozen=True)
class AuthCommand:
    """The command that sets a PDP context's authentication, and its numbering."""

    template: str
    """With a user name and password (PAP, CHAP, AUTO)."""
    none_template: str
    """For ``AuthMode.NONE``."""
    numbers: Mapping[AuthMode, int]
    """The command's number for each mode."""
    pdp_numbers: Mapping[PdpType, int] = field(default_factory=lambda: MappingProxyType({}))
    """For commands that also set the PDP type by number (Quectel +QICSGP)."""


@dataclass(frozen=True)
class ModemProfile:
    name: str
    description: str
    identify: re.Pattern[str] | None
    """Searched in "<maker> <model>"; None: never picked by identification (generic)."""
    auth: AuthCommand
    iccid_command: str | None
    """Reads the SIM's ICCID (no 27.007 command does); None: not read."""
    urcs: tuple[str, ...]
    """Vendor URC prefixes, besides 27.007's (``netstack.at.STANDARD_URCS``)."""
    boot_urcs: tuple[str, ...]
    """What the modem prints when it has started (after power-on or ``reset_command``)."""
    registration: tuple[str, ...]
    """The registration commands to enable (``=2``) and poll (``?``), in order."""
    signal: tuple[str, ...]
    """The signal commands read after registration (+CSQ 8.5, +CESQ 8.69)."""
    reset_command: str
    """Restarts a modem that stopped answering (for the supervisor)."""
    access_technologies: Mapping[int, str]
    """The <AcT> of the registration URC (27.007 7.3) -> what to call it."""
    dial: str = "ATD*99***{cid}#"
    """V.250 6.3.1 D with the 27.007 10.2.1.1 packet domain dial string."""
    edition_command: str | None = None
    """A command whose reply tells the firmware edition (``editions``)."""
    editions: tuple[tuple[str, str], ...] = ()
    """(pattern in that reply, what it means)."""
    sim: bool = True
    """Whether there is a SIM to check (``AT+CPIN?``); False for a plain V.250 modem."""
    ports: str = ""
    """The AT ports the modem usually has, for a person: whether a second one is there
    for the AT sockets beside PPP (``--at-port``), or they must share the line."""


STANDARD_AUTH = AuthCommand(
    template='AT+CGAUTH={cid},{auth},"{user}","{password}"',
    none_template="AT+CGAUTH={cid},0",
    # 27.007 10.1.31 numbers only none, PAP and CHAP: AUTO asks for CHAP, which a network
    # that offers both takes and which never sends the password in clear.
    numbers=MappingProxyType(
        {AuthMode.NONE: 0, AuthMode.PAP: 1, AuthMode.CHAP: 2, AuthMode.AUTO: 2}
    ),
)
ACCESS_TECHNOLOGIES = MappingProxyType(
    {
        0: "GSM",
        2: "UMTS",
        3: "EDGE",
        4: "HSDPA",
        5: "HSUPA",
        6: "HSPA",
        7: "LTE",
        # 27.007 7.3 gives 8 to EC-GSM-IoT, but LTE-M modules report eMTC there (Quectel
        # BG96 +COPS/+CEREG: 8 "LTE Cat M1").
        8: "LTE-M",
        9: "NB-IoT",
        10: "LTE (5GCN)",
        11: "NR (5GCN)",
        12: "NG-RAN",
        13: "EN-DC",
    }
)
"""27.007 7.3 <AcT>, named as a person knows them."""
LTE_M_AS_7 = MappingProxyType({**ACCESS_TECHNOLOGIES, 7: "LTE-M"})
"""For Cat-M1/NB1-only modems, whose E-UTRAN (7) is LTE-M."""
SIGNAL = ("+CSQ", "+CESQ")

GENERIC = ModemProfile(
    name="generic",
    description="a plain 3GPP TS 27.007 modem",
    identify=None,
    auth=STANDARD_AUTH,
    iccid_command="AT+CCID",
    urcs=(),
    boot_urcs=(),
    # The packet-switched registrations: +CREG is the circuit-switched domain, where a
    # data-only SIM may be denied while packet data works.
    registration=("+CEREG", "+CGREG"),
    signal=SIGNAL,
    reset_command="AT+CFUN=1,1",  # 27.007 8.2: full functionality, <rst> 1 resets first
    access_technologies=ACCESS_TECHNOLOGIES,
)

SEQUANS = ModemProfile(
    name="sequans",
    description="Sequans Monarch (Pycom GPy/FiPy, GM01Q, VZM20Q)",
    identify=re.compile(r"sequans|\bvzm20q\b|\bgm0[12][qs]\b|monarch", re.IGNORECASE),
    auth=STANDARD_AUTH,
    iccid_command="AT+SQNCCID?",
    urcs=("+SYSSTART", "+SQNSRING", "+SQNSH"),
    boot_urcs=("+SYSSTART",),
    registration=("+CEREG",),
    signal=SIGNAL,
    reset_command="AT+CFUN=1,1",  # then +SYSSTART (TinyGSM, pycom modlte.c)
    access_technologies=LTE_M_AS_7,
    # Pycom's modlte.c reads the LR firmware from ATI1's second line; LR5.x is the
    # Cat-M1 firmware, LR6.x the NB-IoT one (Pycom's modem firmware update notes).
    edition_command="ATI1",
    editions=((r"\bLR5\.", "LTE-M"), (r"\bLR6\.", "NB-IoT")),
    # Pycom's firmware drives the modem over one UART, and runs its send_at_cmd during
    # PPP by suspending it (at-commands.md 1.8).
    ports="one UART on Pycom boards: the AT sockets share it with PPP (+++ and ATO)",
)

TELIT = ModemProfile(
    name="telit",
    description="Telit LE910/ME910/ME310",
    identify=re.compile(r"\btelit\b|\b[lm]e910|\bme310", re.IGNORECASE),
    auth=AuthCommand(
        template='AT#PDPAUTH={cid},{auth},"{user}","{password}"',
        none_template="AT#PDPAUTH={cid},0",
        numbers=MappingProxyType(
            {AuthMode.NONE: 0, AuthMode.PAP: 1, AuthMode.CHAP: 2, AuthMode.AUTO: 2}
        ),
    ),
    iccid_command="AT#CCID",
    urcs=("SRING", "#SYSSTART"),
    boot_urcs=(),
    registration=("+CEREG",),
    signal=SIGNAL,
    reset_command="AT#REBOOT",
    access_technologies=ACCESS_TECHNOLOGIES,
    ports="on USB, several AT ports (ttyUSB*, ttyACM*), as the USB composition sets them",
)

QUECTEL = ModemProfile(
    name="quectel",
    description="Quectel BG95/BG96/BG77, EC2x",
    identify=re.compile(r"quectel|\bbg9[56]|\bbg77|\bec2\d", re.IGNORECASE),
    # +QICSGP sets the context's type and APN with its authentication; 3 is "PAP or CHAP".
    auth=AuthCommand(
        template='AT+QICSGP={cid},{pdp_number},"{apn}","{user}","{password}",{auth}',
        none_template='AT+QICSGP={cid},{pdp_number},"{apn}","","",0',
        numbers=MappingProxyType(
            {AuthMode.NONE: 0, AuthMode.PAP: 1, AuthMode.CHAP: 2, AuthMode.AUTO: 3}
        ),
        pdp_numbers=MappingProxyType({PdpType.IP: 1, PdpType.IPV6: 2, PdpType.IPV4V6: 3}),
    ),
    iccid_command="AT+QCCID",
    urcs=("RDY", "+CFUN", "+CPIN", "+QIND", "+QIURC", "POWERED DOWN"),
    boot_urcs=("RDY",),
    registration=("+CEREG",),
    signal=SIGNAL,
    reset_command="AT+CFUN=1,1",
    access_technologies=ACCESS_TECHNOLOGIES,
    # Quectel's Linux USB Driver User Guide: ttyUSB0 DM, ttyUSB1 NMEA, ttyUSB2 AT,
    # ttyUSB3 modem (both of the last two take AT).
    ports="on USB, ttyUSB2 (AT) beside ttyUSB3 (the modem port): --at-port /dev/ttyUSB2",
)

_UBLOX_NUMBERS = MappingProxyType(
    {AuthMode.NONE: 0, AuthMode.PAP: 1, AuthMode.CHAP: 2, AuthMode.AUTO: 3}
)
UBLOX_R5 = ModemProfile(
    name="ublox-r5",
    description="u-blox SARA-R5",
    identify=re.compile(r"\bsara-r5", re.IGNORECASE),
    auth=AuthCommand(
        template='AT+UAUTHREQ={cid},{auth},"{user}","{password}"',
        none_template="AT+UAUTHREQ={cid},0",
        numbers=_UBLOX_NUMBERS,
    ),
    iccid_command="AT+CCID",
    urcs=("+UUSORF", "+UUSOCL", "+UUPSDD"),
    boot_urcs=(),
    registration=("+CEREG",),
    signal=SIGNAL,
    reset_command="AT+CFUN=15",  # u-blox: silent reset with detach, NVM saved
    access_technologies=LTE_M_AS_7,
    ports="on USB, several CDC-ACM AT ports (ttyACM*); one UART otherwise",
)

UBLOX = replace(
    UBLOX_R5,
    name="ublox",
    description="u-blox SARA-R4 (and LARA-R6)",
    identify=re.compile(r"u-?blox|\bsara-r4|\blara-r6", re.IGNORECASE),
    # SARA-R4 firmware takes the password before the user name, unlike its manual
    # (ubxlib cell/src/u_cell_net.c reverses them for SARA-R4 and LARA-R6).
    auth=replace(UBLOX_R5.auth, template='AT+UAUTHREQ={cid},{auth},"{password}","{user}"'),
)

V250 = replace(
    GENERIC,
    name="v250",
    description="a line that speaks only V.250 (AT, ATD): a dial-up modem, or a test "
    "peer such as pppd behind a pty; no SIM, registration or signal to read",
    iccid_command=None,
    registration=(),
    signal=(),
    sim=False,
)

PROFILES: Mapping[str, ModemProfile] = MappingProxyType(
    {p.name: p for p in (GENERIC, SEQUANS, TELIT, QUECTEL, UBLOX_R5, UBLOX, V250)}
)
"""By name; identification tries them in this order (SARA-R5 before any u-blox)."""

ALL_URCS = tuple(dict.fromkeys(urc for p in PROFILES.values() for urc in p.urcs))
"""Every vendor's URC prefixes: the channel needs them before the vendor is known, and
none of them begins a line any supported modem sends as a response."""


def identify(maker: str | None, model: str | None) -> ModemProfile:
    """The profile whose pattern matches what the modem said; ``GENERIC`` if none does."""
    said = f"{maker or ''} {model or ''}"
    for profile in PROFILES.values():
        if profile.identify is not None and profile.identify.search(said):
            return profile
    return GENERIC
