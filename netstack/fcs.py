"""The FCS-16 of RFC 1662 (section C.2: polynomial 0x8408, LSB first), fast.

Every octet of every frame passes through it, so it is the framing's biggest cost. The
``fastcrc`` package (a compiled extension with wheels for x86_64, aarch64 and armv7)
computes it in about 0.2 us per 1500 octets; without it, ``binascii.crc_hqx`` over
bit-reversed octets does the same in about 5 us (a reflected CRC is the bit-reversal of
the plain CRC of bit-reversed octets, with the initial value reversed too). Both give the
same values; ``tests/test_hdlc.py`` checks both against RFC 1662's own code.
"""

from __future__ import annotations

import binascii

INIT_FCS16 = 0xFFFF
"""RFC 1662 C.2: initial FCS register value."""
GOOD_FCS16 = 0xF0B8
"""RFC 1662 C.2: the FCS register after a frame followed by its own FCS."""

_BITREV = bytes(int(f"{octet:08b}"[::-1], 2) for octet in range(256))
"""Each octet with its bits reversed: turns crc_hqx (MSB first) into the LSB-first FCS."""
_GOOD_FCS16_REVERSED = 0x1D0F
"""GOOD_FCS16 as crc_hqx sees it (bits reversed); saves a reversal per received frame."""
_FCS_OCTET = tuple(_BITREV[octet] ^ 0xFF for octet in range(256))
"""crc_hqx register octet -> transmitted FCS octet (reversed back, then ones-complement)."""


def _reverse16(value: int) -> int:
    return (_BITREV[value & 0xFF] << 8) | _BITREV[value >> 8 & 0xFF]


def hqx_fcs16(data: bytes, fcs: int = INIT_FCS16) -> int:
    """``fcs16`` with ``binascii.crc_hqx``."""
    return _reverse16(binascii.crc_hqx(data.translate(_BITREV), _reverse16(fcs)))


def hqx_trailer(frame: bytes) -> bytes:
    """``fcs_trailer`` with ``binascii.crc_hqx``."""
    register = binascii.crc_hqx(frame.translate(_BITREV), INIT_FCS16)
    return bytes((_FCS_OCTET[register >> 8], _FCS_OCTET[register & 0xFF]))


def hqx_has_good_fcs(frame: bytes) -> bool:
    """``has_good_fcs`` with ``binascii.crc_hqx``."""
    return binascii.crc_hqx(frame.translate(_BITREV), INIT_FCS16) == _GOOD_FCS16_REVERSED


try:
    # mcrf4xx is RFC 1662's register as is (init 0xFFFF, reflected, no final XOR);
    # ibm_sdlc (X.25) is the same with the final ones-complement: the transmitted FCS.
    from fastcrc.crc16 import ibm_sdlc as _transmitted
    from fastcrc.crc16 import mcrf4xx as _register
except ImportError:  # a platform without its wheel: the same values, slower
    fcs16, fcs_trailer, has_good_fcs = hqx_fcs16, hqx_trailer, hqx_has_good_fcs
    FAST_FCS = False
else:

    def fcs16(data: bytes, fcs: int = INIT_FCS16) -> int:
        """Run the FCS-16 over ``data`` from register ``fcs`` (``pppfcs16()``, RFC 1662
        C.2). The transmitted FCS is ``fcs16(frame) ^ 0xFFFF``, little-endian; a received
        frame with its FCS leaves ``GOOD_FCS16``."""
        return _register(data, initial=fcs)

    def fcs_trailer(frame: bytes) -> bytes:
        """The two FCS octets that follow ``frame``, least significant first (C.2)."""
        return _transmitted(frame).to_bytes(2, "little")

    def has_good_fcs(frame: bytes) -> bool:
        """True if ``frame`` ends in its own correct FCS."""
        return _register(frame) == GOOD_FCS16

    FAST_FCS = True
