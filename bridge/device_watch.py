"""Waiting for a device path to appear (a USB modem plugged back in), on inotify events.

A USB modem that resets or is unplugged takes its ``/dev/ttyUSB*`` node, and the udev
symlinks under ``/dev/serial/by-id/``, with it; they come back when it re-enumerates.
Rather than polling the path, ``wait_for_device`` watches the nearest directory on the
way to it that exists (inotify(7): IN_CREATE, IN_MOVED_TO, IN_ATTRIB) and looks again
each time something changes there, going deeper as the directories reappear.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os

from .waiting import first_of

IN_ATTRIB = 0x00000004
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_MASK = IN_CREATE | IN_MOVED_TO | IN_ATTRIB


class _Inotify:
    """One inotify descriptor watching one directory at a time."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._add_watch = libc.inotify_add_watch
        self._rm_watch = libc.inotify_rm_watch
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"cannot watch for the device: {os.strerror(code)}")
        self.fd = fd
        self._watch = -1
        self.directory = ""

    def watch(self, directory: str) -> None:
        if directory == self.directory:
            return
        if self._watch >= 0:
            self._rm_watch(self.fd, self._watch)
        self._watch = self._add_watch(self.fd, os.fsencode(directory), _MASK)
        self.directory = directory if self._watch >= 0 else ""

    def drain(self) -> None:
        try:
            while os.read(self.fd, 4096):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        os.close(self.fd)


def _nearest_existing_directory(path: str) -> str:
    directory = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(directory) and directory != os.path.dirname(directory):
        directory = os.path.dirname(directory)
    return directory


async def wait_for_device(path: str, stopping: asyncio.Event, timeout: float) -> bool:
    """True as soon as ``path`` exists; False after ``timeout`` seconds or once
    ``stopping`` is set."""
    if os.path.exists(path):
        return True
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()
    inotify = _Inotify()
    loop.add_reader(inotify.fd, changed.set)
    try:
        async with asyncio.timeout(timeout):
            while True:
                # Watch first, then look: a node made between the two is still seen.
                inotify.watch(_nearest_existing_directory(path))
                if os.path.exists(path):
                    return True
                await first_of(stopping.wait(), changed.wait())
                if stopping.is_set():
                    return False
                changed.clear()
                inotify.drain()
    except TimeoutError:
        return os.path.exists(path)
    finally:
        loop.remove_reader(inotify.fd)
        inotify.close()
