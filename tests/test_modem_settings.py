"""bridge.modem.settings: every value that goes into an AT command is checked at load.

Anything that could break out of the command (``"``, CR, LF, ``;``, a backslash, control
characters) or that AT cannot carry (non-ASCII) is refused with one line naming the value
and what is allowed; secrets never appear in that line nor in a repr.
"""

from __future__ import annotations

import math

import pytest

from bridge.modem import AuthMode, ModemSettings, PdpType
from bridge.modem.settings import TIME_SETTINGS
from netstack.errors import UsageError
from netstack.secret import Secret

INJECTIONS = {
    "double quote": 'in"ternet',
    "carriage return": "inter\rnet",
    "line feed": "inter\nnet",
    "semicolon": "inter;net",
    "backslash": "inter\\22net",
    "NUL": "inter\x00net",
    "escape": "inter\x1bnet",
    "Ctrl-Z": "inter\x1anet",
    "DEL": "inter\x7fnet",
    "non-ASCII": "intérnet",
    "non-ASCII digits": "internet１",
}


def refused(match: str | None = None, **options: object) -> str:
    with pytest.raises(UsageError, match=match) as caught:
        ModemSettings.from_options(**options)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message, "one line"
    return message


def test_defaults_are_valid() -> None:
    settings = ModemSettings()
    assert settings.cid == 1 and settings.pdp is PdpType.IPV4V6
    assert settings.authentication is AuthMode.NONE


@pytest.mark.parametrize(
    "apn", ["", "internet", "iot.1nce.net", "web.vodafone.de", "m2m_data", "a" * 100]
)
def test_good_apns(apn: str) -> None:
    assert ModemSettings(apn=apn).apn == apn


@pytest.mark.parametrize("value", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_apn_injections_refused(value: str) -> None:
    message = refused(apn=value)
    assert message.startswith("the APN")


@pytest.mark.parametrize("apn", ["my apn", "apn/x", "apn,1", "a" * 101])
def test_apns_outside_23003_refused(apn: str) -> None:
    refused("the APN", apn=apn)


@pytest.mark.parametrize("value", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_user_injections_refused(value: str) -> None:
    assert refused(user=value).startswith("the user name")


@pytest.mark.parametrize("value", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_password_injections_refused_without_showing_it(value: str) -> None:
    message = refused(password="s3cr" + value)
    assert message.startswith("the password holds")
    assert "s3cr" not in message


def test_credential_length() -> None:
    assert ModemSettings.from_options(user="u" * 64, password="p" * 64).user == "u" * 64
    refused("longer than 64", user="u" * 65)
    assert "p" * 65 not in refused("longer than 64", password="p" * 65)


def test_printable_credentials_accepted() -> None:
    settings = ModemSettings.from_options(user="me@example.net", password="p a$$ w0rd!")
    assert settings.authentication is AuthMode.AUTO
    assert settings.password == Secret("p a$$ w0rd!")


@pytest.mark.parametrize("pin", ["1234", "0000", "12345678"])
def test_good_pins(pin: str) -> None:
    assert ModemSettings.from_options(pin=pin).pin == Secret(pin)


@pytest.mark.parametrize(
    "pin", ["123", "123456789", "12a4", "12 4", '12"4', "1234;", "1234\r", "１２３４", ""]
)
def test_bad_pins_refused_without_showing_them(pin: str) -> None:
    message = refused("the PIN must be 4 to 8 digits", pin=pin)
    assert pin.strip() == "" or pin not in message


def test_pin_must_be_a_secret() -> None:
    with pytest.raises(UsageError, match="Secret"):
        ModemSettings(pin="1234")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="Secret"):
        ModemSettings(password="pw")  # type: ignore[arg-type]


def test_secrets_stay_out_of_reprs() -> None:
    settings = ModemSettings.from_options(pin="4321", user="bob", password="hunter2")
    assert "4321" not in repr(settings) and "hunter2" not in repr(settings)
    assert "bob" in repr(settings)


@pytest.mark.parametrize("cid", [0, 17, -1, True, 1.5, None])
def test_bad_cids_refused(cid: object) -> None:
    with pytest.raises(UsageError, match="cid"):
        ModemSettings(cid=cid)  # type: ignore[arg-type]


def test_cid_from_text() -> None:
    assert ModemSettings.from_options(cid="3").cid == 3
    refused("the cid must be a whole number", cid="three")
    refused("from 1 to 16", cid="99")


def test_auth_and_pdp_from_text() -> None:
    settings = ModemSettings.from_options(auth="CHAP", pdp="IP", user="u")
    assert settings.authentication is AuthMode.CHAP and settings.pdp is PdpType.IP
    assert "none, pap, chap, auto" in refused(auth="mschap")
    assert "ip, ipv6, ipv4v6" in refused(pdp="ppp")
    assert ModemSettings.from_options(auth="none", user="u").authentication is AuthMode.NONE


def test_enums_checked_when_given_directly() -> None:
    with pytest.raises(UsageError, match="PDP type"):
        ModemSettings(pdp="ip")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="authentication"):
        ModemSettings(auth="pap")  # type: ignore[arg-type]


def test_unknown_profile_lists_the_known_ones() -> None:
    message = refused(profile="huawei")
    assert "generic" in message and "sequans" in message and "ublox" in message
    assert ModemSettings(profile="telit").profile == "telit"


@pytest.mark.parametrize("name", TIME_SETTINGS)
@pytest.mark.parametrize("value", [0, -1.0, math.nan, math.inf, True, "5"])
def test_bad_seconds_refused(name: str, value: object) -> None:
    refused(name, **{name: value})


@pytest.mark.parametrize("value", [0, 101, 2.5, True])
def test_bad_sync_attempts_refused(value: object) -> None:
    refused("sync_attempts", sync_attempts=value)


def test_unknown_setting_refused() -> None:
    refused("unknown modem setting 'baud'", baud=115200)
