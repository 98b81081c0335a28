"""A wrapper that keeps passwords and PINs out of reprs, logs and exception text."""

from __future__ import annotations


class Secret:
    """A secret string. ``str()``/``repr()``/``format()`` never show the value.

    Use ``reveal()`` only where the bytes must go on the wire (PAP, CHAP hashing).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | bytes) -> None:
        self._value = value.encode() if isinstance(value, str) else bytes(value)

    def reveal(self) -> bytes:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would carry the value off somewhere unexpected; refuse it.
        raise TypeError("Secret cannot be pickled")
