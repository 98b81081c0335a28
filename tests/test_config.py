"""``pppbridge run --config FILE`` and ``pppbridge config``: the TOML file's keys are the
switches (``bridge.run_settings.KEYS``), checked strictly and once at load through the
switches' own checks; switches win over the file, the file over systemd's credentials;
a secret is never shown, and a file that would show it to others is refused.

Unit tests call ``settings_from`` on parsed command lines, as ``pppbridge run`` does; the
process tests at the end run ``python -m bridge`` itself.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from ipaddress import ip_network
from pathlib import Path

import pytest

from bridge.cli import build_parser
from bridge.config import example
from bridge.modem import AuthMode, PdpType
from bridge.netconfig import DnsMode, DnsTarget
from bridge.run_keys import KEYS
from bridge.run_settings import RunSettings, add_arguments, settings_from
from netstack.errors import UsageError
from netstack.secret import Secret
from run_process import LINE_TIMEOUT, ROOT, RunProcess, TestNamespace
from test_tun import needs_root

MODEM = "/dev/ttyUSB2"  # never opened: settings are made without touching a device


def config_file(tmp_path: Path, text: str, mode: int = 0o600, name: str = "bridge.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return path


def settings(
    tmp_path: Path,
    text: str | None,
    *switches: str,
    environ: dict[str, str] | None = None,
    mode: int = 0o600,
) -> RunSettings:
    """``pppbridge run SWITCHES [--config FILE holding text]``'s settings."""
    words = ["run", *switches]
    if text is not None:
        words += ["--config", str(config_file(tmp_path, text, mode))]
    return settings_from(build_parser().parse_args(words), environ or {})


def refusal(tmp_path: Path, text: str, *switches: str, **options: object) -> str:
    with pytest.raises(UsageError) as caught:
        settings(tmp_path, text, *switches, **options)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message
    return message


def secret_of(value: Secret | None) -> str | None:
    return None if value is None else value.reveal().decode()


# --- every key -------------------------------------------------------------------------------

EVERY_KEY = f"""
device = "{MODEM}"
apn = "internet.example"
pin = "4321"
user = "alice"
password = "s3cret"
auth = "chap"
pdp = "ipv6"
cid = 3
profile = "quectel"
baud = 921600
flow = "rtscts"
registration_timeout = 30.5
interface = "wwan7"
metric = 4242
default_route = false
route = ["192.0.2.0/24", "2001:db8:9::/48"]
dns = "file:/run/pppbridge/dns"
state_dir = "/run/elsewhere"
up_script = "/etc/pppbridge/up"
down_script = "/etc/pppbridge/down"
echo_interval = 0
echo_failures = 7
holdoff = 0.5
maxfail = 0
sim_profile = "telit"
sim_messy = true
verbose = 1
"""


def test_every_key_of_the_file_reaches_the_settings(tmp_path: Path) -> None:
    made = settings(tmp_path, EVERY_KEY)
    modem, host, serial = made.modem, made.host, made.serial
    assert (modem.apn, modem.user, modem.cid, modem.profile) == (
        "internet.example",
        "alice",
        3,
        "quectel",
    )
    assert secret_of(modem.pin) == "4321" and secret_of(modem.password) == "s3cret"
    assert (modem.auth, modem.pdp, modem.registration_timeout) == (
        AuthMode.CHAP,
        PdpType.IPV6,
        30.5,
    )
    assert (serial.device, serial.baud, serial.rtscts) == (MODEM, 921600, True)
    assert (host.ifname, host.metric, host.default_route) == ("wwan7", 4242, False)
    assert host.routes == (ip_network("192.0.2.0/24"), ip_network("2001:db8:9::/48"))
    assert host.dns == DnsMode(DnsTarget.FILE, Path("/run/pppbridge/dns"))
    assert host.state_dir == Path("/run/elsewhere")
    assert (made.up_script, made.down_script) == ("/etc/pppbridge/up", "/etc/pppbridge/down")
    assert (made.echo_interval, made.echo_failures, made.holdoff, made.maxfail) == (0, 7, 0.5, 0)
    assert made.simulator is None and made.verbose == 1 and not made.ipv4


def test_the_simulator_keys_without_a_device(tmp_path: Path) -> None:
    made = settings(tmp_path, 'sim_profile = "telit"\nsim_messy = true\n')
    assert made.simulator is not None
    assert (made.simulator.profile, made.simulator.messy) == ("telit", True)


def test_the_same_values_as_switches_make_the_same_settings(tmp_path: Path) -> None:
    """One path: the file and the switches go through the same conversion."""
    switches = [
        *("--device", MODEM, "--apn", "internet.example", "--pin", "4321", "--user", "alice"),
        *("--password", "s3cret", "--auth", "chap", "--pdp", "ipv6", "--cid", "3"),
        *("--profile", "quectel", "--baud", "921600", "--flow", "rtscts"),
        *("--registration-timeout", "30.5", "--interface", "wwan7", "--metric", "4242"),
        *("--no-default-route", "--route", "192.0.2.0/24", "--route", "2001:db8:9::/48"),
        *("--dns", "file:/run/pppbridge/dns", "--state-dir", "/run/elsewhere"),
        *("--up-script", "/etc/pppbridge/up", "--down-script", "/etc/pppbridge/down"),
        *("--echo-interval", "0", "--echo-failures", "7", "--holdoff", "0.5"),
        *("--maxfail", "0", "--sim-profile", "telit", "--sim-messy", "-v"),
    ]
    assert settings(tmp_path, None, *switches) == settings(tmp_path, EVERY_KEY)


def test_an_empty_file_is_the_defaults(tmp_path: Path) -> None:
    assert settings(tmp_path, "") == settings(tmp_path, None)
    assert settings(tmp_path, "", "--device", MODEM) == settings(tmp_path, None, "--device", MODEM)


# --- precedence ------------------------------------------------------------------------------


def test_switches_win_over_the_file(tmp_path: Path) -> None:
    text = 'metric = 800\nroute = ["192.0.2.0/24"]\napn = "file.apn"\nverbose = 2\n'
    from_file = settings(tmp_path, text, "--device", MODEM)
    assert from_file.host.metric == 800 and from_file.modem.apn == "file.apn"
    switched = settings(
        tmp_path, text, "--device", MODEM, "--metric", "900", "--route", "10.0.0.0/8", "-v"
    )
    assert switched.host.metric == 900 and switched.verbose == 1
    assert switched.host.routes == (ip_network("10.0.0.0/8"),)  # the switches' list replaces
    assert switched.modem.apn == "file.apn"  # what no switch gave stays the file's


def test_default_route_from_the_file_and_the_switch(tmp_path: Path) -> None:
    def default_route(text: str, *switches: str) -> bool:
        return settings(tmp_path, text, "--device", MODEM, *switches).host.default_route

    assert default_route("") is True
    assert default_route("default_route = false") is False
    assert default_route("default_route = true", "--no-default-route") is False
    # The built-in simulator never takes over this host's default route.
    assert settings(tmp_path, "default_route = true").host.default_route is False


def test_secrets_switch_then_environment_then_file_then_credentials(tmp_path: Path) -> None:
    """``--pin`` becomes $PPPBRIDGE_PIN as the run starts (``secrets_moved_to_
    environment``): the variables rank as the switches do."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "pin").write_text("1111\n")
    (credentials / "password").write_text("from-credentials\n")
    systemd = {"CREDENTIALS_DIRECTORY": str(credentials)}
    environment = {**systemd, "PPPBRIDGE_PIN": "3333", "PPPBRIDGE_PASSWORD": "from-env"}
    in_file = 'pin = "2222"\npassword = "from-file"\n'

    def secrets(
        text: str | None, *switches: str, environ: dict[str, str]
    ) -> tuple[str | None, ...]:
        modem = settings(tmp_path, text, *switches, environ=environ).modem
        return secret_of(modem.pin), secret_of(modem.password)

    assert secrets(None, environ={}) == (None, "")
    assert secrets(None, environ=systemd) == ("1111", "from-credentials")
    assert secrets(in_file, environ=systemd) == ("2222", "from-file")
    assert secrets(in_file, environ=environment) == ("3333", "from-env")
    switches = ("--pin", "4444", "--password", "from-switch")
    assert secrets(in_file, *switches, environ=environment) == ("4444", "from-switch")
    # A credential the unit does not have is no error; the other one is still used.
    (credentials / "pin").unlink()
    assert secrets(None, environ=systemd) == (None, "from-credentials")


def test_secret_files_first_line_relative_to_the_config(tmp_path: Path) -> None:
    config_file(tmp_path, "1234\nnot this\n", name="pin")
    config_file(tmp_path, "pass word \r\nsecond line\n", name="password")
    text = 'pin_file = "pin"\npassword_file = "' + str(tmp_path / "password") + '"\n'
    modem = settings(tmp_path, text).modem
    assert secret_of(modem.pin) == "1234"
    assert secret_of(modem.password) == "pass word "  # only the line break goes
    assert (
        secret_of(settings(tmp_path, text, environ={"PPPBRIDGE_PIN": "9999"}).modem.pin) == "9999"
    )


# --- refusals: one line naming the file, the key, the value, what is allowed ----------------

METRICS = "a whole number from 0 to 4294967295"
REFUSED = {
    "metric = 4294967296": f'key "metric": 4294967296 is not allowed: {METRICS}',
    'metric = "700"': f'key "metric": "700" is not allowed: {METRICS}',
    "metric = true": f'key "metric": true is not allowed: {METRICS}',
    "metric = 700.0": f'key "metric": 700.0 is not allowed: {METRICS}',
    "holdoff = nan": 'key "holdoff": nan is not allowed: a number from 0 to 3600',
    "holdoff = -1": 'key "holdoff": -1 is not allowed: a number from 0 to 3600',
    "registration_timeout = inf": 'key "registration_timeout": inf is not allowed: a number',
    "echo_failures = 0": 'key "echo_failures": 0 is not allowed: a whole number from 1 to 100',
    "maxfail = 1_000_001": 'key "maxfail": 1000001 is not allowed: a whole number from 0 to',
    "cid = 17": 'key "cid": 17 is not allowed: a whole number from 1 to 16',
    "baud = 1234": 'key "baud": 1234 is not allowed: one of 9600, 19200,',
    'auth = "PAP"': 'key "auth": "PAP" is not allowed: one of pap, chap, auto, none',
    'pdp = "ipv4"': 'key "pdp": "ipv4" is not allowed: one of ip, ipv6, ipv4v6',
    'flow = "xonxoff"': 'key "flow": "xonxoff" is not allowed: one of none, rtscts',
    'profile = "nokia"': 'key "profile": "nokia" is not allowed: one of generic,',
    'sim_profile = "nokia"': 'key "sim_profile": "nokia" is not allowed: one of generic,',
    'default_route = "no"': 'key "default_route": "no" is not allowed: true or false',
    "sim_messy = 1": 'key "sim_messy": 1 is not allowed: true or false',
    "verbose = true": 'key "verbose": true is not allowed: a whole number from 0 to 3',
    "verbose = 4": 'key "verbose": 4 is not allowed: a whole number from 0 to 3',
    "apn = 5": 'key "apn": 5 is not allowed: text in double quotes',
    'apn = "inter\\"net"': """key "apn": the APN 'inter"net' holds a double quote""",
    'user = "a;b"': "key \"user\": the user name 'a;b' holds a semicolon",
    'route = "192.0.2.0/24"': 'key "route": "192.0.2.0/24" is not allowed: a list of IPv4',
    "route = [1]": 'key "route": [1] is not allowed: a list of IPv4 or IPv6 prefixes',
    'route = ["192.0.2.0/24", "192.0.2.1/24"]': '"route": "192.0.2.1/24" is not allowed: an IPv4',
    'dns = "file:"': 'key "dns": "file:" is not allowed: resolvconf, resolved, file:PATH or none',
    'interface = "a/b"': "key \"interface\": interface name 'a/b' is not valid",
    "state_dir = []": 'key "state_dir": [] is not allowed: text in double quotes',
    "up_script = {a = 1}": 'key "up_script": {a = 1} is not allowed: text in double quotes',
    "metrik = 700": 'unknown key "metrik"; did you mean "metric"?',
    "no_default_route = true": 'unknown key "no_default_route"; did you mean "default_route"?',
    "registration-timeout = 5": 'key "registration-timeout"; did you mean "registration_timeout"?',
    'config = "other.toml"': 'unknown key "config" (every key: pppbridge config --example)',
    "[modem]\napn = 'x'": 'unknown key "modem"',
    "apn = ?": "not valid TOML: Invalid value (at line 1, column 7)",
    'pin = "1234"\npin_file = "pin"': 'keys "pin" and "pin_file": give one, not both',
}


@pytest.mark.parametrize("text", list(REFUSED))
def test_a_bad_file_is_one_line_naming_the_key_the_value_and_what_is_allowed(
    tmp_path: Path, text: str
) -> None:
    message = refusal(tmp_path, text, "--device", MODEM)
    assert message.startswith(f"{tmp_path / 'bridge.toml'}: "), message
    assert REFUSED[text] in message, message


def test_switches_keep_their_own_messages(tmp_path: Path) -> None:
    assert refusal(tmp_path, "", "--metric", "4294967296") == (
        "--metric must be between 0 and 4294967295"
    )
    assert refusal(tmp_path, "", "--cid", "0").startswith("the cid must be from 1 to 16")
    assert refusal(tmp_path, "", "--route", "192.0.2.1/24").startswith("--route '192.0.2.1/24'")
    assert "host bits set" in refusal(
        tmp_path, "", "--device", MODEM, "--route-from", "172.17.0.1/16"
    )


def test_a_missing_or_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(UsageError, match=f"^{missing}: No such file or directory$"):
        settings_from(build_parser().parse_args(["run", "--config", str(missing)]), {})
    config_file(tmp_path, "", name="binary.toml").write_bytes(b"apn = '\xff'\n")
    with pytest.raises(UsageError, match="binary.toml: not UTF-8 text"):
        settings_from(
            build_parser().parse_args(["run", "--config", str(tmp_path / "binary.toml")]), {}
        )


# --- secrets are never shown ------------------------------------------------------------------

SECRET = "Xy7-hidden"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
@pytest.mark.parametrize("key", ["pin", "password"])
def test_a_file_holding_a_secret_that_others_may_read_is_refused(
    tmp_path: Path, key: str, mode: int
) -> None:
    message = refusal(tmp_path, f'{key} = "{SECRET}"', mode=mode)
    assert message.startswith(f'{tmp_path / "bridge.toml"}: holds a secret (key "{key}") but ')
    assert f"(mode {mode:04o}): chmod 600 it, or use {key}_file" in message
    assert SECRET not in message
    assert settings(tmp_path, 'apn = "public"', mode=0o644).modem.apn == "public"


@pytest.mark.parametrize("key", ["pin_file", "password_file"])
def test_a_secret_file_that_others_may_read_is_refused(tmp_path: Path, key: str) -> None:
    secret = config_file(tmp_path, "1234\n", mode=0o640, name="secret")
    message = refusal(tmp_path, f'{key} = "secret"')
    assert message == (
        f'{tmp_path / "bridge.toml"}: key "{key}": {secret} is readable by others (mode 0640): '
        "chmod 600 it"
    )
    secret.unlink()
    assert refusal(tmp_path, f'{key} = "secret"').endswith(f"{secret}: No such file or directory")


BAD_SECRETS = {
    "pin": (f'pin = "{SECRET}"', "the PIN must be 4 to 8 digits"),
    "pin-type": ("pin = 12345", 'key "pin": a whole number is not allowed: text in double quotes'),
    "password-quote": ('password = "Xy7\\"hidden"', "the password holds a double quote"),
    "password-control": ('password = "Xy7\\u0007hidden"', "the password holds a control character"),
    "password-non-ascii": ('password = "Xy7-hiddén"', "the password holds a non-ASCII character"),
    "password-type": ('password = ["Xy7-hidden"]', 'key "password": a list is not allowed'),
    "toml": ('password = "Xy7\x01hidden"', "not valid TOML: Illegal character (at line 1"),
}


@pytest.mark.parametrize("name", list(BAD_SECRETS))
def test_a_refused_secret_is_never_shown(tmp_path: Path, name: str) -> None:
    text, expected = BAD_SECRETS[name]
    message = refusal(tmp_path, text)
    assert expected in message, message
    for shown in ("Xy7", "hidden", "12345", "é", "\\u0007", "\\x01", "\\x07"):
        assert shown not in message, message


def test_a_refused_secret_from_a_file_or_credential_is_never_shown(tmp_path: Path) -> None:
    config_file(tmp_path, f"{SECRET}\n", name="pin")
    message = refusal(tmp_path, 'pin_file = "pin"')
    assert message == (
        f'{tmp_path / "bridge.toml"}: key "pin_file": {tmp_path / "pin"}: '
        "the PIN must be 4 to 8 digits"
    )
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "password").write_text('Xy7"hidden\n')
    message = refusal(tmp_path, "", environ={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert message.startswith(f"{credentials / 'password'}: the password holds a double quote")
    assert "Xy7" not in message and "hidden" not in message


def test_secrets_are_in_no_repr(tmp_path: Path) -> None:
    config_file(tmp_path, f"{SECRET}\n", name="password")
    made = settings(tmp_path, 'pin = "4321"\npassword_file = "password"\n')
    assert SECRET not in repr(made) and "4321" not in repr(made)
    from bridge.config import load

    loaded = load(str(tmp_path / "bridge.toml"))
    assert SECRET not in repr(loaded) and "4321" not in repr(loaded)


# --- the example -----------------------------------------------------------------------------

EXAMPLE_LINE = re.compile(r"^#([a-z0-9_]+) = (.*)$", re.MULTILINE)


def test_every_switch_of_run_is_a_key_of_the_example() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    switches = {action.dest for action in parser._actions} - {"help", "config"}
    in_example = {name for name, _ in EXAMPLE_LINE.findall(example())}
    assert switches <= in_example
    assert in_example == {key.name for key in KEYS}


def test_the_example_passes_the_check_as_it_is_and_uncommented(tmp_path: Path) -> None:
    """Every value it shows has the key's type; those of the keys with a default are the
    defaults: uncommented, they make the settings nothing at all makes."""
    assert settings(tmp_path, example()) == settings(tmp_path, None)
    with_default = "".join(
        f"{name} = {value}\n"
        for name, value in EXAMPLE_LINE.findall(example())
        if next(key for key in KEYS if key.name == name).default is not None
    )
    assert settings(tmp_path, with_default) == settings(tmp_path, None)
    every = "".join(
        f"{name} = {value}\n"
        for name, value in EXAMPLE_LINE.findall(example())
        if name not in ("pin_file", "password_file")
    )
    made = settings(tmp_path, every)
    assert made.serial.device == MODEM and made.modem.profile == "quectel"


# --- as processes ----------------------------------------------------------------------------


def pppbridge(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=LINE_TIMEOUT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def test_config_check_and_example_as_a_process(tmp_path: Path) -> None:
    shown = pppbridge("config", "--example")
    assert shown.returncode == 0 and shown.stderr == ""
    good = config_file(tmp_path, shown.stdout, name="example.toml")
    checked = pppbridge("config", "--check", str(good))
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, f"{good}: ok\n", "")
    bad = config_file(tmp_path, 'metric = "700"\n', name="bad.toml")
    refused = pppbridge("config", "--check", str(bad))
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr == (
        f'pppbridge config: error: {bad}: key "metric": "700" is not allowed: '
        "a whole number from 0 to 4294967295\n"
    )
    secret = config_file(tmp_path, f'password = "{SECRET}"\n', mode=0o644, name="open.toml")
    refused = pppbridge("config", "--check", str(secret))
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1
    assert "readable by others" in refused.stderr and SECRET not in refused.stderr


def test_run_with_a_bad_config_is_one_line_before_anything_is_touched(tmp_path: Path) -> None:
    bad = config_file(tmp_path, "metric = 4294967296\n", name="bad.toml")
    state = tmp_path / "state"
    done = pppbridge("run", "--config", str(bad), "--state-dir", str(state))
    assert done.returncode == 2 and done.stdout == "", done
    assert done.stderr == (
        f'pppbridge run: error: {bad}: key "metric": 4294967296 is not allowed: '
        "a whole number from 0 to 4294967295\n"
    )
    assert not state.exists()


@needs_root
def test_run_uses_a_good_config_against_the_simulator(tmp_path: Path) -> None:
    """The file's interface, route and password file are what the bridge runs with; a
    switch (RunProcess's --state-dir) still wins over the file's state_dir."""
    config_file(tmp_path, f"{SECRET}\n", name="password")
    text = (
        'interface = "pppbr-conf"\nroute = ["192.0.2.0/24"]\ndns = "none"\n'
        f'user = "alice"\npassword_file = "password"\nstate_dir = "{tmp_path / "unused"}"\n'
    )
    config = config_file(tmp_path, text)
    with TestNamespace.made() as namespace:
        with RunProcess(namespace, tmp_path, "--config", str(config)) as run:
            run.wait_line("ready")
            state = namespace.state()
            assert "pppbr-conf" in state.links, state
            assert "192.0.2.0/24 dev pppbr-conf" in state.routes, state
            assert run.stop() == 0
        assert SECRET not in "\n".join(run.lines + run.errors)
        assert not (tmp_path / "unused").exists()
        assert namespace.state().empty
