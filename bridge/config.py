"""``pppbridge run``'s configuration file (``--config FILE``), its secrets from files and
systemd credentials, and ``pppbridge config --check FILE`` and ``--example``.

The file is TOML (``tomllib``): one flat table whose keys are ``run``'s switches
(``bridge.run_keys.KEYS``: ``--registration-timeout`` is ``registration_timeout``,
``--no-default-route`` is ``default_route = false``), plus ``pin_file`` and
``password_file``: a file whose first line is the secret. It is checked once, when
loaded, strictly: an unknown key, a value of the wrong TOML type (text where a number is
wanted, true as a number), a value out of range, each is one ``UsageError`` line naming
the file, the key, the value and what is allowed. The values then go through the same
checks as the switches' (``run_settings.settings_from_values``).

Where each value comes from: the first of
1. the switch; ``--pin`` and ``--password`` are moved to ``$PPPBRIDGE_PIN`` and
   ``$PPPBRIDGE_PASSWORD`` as the run starts (out of ``ps``'s sight), so those two
   variables rank as the switches do, whoever set them;
2. the file: ``pin`` or ``pin_file`` (not both), ``password`` or ``password_file``;
3. for the PIN and the password only, systemd's credentials: the files ``pin`` and
   ``password`` in ``$CREDENTIALS_DIRECTORY`` (``LoadCredential=pin:/etc/...``);
4. the default.

A configuration file that holds ``pin`` or ``password`` itself, and a ``pin_file`` or
``password_file``, is refused when anyone but its owner may read or write it (mode &
0o077); no message ever shows a secret's value.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import stat
import textwrap
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from netstack.errors import UsageError

from .entry import os_error_text
from .run_keys import KEY, KEYS, SECRET_ENV, Given, toml_value

CREDENTIALS = "CREDENTIALS_DIRECTORY"
"""systemd's directory of the unit's credentials (``LoadCredential=``, systemd.exec(5))."""
SECRET_FILES = {"pin_file": "pin", "password_file": "password"}
"""The keys that name a file holding a secret, and the secret's key."""
OTHERS = 0o077
"""Permission bits of the group and others: none may be set on a file holding a secret."""
MAX_SECRET_FILE = 4096
"""Bytes read of a secret's file: its first line is all that is used."""


def values_from(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, Given]:
    """The values ``run`` was given, each from the first source that gives it (see the
    module docstring); a key none gives is left out (its default)."""
    values = _credentials(environ)
    if getattr(args, "config", None) is not None:
        values.update(load(args.config))
    values.update(
        (name, Given(KEY[name], environ[variable]))
        for name, variable in SECRET_ENV.items()
        if variable in environ
    )
    values.update(
        (key.name, Given(key, getattr(args, key.name)))
        for key in KEYS
        if key.option_strings and getattr(args, key.name, None) is not None
    )
    return values


def load(path: str) -> dict[str, Given]:
    """The file's values, each of the right type, secrets read from their files;
    ``UsageError`` for a file that cannot be read or used, a key or value refused."""
    table, mode = _read_toml(path)
    held = [name for name in SECRET_FILES.values() if name in table]
    if held and mode & OTHERS:
        raise UsageError(
            f'{path}: holds a secret (key "{held[0]}") but {_open_to(mode)} (mode '
            f"{mode:04o}): chmod 600 it, or use {held[0]}_file"
        )
    values: dict[str, Given] = {}
    for name, value in table.items():
        if name not in KEY:
            raise UsageError(_unknown(path, name))
        given = Given(KEY[name], value, f'{path}: key "{name}"')
        if not given.key.kind.accepts(value):
            raise given.wrong_type()
        if name in SECRET_FILES:
            secret = SECRET_FILES[name]
            if secret in table:
                raise UsageError(f'{path}: keys "{secret}" and "{name}": give one, not both')
            holder = Path(path).parent / value  # relative to the file that names it
            where = f"{given.where}: {holder}"
            values[secret] = Given(KEY[secret], _first_line(holder, where), where)
        else:
            values[name] = given
    return values


def check(path: str) -> str:
    """``pppbridge config --check``: the line that says the file is good, after every
    check ``run --config`` makes before it touches anything; ``UsageError`` otherwise."""
    from .run_settings import settings_from_values  # which imports this module

    settings_from_values(load(path))
    return f"{path}: ok"


def _read_toml(path: str) -> tuple[dict[str, Any], int]:
    """The file's table, and its permission bits (of the file opened: no race)."""
    try:
        with open(path, "rb") as file:
            mode = stat.S_IMODE(os.fstat(file.fileno()).st_mode)
            data = file.read()
    except OSError as exc:
        raise UsageError(f"{path}: {os_error_text(exc)}") from None
    try:
        return tomllib.loads(data.decode()), mode
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text, as TOML must be") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib may quote the character it stumbled on: it may be a secret's.
        reason = re.sub(r"""character ('[^']*'|"[^"]*")""", "character", str(exc))
        raise UsageError(f"{path}: not valid TOML: {reason}") from None


def _first_line(path: Path, where: str, private: bool = True) -> str:
    """The first line of a secret's file, without its line break; ``private``: refused
    when others may read or write it. ``where`` names it in messages."""
    try:
        with open(path, "rb") as file:
            mode = stat.S_IMODE(os.fstat(file.fileno()).st_mode)
            if private and mode & OTHERS:
                raise UsageError(f"{where} {_open_to(mode)} (mode {mode:04o}): chmod 600 it")
            data = file.read(MAX_SECRET_FILE)
    except OSError as exc:
        raise UsageError(f"{where}: {os_error_text(exc)}") from None
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise UsageError(f"{where}: not UTF-8 text") from None
    return text.split("\n", 1)[0].removesuffix("\r")


def _credentials(environ: Mapping[str, str]) -> dict[str, Given]:
    """The PIN and password from systemd's credentials, when the unit has them. The
    directory is the unit's own, readable by it alone: no permission check."""
    directory = environ.get(CREDENTIALS)
    if not directory:
        return {}
    values = {}
    for name in SECRET_FILES.values():
        path = Path(directory) / name
        if path.exists():
            values[name] = Given(KEY[name], _first_line(path, str(path), private=False), str(path))
    return values


def _open_to(mode: int) -> str:
    return "is readable by others" if mode & 0o044 else "is open to others"


def _unknown(path: str, name: str) -> str:
    names = [key.name for key in KEYS]
    guess = name.replace("-", "_")
    if guess not in names:
        guess = next(iter(difflib.get_close_matches(guess, names, n=1)), "")
    hint = f'; did you mean "{guess}"?' if guess else ""
    return f"{path}: unknown key {toml_value(name)}{hint} (every key: pppbridge config --example)"


EXAMPLE_HEADER = """\
pppbridge run --config FILE: every key, its default (or, without one, an example) and
what it does. A key is a switch of pppbridge run with _ for - (--echo-interval:
echo_interval). Which value wins: the switch (or $PPPBRIDGE_PIN, $PPPBRIDGE_PASSWORD),
then this file, then systemd's credentials (for the PIN and password: the files pin and
password in $CREDENTIALS_DIRECTORY), then the default. A file holding pin or password, and
a pin_file or password_file, must be for its owner's eyes only (chmod 600); a relative
pin_file or password_file is relative to this file. Check it: pppbridge config --check FILE"""


def example() -> str:
    """``pppbridge config --example``: a TOML file with every key commented out, each
    with its help line, made from ``KEYS``."""
    lines = [f"# {line}" for line in textwrap.wrap(EXAMPLE_HEADER, 86)]
    group = None
    for key in KEYS:
        if key.group != group:
            group = key.group
            lines += ["", f"# --- {group} ---"]
        lines += [f"# {line}" for line in textwrap.wrap(key.help_text, 86)]
        shown = key.example if key.default is None else key.default
        lines.append(f"#{key.name} = {toml_value(shown)}")
    return "\n".join(lines) + "\n"
