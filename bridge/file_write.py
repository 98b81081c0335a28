"""Writing a file whole or not at all: a new file, made by us alone, renamed over the old.

A reader (a collector, the next start's cleanup, the resolver) sees the old content or
the new, never a half-written file; and the temporary name is created with ``O_EXCL`` and
``O_NOFOLLOW``, so it is never someone else's file or a link planted to one. The old file
itself is never opened: rename(2) replaces the name.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat


def write_all(fd: int, data: bytes, *, sync: bool = False) -> None:
    """All of ``data`` to ``fd`` (a short write continues); ``sync``: fsync(2) after."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    if sync:
        os.fsync(fd)


def replace_file(
    path: str | os.PathLike[str], data: bytes, *, mode: int | None = None, sync: bool = False
) -> os.stat_result:
    """``data`` at ``path`` by rename; the new file's status. ``mode``: its permissions
    whatever the umask; None: the old file's mode and (where allowed) owner, 0644 for a
    new one. ``OSError`` leaves the old file as it was and no temporary behind."""
    directory, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(directory, f".{name}.pppbridge-{secrets.token_hex(6)}.tmp")
    before = None
    if mode is None:
        with contextlib.suppress(FileNotFoundError):
            before = os.stat(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(temporary, flags, 0o644 if mode is None else mode)
        try:
            if mode is not None:
                os.fchmod(fd, mode)
            elif before is not None:
                os.fchmod(fd, stat.S_IMODE(before.st_mode))
                with contextlib.suppress(PermissionError):
                    os.fchown(fd, before.st_uid, before.st_gid)
            write_all(fd, data, sync=sync)
            status = os.fstat(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return status
