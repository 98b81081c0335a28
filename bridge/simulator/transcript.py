"""The simulator's transcript: what went over the line and what happened, a line each.

``--transcript FILE`` appends, so several runs can share a file: each run starts with a
header line (``--- pppbridge simulate <local time>, profile <name> (<device>), pid <pid>
---``). A failed write is ``bridge.entry.Failed`` naming the file (or standard output).
"""

from __future__ import annotations

import datetime
import os
from typing import TextIO

from netstack.errors import UsageError

from ..entry import Failed, LineWriter, close_quietly, os_error_text
from .profiles import PROFILES
from .settings import SimSettings


class Transcript:
    def __init__(self, stream: TextIO, name: str, settings: SimSettings) -> None:
        self._writer = LineWriter(stream, name)
        self._settings = settings
        self._owned = False
        self._held: list[str] | None = []
        """Lines noted before ``begin``; None once begun."""

    @classmethod
    def open(cls, path: str, settings: SimSettings) -> Transcript:
        """Append to ``path``; UsageError if it cannot be opened."""
        try:
            stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise UsageError(f"--transcript {path}: {os_error_text(exc)}") from None
        transcript = cls(stream, f"--transcript {path}", settings)
        transcript._owned = True
        try:
            transcript.begin()  # now: a file that cannot take it is refused like a bad path
        except Failed as exc:
            transcript.close()
            raise UsageError(str(exc)) from None
        return transcript

    def begin(self) -> None:
        """The run's header line, once, then the lines held until now (standard output:
        after the device line, which scripts read first). Failed if it cannot be written."""
        if self._held is None:
            return
        held, self._held = self._held, None
        for text in [header(self._settings), *held]:
            self._writer.line(text)

    def line(self, text: str) -> None:
        """Failed if the line cannot be written; held until ``begin``."""
        if self._held is not None:
            self._held.append(text)
        else:
            self._writer.line(text)

    def close(self) -> None:
        """Close a file this object opened (never standard output)."""
        if self._owned:
            self._owned = False
            close_quietly(self._writer.stream)

    def __enter__(self) -> Transcript:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def header(settings: SimSettings) -> str:
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S%z")
    profile = PROFILES[settings.profile]
    return (
        f"--- pppbridge simulate {now}, profile {profile.name} ({profile.description}), "
        f"pid {os.getpid()} ---"
    )
