"""The vocabulary of bring-up scripts, after Zephyr's ``modem_chat``: a script is a tuple
of ``Chat`` steps, each one command line with the prefix of its response, a timeout, an
optional condition, and a reader that turns the command's result into a ``Verdict``:
go on, run the same chat again after a pause, go to a labelled chat after a pause, or
fail. Scripts are plain data; ``BringUp`` runs them one chat at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from netstack.at import CommandDone
from netstack.secret import Secret

from .events import FailureKind, Step

if TYPE_CHECKING:
    from .facts import Facts

MASK = "***"


@dataclass(frozen=True, slots=True)
class AtLine:
    """A command line (without its CR) and the same line with secrets masked."""

    text: str = field(repr=False)
    shown: str


def at_line(template: str, **values: str | int | Secret) -> AtLine:
    """``template`` with ``values`` put in: revealed in ``text``, masked in ``shown``.

    The values were checked when the settings were made (``settings.check_at_text``);
    they are put in once and never read as a template themselves.
    """
    text = template.format_map(
        {k: v.reveal().decode("ascii") if isinstance(v, Secret) else v for k, v in values.items()}
    )
    shown = template.format_map(
        {k: MASK if isinstance(v, Secret) else v for k, v in values.items()}
    )
    return AtLine(text, shown)


@dataclass(frozen=True, slots=True)
class Next:
    """Go on with the next chat, after ``after`` seconds that no URC cuts short."""

    after: float = 0.0


NEXT = Next()


@dataclass(frozen=True, slots=True)
class Again:
    """Run the same chat again after ``after`` seconds, or at the first URC if
    ``wake_on_urc`` (news the chat waits for: a boot URC, a registration)."""

    after: float
    wake_on_urc: bool = True


@dataclass(frozen=True, slots=True)
class Goto:
    """Go on at the chat labelled ``label`` after ``after`` seconds (see ``Again``)."""

    label: str
    after: float = 0.0
    wake_on_urc: bool = True


@dataclass(frozen=True, slots=True)
class Fail:
    kind: FailureKind
    message: str


Verdict = Next | Again | Goto | Fail
Reader = Callable[["Facts", CommandDone | None, float], Verdict]
"""Reads a chat's result (None for a chat without a command) at ``now``."""
Condition = Callable[["Facts"], bool]


@dataclass(frozen=True, slots=True)
class Chat:
    step: Step
    line: AtLine | None
    """None: no command, only ``read`` runs (a decision point)."""
    read: Reader
    response: str | None = None
    """The prefix of its information lines (``+CPIN:``), routed to it even when the URC
    table has it (``netstack.at``)."""
    timeout: float = 5.0
    when: Condition | None = None
    """Skipped when this says False."""
    label: str = ""
    reads_timeout: bool = False
    """Its reader handles TIMEOUT; otherwise a timeout means the modem stopped answering."""
