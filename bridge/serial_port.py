"""The modem's serial line: opened with pyserial, then driven through its descriptor.

pyserial does what it is good at, once: the termios settings (baud rate, 8N1, raw, RTS/CTS
when asked), an exclusive lock (``TIOCEXCL``: a second pppbridge or a stray ``minicom`` on
the same port is refused instead of stealing half the bytes), DTR. Then the event loop
reads and writes the descriptor itself, non-blocking: pyserial's own read/write calls
block or poll, which an asyncio pump must not do.

``--device`` takes any path to a terminal, ``/dev/serial/by-id/...`` symlinks included;
``exists()`` tells when a USB modem's device went away (unplugged), so the supervisor can
wait for it to come back.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

import serial

from .errors import DeviceError

BAUD_RATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000, 3000000)
"""Rates a user may ask for; USB modems ignore the rate, UARTs need the right one."""
DEFAULT_BAUD = 115200


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """How to open the line."""

    device: str
    """Path of the modem's AT/PPP port (``/dev/ttyUSB2``, ``/dev/serial/by-id/...``)."""
    baud: int = DEFAULT_BAUD
    """Line rate for a UART; USB CDC ports ignore it."""
    rtscts: bool = False
    """Hardware flow control (``--flow rtscts``)."""


class SerialPort:
    """An open serial line: a non-blocking descriptor for the event loop, and DTR."""

    def __init__(self, settings: SerialSettings, port: serial.Serial) -> None:
        self.settings = settings
        self._port = port
        self._identity = _identity(settings.device)
        os.set_blocking(port.fileno(), False)

    @classmethod
    def open(cls, settings: SerialSettings) -> SerialPort:
        """Open and configure the line; ``DeviceError`` (one line, what to do) if not."""
        device = settings.device
        check_device(device)
        try:
            port = serial.Serial(
                device,
                baudrate=settings.baud,
                bytesize=serial.EIGHTBITS,
                parity=serial.PARITY_NONE,
                stopbits=serial.STOPBITS_ONE,
                rtscts=settings.rtscts,
                timeout=0,
                write_timeout=0,
                exclusive=True,
            )
        except serial.SerialException as exc:
            raise DeviceError(_open_error(device, exc)) from None
        except ValueError as exc:  # a baud rate the driver refuses
            raise DeviceError(f"{device}: {exc}") from None
        return cls(settings, port)

    def fileno(self) -> int:
        return self._port.fileno()

    @property
    def device(self) -> str:
        return self.settings.device

    def exists(self) -> bool:
        """Whether the device is still the one we opened (a USB modem unplugged, or
        replaced by another device at the same path, is gone)."""
        return _identity(self.settings.device) == self._identity

    def set_dtr(self, level: bool) -> None:
        """Drop DTR to make the modem hang up (V.250 &D2), raise it again after."""
        try:
            self._port.dtr = level
        except (OSError, serial.SerialException):
            pass  # the device is gone: nothing to hang up

    def discard_input(self) -> None:
        """Forget what the modem sent and nobody read (PPP leftovers before AT again)."""
        try:
            self._port.reset_input_buffer()
        except (OSError, serial.SerialException, ValueError):
            pass

    def close(self) -> None:
        try:
            self._port.close()
        except (OSError, serial.SerialException):
            pass


def _identity(path: str) -> tuple[int, int] | None:
    """(device number, inode) of what ``path`` leads to, or None when nothing is there."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_rdev, info.st_ino)


def check_device(device: str) -> None:
    """``DeviceError`` unless ``device`` is there and a character device (a terminal)."""
    try:
        mode = os.stat(device).st_mode
    except FileNotFoundError:
        raise DeviceError(
            f"{device}: no such device; is the modem plugged in? "
            "(ls /dev/serial/by-id/ lists the serial ports)"
        ) from None
    except OSError as exc:
        raise DeviceError(f"{device}: {exc.strerror}") from None
    if not stat.S_ISCHR(mode):
        raise DeviceError(f"{device}: not a serial device (a character device is needed)")


def _open_error(device: str, exc: serial.SerialException) -> str:
    code = getattr(exc, "errno", None)
    if code == errno.ENOTTY or "Inappropriate ioctl" in str(exc):
        return f"{device}: not a terminal; give the modem's serial port (a tty device)"
    if code == errno.EACCES:
        return (
            f"{device}: permission denied; run as root or add this user to the device's "
            "group (often dialout)"
        )
    if code == errno.EBUSY or "exclusively lock" in str(exc):
        return f"{device}: busy, another program holds it (ModemManager? another pppbridge?)"
    if code == errno.ENOENT:
        return f"{device}: no such device; is the modem plugged in?"
    if code is not None:
        return f"{device}: {os.strerror(code)}"
    return f"{device}: cannot open it: {exc}"
