"""Vendor profiles: how each modem family identifies itself and where it differs.

Vendor differences are data. A profile holds the exact identification replies (so a
driver can detect the vendor), the vendor's own ICCID and PDP authentication commands,
how CONNECT reads, the IPv6 notation its firmware prints, the access technology it
reports, and the PPP quirk its devices are known for in the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from .ipv6_notation import Notation


class PppQuirk(Enum):
    NONE = "none"
    COMPRESS_UNNEGOTIATED = "compress-unnegotiated"
    """Once LCP is Opened, sends every non-LCP frame with ACFC and PFC applied, whether or
    not the client agreed to them (RFC 1661 6.5/6.6 say it must not)."""
    ACCM_ZERO = "accm-zero"
    """Once LCP is Opened, escapes only 0x7d/0x7e (ACCM 0) whatever ACCM the client asked
    for (RFC 1662 7.1)."""
    DISCARD_AFTER_OPEN = "discard-after-open"
    """Sends an LCP Discard-Request (RFC 1661 5.9) right after LCP opens."""
    NO_GATEWAY_ADDRESS = "no-gateway-address"
    """Its IPCP Configure-Request carries no IP-Address: the client never learns the
    gateway's address (pppd then "defaults to 10.64.64.64")."""


@dataclass(frozen=True)
class VendorAuth:
    """The vendor's own PDP authentication command: argument positions and meanings."""

    command: str
    cid: int
    auth_type: int
    user: int
    password: int
    types: dict[int, str]
    """The command's auth type number -> "none", "pap", "chap" (or "auto": either)."""
    apn: int | None = None
    """Quectel's +QICSGP also sets the APN (and PDP type: ``pdp_type``)."""
    pdp_type: int | None = None
    pdp_types: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SocketDialect:
    """The vendor's socket command set (its handlers: ``at_socket_<name>.py``) and limits.

    "Reference N" in comments here and in the ``at_socket_*`` modules is section N of the
    project's AT reference (shared/reference/at-commands.md): 1 Sequans, 2 Telit, 3 Quectel,
    4 u-blox, 7 27.007, 8 cross-cutting limits; [U]/[P] mark what it could not verify.
    """

    name: str
    """``sequans``, ``telit``, ``quectel`` or ``ublox``: which command table answers."""
    first_id: int
    """The lowest socket id (Sequans and Telit count from 1)."""
    count: int
    """How many sockets at once (ids ``first_id`` .. ``first_id + count - 1``)."""
    max_send: int
    """Bytes one send command takes (raw, or text for u-blox)."""
    max_send_hex: int
    """Bytes one send command takes when the payload is written in hex."""
    max_read: int
    """Bytes one read command gives at most."""
    max_read_hex: int
    """Bytes one read command gives at most when the payload is printed in hex."""
    prompt: str
    """Exactly what the modem writes when it waits for the payload (reference 8: "> "
    with no line end on Sequans, "<CR><LF>> " on Telit, "@" on u-blox)."""
    notation: Notation
    """How socket replies print IPv6 addresses; PIAF: as +CGPIAF says."""
    messy_notation: Notation
    """The same in ``--messy`` mode."""
    messy_prompt: str | None = None
    """The prompt in ``--messy`` mode; None: the same."""


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    identification: dict[str, tuple[str, ...]]
    """Command -> information lines: ATI, +CGMI, +CGMM, +CGMR (and vendor aliases)."""
    imei: str
    imsi: str
    iccid: str
    iccid_command: str
    """The vendor's ICCID command, answered by ``iccid_reply``."""
    iccid_reply: str
    """Format string with ``{iccid}``."""
    vendor_auth: VendorAuth | None
    connect_text: str
    """Text after CONNECT ("" for a bare CONNECT)."""
    messy_ipv6: Notation
    """How the firmware prints IPv6 addresses whatever +CGPIAF says (``--messy``)."""
    combined_addresses: bool
    """Prints both addresses of a dual-stack context in one quoted string (``--messy``)."""
    access_technology: int
    """27.007 <AcT>: 7 E-UTRAN (LTE-M/LTE), 9 E-UTRAN NB-S1 (NB-IoT)."""
    quirk: PppQuirk
    boot_urcs: tuple[str, ...] = ()
    """What the modem prints when it starts (Quectel's RDY, Sequans' +SYSSTART)."""
    aliases: dict[str, str] = field(default_factory=dict)
    """Vendor command -> the standard command it behaves like (``#CGMR`` -> ``+CGMR``)."""
    sockets: SocketDialect | None = None
    """The vendor's AT socket and ping commands; None: none (a plain 27.007 modem)."""
    line_limit: int = 1024
    """Characters of a command line the modem keeps (``--at-line-limit`` overrides). No
    vendor manual we could read gives its number [U]: each vendor's is set long enough for
    its longest in-line payload (u-blox text +USOST: 1024 bytes)."""


GENERIC = Profile(
    name="generic",
    description="a plain 3GPP TS 27.007 modem",
    identification={
        "I": ("pppbridge simulated modem", "Revision: SIM-1.0"),
        "+CGMI": ("pppbridge",),
        "+CGMM": ("Simulated LTE modem",),
        "+CGMR": ("SIM-1.0",),
    },
    imei="490154203237518",
    imsi="001010123456789",
    iccid="8900101234567890123",
    iccid_command="+CCID",
    iccid_reply="+CCID: {iccid}",
    vendor_auth=None,
    connect_text="",
    messy_ipv6=Notation.COMPRESSED,
    combined_addresses=False,
    access_technology=7,
    quirk=PppQuirk.NONE,
)

SEQUANS = Profile(
    name="sequans",
    description="Sequans Monarch (Pycom GPy/FiPy), LR5.1 firmware",
    identification={
        "I": ("SEQUANS Communications", "VZM20Q", "UE5.0.0.0d"),
        # pycom modlte.c reads the LR firmware version from ATI1's second line.
        "I1": ("UE5.0.0.0d", "LR5.1.1.0-39529"),
        "+CGMI": ("SEQUANS Communications",),
        "+CGMM": ("VZM20Q",),
        "+CGMR": ("UE5.0.0.0d",),
    },
    imei="354347094405312",
    imsi="001010000012345",
    iccid="89882280666027595366",
    iccid_command="+SQNCCID",
    iccid_reply='+SQNCCID: "{iccid}",""',
    vendor_auth=None,
    connect_text="",
    messy_ipv6=Notation.DOTTED,
    combined_addresses=False,
    access_technology=7,
    # Pycom GPy/FiPy (Monarch LR5.1): compressed frames once LCP is up, agreed or not
    # (the example from our field notes; no public log of it was found).
    quirk=PppQuirk.COMPRESS_UNNEGOTIATED,
    boot_urcs=("+SYSSTART",),
    # Reference 1: ids 1..6, 1500 bytes per +SQNSSENDEXT/+SQNSRECV (hex: 2 chars a byte,
    # still 1500 bytes); the prompt "> " with no line end (1.4), and in --messy mode
    # after <CR><LF>, which is what TinyGSM waits for.
    sockets=SocketDialect(
        name="sequans",
        first_id=1,
        count=6,
        max_send=1500,
        max_send_hex=1500,
        max_read=1500,
        max_read_hex=1500,
        prompt="> ",
        notation=Notation.COMPRESSED,
        messy_notation=Notation.UPPER_COMPRESSED,
        messy_prompt="\r\n> ",
    ),
    line_limit=2048,
)

TELIT = Profile(
    name="telit",
    description="Telit LE910/ME910 (xE910 family)",
    identification={
        "I": ("Telit",),
        "I3": ("Telit",),
        "I4": ("ME910C1-WW",),
        "+CGMI": ("Telit",),
        "+CGMM": ("ME910C1-WW",),
        "+CGMR": ("M0B.660006",),
        "+GMI": ("Telit",),
        "+GMM": ("ME910C1-WW",),
        "+GMR": ("M0B.660006",),
        "#CGMR": ("#CGMR: M0B.660006",),
    },
    imei="351234567890123",
    imsi="001010000054321",
    iccid="89390100001234567890",
    iccid_command="#CCID",
    iccid_reply="#CCID: {iccid}",
    vendor_auth=VendorAuth(
        command="#PDPAUTH",
        cid=0,
        auth_type=1,
        user=2,
        password=3,
        types={0: "none", 1: "pap", 2: "chap"},
    ),
    connect_text="",
    messy_ipv6=Notation.UPPER_FULL,
    combined_addresses=False,
    access_technology=7,
    # Telit LE910 (pppd log, unix.stackexchange.com/questions/317343): an LCP
    # Discard-Request straight after LCP opens.
    quirk=PppQuirk.DISCARD_AFTER_OPEN,
    # Reference 2 and the IP Easy user guide (80000ST10028A): ids 1..6, #SSENDEXT and
    # #SRECV up to 1500 bytes, IPv6 printed dotted-decimal unless +CGPIAF says colon-hex
    # (guide 17.3); its #PING example prints the address with a stray leading space (17.4.4).
    sockets=SocketDialect(
        name="telit",
        first_id=1,
        count=6,
        max_send=1500,
        max_send_hex=1500,
        max_read=1500,
        max_read_hex=1500,
        prompt="\r\n> ",
        notation=Notation.PIAF,
        messy_notation=Notation.DOTTED,
    ),
    line_limit=2048,
)

QUECTEL = Profile(
    name="quectel",
    description="Quectel BG95/BG96",
    identification={
        "I": ("Quectel", "BG96", "Revision: BG96MAR02A07M1G"),
        "+CGMI": ("Quectel",),
        "+CGMM": ("BG96",),
        "+CGMR": ("BG96MAR02A07M1G",),
        "+GMR": ("BG96MAR02A07M1G",),
    },
    imei="866425030012345",
    imsi="001010000067890",
    iccid="89860318760286123456",
    iccid_command="+QCCID",
    iccid_reply="+QCCID: {iccid}",
    vendor_auth=VendorAuth(
        command="+QICSGP",
        cid=0,
        pdp_type=1,
        apn=2,
        user=3,
        password=4,
        auth_type=5,
        types={0: "none", 1: "pap", 2: "chap", 3: "auto"},
        pdp_types={1: "IP", 2: "IPV6", 3: "IPV4V6"},
    ),
    connect_text="150000000",
    messy_ipv6=Notation.COMPRESSED,
    combined_addresses=True,
    access_technology=9,
    # Quectel BG96: ignores the ACCM the client asked for once LCP is up (the example
    # from our field notes; no public log of it was found).
    quirk=PppQuirk.ACCM_ZERO,
    boot_urcs=("RDY",),
    # Reference 3: connectID 0..11, +QISEND 1460 bytes (BG95), +QIRD 1500.
    sockets=SocketDialect(
        name="quectel",
        first_id=0,
        count=12,
        max_send=1460,
        max_send_hex=1460,
        max_read=1500,
        max_read_hex=1500,
        prompt="\r\n> ",
        notation=Notation.COMPRESSED,
        messy_notation=Notation.UPPER_COMPRESSED,
    ),
    line_limit=2048,
)

UBLOX = Profile(
    name="ublox",
    description="u-blox SARA-R4/R5",
    identification={
        "I": (
            "Manufacturer: u-blox",
            "Model: SARA-R410M-02B",
            "Revision: L0.0.00.00.05.06 [Feb 03 2018 13:00:41]",
            "SVN: 02",
            "IMEI: 352753090123456",
        ),
        "+CGMI": ("u-blox",),
        "+CGMM": ("SARA-R410M-02B",),
        "+GMM": ("SARA-R410M-02B",),
        "+CGMR": ("L0.0.00.00.05.06 [Feb 03 2018 13:00:41]",),
        "I9": ("L0.0.00.00.05.06,A.02.01",),
    },
    imei="352753090123456",
    imsi="001010000013579",
    iccid="89011703278100123456",
    iccid_command="+CCID",
    iccid_reply="+CCID: {iccid}",
    # SARA-R4 firmware takes the password before the user name, unlike its manual
    # (ubxlib cell/src/u_cell_net.c: "For SARA-R4 ... the parameters are reversed").
    vendor_auth=VendorAuth(
        command="+UAUTHREQ",
        cid=0,
        auth_type=1,
        password=2,
        user=3,
        types={0: "none", 1: "pap", 2: "chap", 3: "auto"},
    ),
    connect_text="",
    messy_ipv6=Notation.DOTTED,
    combined_addresses=True,
    access_technology=7,
    # u-blox SARA-R412M (zephyrproject-rtos/zephyr PR #22894): its IPCP Configure-Request
    # names no address for the gateway.
    quirk=PppQuirk.NO_GATEWAY_ADDRESS,
    # Reference 4: SARA-R4 sockets 0..6, +USOST 1024 bytes as text, 512 in hex mode,
    # binary payloads after the "@" prompt; +USORF at most 1024.
    sockets=SocketDialect(
        name="ublox",
        first_id=0,
        count=7,
        max_send=1024,
        max_send_hex=512,
        max_read=1024,
        max_read_hex=512,
        prompt="\r\n@",
        notation=Notation.COMPRESSED,
        messy_notation=Notation.UPPER_FULL,
    ),
    line_limit=2048,
)

PROFILES = {profile.name: profile for profile in (GENERIC, SEQUANS, TELIT, QUECTEL, UBLOX)}
