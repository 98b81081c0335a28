"""Command lines as they may be shown: the arguments of every command that carries a PIN
or a password hidden (27.007 +CPIN, +CPWD, +CLCK, +CGAUTH and the vendors' own
authentication commands, from the profiles), for a transcript or a log of a command a
user typed (``pppbridge at``). The bring-up masks its own commands where it makes them."""

from __future__ import annotations

import re

from .profiles import PROFILES

_STANDARD = {"+CPIN", "+CPWD", "+CLCK", "+CGAUTH"}
_VENDOR = {
    re.match(r"AT([+#]\w+)=", profile.auth.template).group(1)  # type: ignore[union-attr]
    for profile in PROFILES.values()
}
SECRET_COMMANDS = tuple(sorted(_STANDARD | _VENDOR))
"""The commands whose arguments may hold a PIN or a password."""
_SECRET_ARGS = re.compile(
    "(" + "|".join(re.escape(name) for name in SECRET_COMMANDS) + r')=(?:"[^"]*"|[^;"])*',
    re.IGNORECASE | re.DOTALL,
)


def masked(line: str) -> str:
    """``line`` with the arguments of ``SECRET_COMMANDS`` replaced by ``<hidden>``."""
    return _SECRET_ARGS.sub(r"\1=<hidden>", line)
