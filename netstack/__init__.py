"""pppbridge's protocol core: PPP (RFC 1661/1662 and friends) as a pure library.

Nothing in this package performs I/O or reads a clock: bytes, packets and ``now``
(float seconds, monotonic) go in; lists of frozen output values come out; timers are
exposed as deadlines (``next_deadline()`` / ``handle_timer(now)``). Randomness comes from
an injected ``random.Random``-like object.
"""
