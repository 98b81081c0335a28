"""Errors of the bridge shell that a person acts on, as opposed to bugs.

``HostSetupError``: this host cannot be set up as asked (no TUN driver, no permission, an
interface name taken or invalid, a state file from another program...). Its message is
one line that says what is wrong and what to do; the command line prints it as it is.
``DeviceError``: the same for the modem's serial device.
"""


class HostSetupError(Exception):
    """The host cannot be configured as asked; the one-line message says why and what to
    do about it."""


class DeviceError(Exception):
    """The modem's serial device cannot be used (missing, busy, not permitted, not a
    terminal); the one-line message says why and what to do about it."""
