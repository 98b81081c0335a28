"""The modem side of the AT command line (ITU-T V.250 5.2 to 5.4).

A command line is ``AT`` followed by any number of commands: basic ones (``E0``, ``V1``,
``S12=50``, ``&F``, ``I``, ``H``, ``O``, ``Z``; ``D`` takes the rest of the line) written
back to back, and extended ones (``+CGDCONT=1,"IP","apn"``, ``#PDPAUTH=...``) separated by
``;``. Each extended command is an action (``+CSQ``), a set (``=args``), a read (``?``) or
a test (``=?``) (V.250 5.4.1). Parsing never raises: a line that cannot be parsed yields
``None`` and the modem answers ``ERROR``, as a real one does. So does a number longer
than ``MAX_DIGITS`` digits: no parameter needs one, and Python refuses to convert digit
runs beyond its int limit (4300 digits) with ValueError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Form(Enum):
    ACTION = "action"
    SET = "set"
    READ = "read"
    TEST = "test"


class Digits(int):
    """An unquoted number that remembers how it was written: ``AT+CPIN=0012`` is the PIN
    "0012" to a string parameter and 12 to a numeric one."""

    text: str

    def __new__(cls, text: str) -> Digits:
        value = super().__new__(cls, int(text))
        value.text = text
        return value


Arg = str | int | None
"""A parameter: an int for a number, a str for a string (quoted or not), None if empty."""


@dataclass(frozen=True)
class Command:
    name: str
    """Upper case: ``+CGDCONT``, ``#PDPAUTH``, ``E``, ``S12``, ``&F``, ``D``."""
    form: Form
    args: tuple[Arg, ...] = ()
    text: str = ""
    """The command as typed (for ``D``: the dial string)."""


MAX_DIGITS = 32
"""The longest number a command may carry (an ICCID has 20 digits)."""
_DIGITS = re.compile(r"[0-9]+")
_EXTENDED = re.compile(r"([+#%$^][A-Za-z0-9_!%\-.:/]*[A-Za-z0-9_])(=\?|=|\?)?")
_BASIC = re.compile(r"(&[A-Za-z]|[A-Za-z])([0-9]*)(\?)?")
_S_REGISTER = re.compile(r"[Ss]([0-9]+)(=[0-9]*|\?)")


def parse_line(line: str) -> list[Command] | None:
    """The commands of one line without its ``AT`` prefix; None if it is malformed."""
    commands: list[Command] = []
    rest = line.strip()
    while rest:
        if rest[0] == ";":
            rest = rest[1:].lstrip()
            continue
        if rest[0] in "Dd":
            commands.append(Command("D", Form.ACTION, (), rest[1:].strip()))
            return commands
        parsed = _take_one(rest)
        if parsed is None:
            return None
        command, rest = parsed
        commands.append(command)
        rest = rest.lstrip(" ")
    return commands


def _take_one(text: str) -> tuple[Command, str] | None:
    if text[0] in "+#%$^":
        return _take_extended(text)
    match = _S_REGISTER.match(text)
    if match:
        number, operation = match.groups()
        if not _short(number, operation[1:]):
            return None
        name = f"S{int(number)}"
        if operation == "?":
            return Command(name, Form.READ, (), match.group(0)), text[match.end() :]
        value = operation[1:]
        args: tuple[Arg, ...] = (int(value),) if value else (None,)
        return Command(name, Form.SET, args, match.group(0)), text[match.end() :]
    match = _BASIC.match(text)
    if match is None:
        return None
    letter, number, query = match.groups()
    if letter.upper() == "S" or not _short(number):
        return None  # an S-register needs its number and "=" or "?" (V.250 6.1.1)
    form = Form.READ if query else Form.ACTION
    args = (int(number),) if number else ()
    return Command(letter.upper(), form, args, match.group(0)), text[match.end() :]


def _take_extended(text: str) -> tuple[Command, str] | None:
    match = _EXTENDED.match(text)
    if match is None:
        return None
    name, operation = match.group(1).upper(), match.group(2)
    rest = text[match.end() :]
    if operation is None:
        return Command(name, Form.ACTION, (), match.group(0)), rest
    if operation == "?":
        return Command(name, Form.READ, (), match.group(0)), rest
    if operation == "=?":
        return Command(name, Form.TEST, (), match.group(0)), rest
    end = _end_of_arguments(rest)
    if end is None:
        return None
    args = parse_arguments(rest[:end])
    if args is None:
        return None
    return Command(name, Form.SET, args, match.group(0) + rest[:end]), rest[end:]


def _end_of_arguments(text: str) -> int | None:
    """Index of the ``;`` ending this command's arguments (or the end); None if a quote is open."""
    quoted = False
    for index, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            return index
    return None if quoted else len(text)


def parse_arguments(text: str) -> tuple[Arg, ...] | None:
    """``1,"IP","apn",,0`` -> ``(1, "IP", "apn", None, 0)``; None when malformed."""
    args: list[Arg] = []
    for field in _split_fields(text):
        field = field.strip()
        if not field:
            args.append(None)
        elif field.startswith('"'):
            if len(field) < 2 or not field.endswith('"') or '"' in field[1:-1]:
                return None
            args.append(field[1:-1])
        elif _DIGITS.fullmatch(field):
            if not _short(field):
                return None
            args.append(Digits(field))
        else:
            args.append(field)
    return tuple(args)


def _split_fields(text: str) -> list[str]:
    fields, current, quoted = [], [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    return fields


def _short(*numbers: str) -> bool:
    """Every digit run within ``MAX_DIGITS``: safe to convert, and plausible."""
    return all(len(number) <= MAX_DIGITS for number in numbers)
