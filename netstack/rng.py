"""The randomness netstack needs, as a protocol: pass a ``random.Random`` (seeded in
tests) or ``random.SystemRandom``. netstack never creates one itself."""

from typing import Protocol


class Rng(Protocol):
    def getrandbits(self, k: int, /) -> int: ...

    def randrange(self, stop: int, /) -> int: ...
