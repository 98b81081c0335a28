"""Protocol numbers, codes and option types, each citing the RFC that assigns it."""

from enum import IntEnum


class Protocol(IntEnum):
    """PPP Protocol field values (RFC 1661 section 2, IANA PPP DLL protocol numbers)."""

    IPV4 = 0x0021  # RFC 1332
    IPV6 = 0x0057  # RFC 5072
    IPCP = 0x8021  # RFC 1332
    IPV6CP = 0x8057  # RFC 5072
    LCP = 0xC021  # RFC 1661
    PAP = 0xC023  # RFC 1334
    CHAP = 0xC223  # RFC 1994


class Code(IntEnum):
    """Control packet codes shared by LCP and the NCPs (RFC 1661 section 5)."""

    CONFIGURE_REQUEST = 1
    CONFIGURE_ACK = 2
    CONFIGURE_NAK = 3
    CONFIGURE_REJECT = 4
    TERMINATE_REQUEST = 5
    TERMINATE_ACK = 6
    CODE_REJECT = 7
    PROTOCOL_REJECT = 8  # LCP only (RFC 1661 5.7)
    ECHO_REQUEST = 9  # LCP only (RFC 1661 5.8)
    ECHO_REPLY = 10
    DISCARD_REQUEST = 11  # LCP only (RFC 1661 5.9)


class LcpOption(IntEnum):
    """LCP Configuration Option types (RFC 1661 section 6, RFC 1662 section 7.1)."""

    MRU = 1
    ACCM = 2  # RFC 1662 7.1
    AUTH_PROTOCOL = 3
    QUALITY_PROTOCOL = 4
    MAGIC_NUMBER = 5
    PFC = 7
    ACFC = 8


class IpcpOption(IntEnum):
    """IPCP Configuration Option types (RFC 1332 section 3, RFC 1877)."""

    IP_ADDRESSES = 1  # deprecated (RFC 1332 3.1)
    IP_COMPRESSION = 2  # Van Jacobson compression (RFC 1332 3.2)
    IP_ADDRESS = 3  # RFC 1332 3.3
    PRIMARY_DNS = 129  # RFC 1877 1.1
    PRIMARY_NBNS = 130  # RFC 1877 1.2
    SECONDARY_DNS = 131  # RFC 1877 1.3
    SECONDARY_NBNS = 132  # RFC 1877 1.4


class Ipv6cpOption(IntEnum):
    """IPV6CP Configuration Option types (RFC 5072 section 4)."""

    INTERFACE_IDENTIFIER = 1
    IPV6_COMPRESSION = 2


class PapCode(IntEnum):
    """PAP packet codes (RFC 1334 section 2.2)."""

    AUTHENTICATE_REQUEST = 1
    AUTHENTICATE_ACK = 2
    AUTHENTICATE_NAK = 3


class ChapCode(IntEnum):
    """CHAP packet codes (RFC 1994 section 4)."""

    CHALLENGE = 1
    RESPONSE = 2
    SUCCESS = 3
    FAILURE = 4


CHAP_MD5 = 5
"""CHAP Algorithm value for MD5 (RFC 1994 section 3)."""
