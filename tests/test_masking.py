"""PINs and passwords in command lines a user types (``pppbridge at``) never reach a log
or transcript."""

from __future__ import annotations

import pytest

from bridge.at_command import OneCommand
from bridge.modem.events import Transcript, WriteModem
from bridge.modem.masking import SECRET_COMMANDS, masked


@pytest.mark.parametrize(
    "line",
    [
        'AT+CPIN="1234"',
        "AT+CPIN=1234",
        'AT+CPWD="SC","1234","5678"',
        'at+clck="SC",1,"1234"',
        'AT+CGAUTH=1,2,"alice","s3cret"',
        'AT#PDPAUTH=1,1,"alice","s3cret"',
        'AT+QICSGP=1,1,"apn","alice","s3cret",2',
        'AT+UAUTHREQ=1,1,"s3cret","alice"',
        'AT+CPIN="1234";+CSQ',
    ],
)
def test_secrets_are_hidden(line: str) -> None:
    shown = masked(line)
    assert "1234" not in shown and "s3cret" not in shown and "<hidden>" in shown


def test_other_commands_are_shown_as_they_are() -> None:
    assert masked('AT+CGDCONT=1,"IP","internet"') == 'AT+CGDCONT=1,"IP","internet"'
    assert {"+CPIN", "+CGAUTH", "#PDPAUTH", "+QICSGP", "+UAUTHREQ"} <= set(SECRET_COMMANDS)


def test_pppbridge_at_never_logs_the_pin_it_sends() -> None:
    outputs = OneCommand('AT+CPIN="1234"', timeout=5.0).start(0.0)
    write = next(o for o in outputs if isinstance(o, WriteModem))
    assert write.data == b'AT+CPIN="1234"\r'  # the modem gets it
    shown = " ".join(str(o) for o in outputs if isinstance(o, Transcript)) + write.shown
    assert "1234" not in shown and "1234" not in repr(outputs)
