"""The pppd VM harness itself: the fake modem answers AT and ATD, pppd speaks LCP on the
line in both directions, a hang-up ends in NO CARRIER, and options reset between calls.

Independent of netstack on purpose (its own 10-line RFC 1662 framer), so that a failure
here points at the harness or the VM, not at our PPP code.
"""

from __future__ import annotations

import pytest
import serial

from interop_bounds import LOG_LINE, NO_CARRIER
from pppd_vm import PppdVm
from serial_pty import at_command, dial, read_until, wait_result

pytestmark = pytest.mark.interop

PPPD_CONFREQ_START = b"\x7e\xff\x7d\x23\xc0\x21\x7d\x21"
"""Flag, address 0xFF, control 0x03, LCP 0xC021, Configure-Request: with the default ACCM
(RFC 1662 7.1, all of 0x00-0x1F escaped) 0x03 and 0x01 go out as 7D 23 and 7D 21."""


def fcs16(data: bytes) -> int:
    """RFC 1662 appendix C.2, bit by bit."""
    fcs = 0xFFFF
    for byte in data:
        fcs ^= byte
        for _ in range(8):
            fcs = (fcs >> 1) ^ 0x8408 if fcs & 1 else fcs >> 1
    return fcs ^ 0xFFFF


def hdlc_frame(protocol: int, information: bytes) -> bytes:
    """An RFC 1662 frame with address/control, escaping every control character."""
    body = b"\xff\x03" + protocol.to_bytes(2, "big") + information
    body += fcs16(body).to_bytes(2, "little")
    escaped = bytearray()
    for byte in body:
        if byte < 0x20 or byte in (0x7D, 0x7E):
            escaped += bytes((0x7D, byte ^ 0x20))
        else:
            escaped.append(byte)
    return b"\x7e" + bytes(escaped) + b"\x7e"


def lcp_configure_request(identifier: int) -> bytes:
    """An LCP Configure-Request with no options (RFC 1661 5.1): all defaults."""
    return hdlc_frame(0xC021, bytes((1, identifier, 0, 4)))


def test_fcs16_matches_rfc1662_good_fcs() -> None:
    frame = b"\xff\x03\xc0\x21\x01\x01\x00\x04"
    with_fcs = frame + fcs16(frame).to_bytes(2, "little")
    assert fcs16(with_fcs) ^ 0xFFFF == 0xF0B8  # RFC 1662 C.2: PPPGOODFCS16


def test_modem_answers_dials_and_pppd_negotiates_lcp(
    pppd: PppdVm, modem_port: serial.Serial
) -> None:
    assert at_command(modem_port, "AT") == ["OK"]
    mark = pppd.log_offset()

    early = dial(modem_port, "ATD*99***1#")
    read_until(modem_port, PPPD_CONFREQ_START, timeout=LOG_LINE, initial=early)
    pppd.wait_log(r"sent \[LCP ConfReq id=0x[0-9a-f]+ ", timeout=LOG_LINE, since=mark)

    modem_port.write(lcp_configure_request(0x42))
    pppd.wait_log(r"rcvd \[LCP ConfReq id=0x42\]", timeout=LOG_LINE, since=mark)
    pppd.wait_log(r"sent \[LCP ConfAck id=0x42\]", timeout=LOG_LINE, since=mark)

    assert pppd.hangup(), "pppd should have been running"
    wait_result(modem_port, "NO CARRIER", timeout=NO_CARRIER)
    assert at_command(modem_port, "AT") == ["OK"], "the modem is back in command mode"


def test_options_apply_to_the_next_call_and_reset_restores_defaults(
    pppd: PppdVm, modem_port: serial.Serial
) -> None:
    pppd.ctl("options", "local noauth passive nocrtscts mru 1000 192.0.2.1:192.0.2.2 debug")
    mark = pppd.log_offset()
    dial(modem_port)
    pppd.wait_log(r"sent \[LCP ConfReq id=0x[0-9a-f]+ <mru 1000>", timeout=LOG_LINE, since=mark)

    assert pppd.hangup()
    wait_result(modem_port, "NO CARRIER", timeout=NO_CARRIER)
    pppd.reset()
    mark = pppd.log_offset()
    dial(modem_port)
    confreq = pppd.wait_log(r"sent \[LCP ConfReq id=0x[0-9a-f]+ [^\]]*\]", LOG_LINE, since=mark)
    assert "<mru" not in confreq[0]
