"""The ``--up-script`` and ``--down-script`` hooks, run the way pppd runs ip-up and ip-down.

pppd(8) "SCRIPTS": the script gets the interface, the serial device, the speed, the local
and remote IPv4 addresses and ``ipparam`` as arguments, and a clean environment holding
only ``PATH`` and what describes the link: ``IFNAME``, ``IPLOCAL``, ``IPREMOTE``,
``DNS1``/``DNS2`` (with ``USEPEERDNS=1``), ``LLLOCAL``/``LLREMOTE`` (as for ipv6-up), and
ours, ``PPPBRIDGE_IPV6_GLOBAL``; a variable without a value is left out.

A hook is bounded in time: past its timeout its whole process group is killed. Whatever it
does, its failure is logged and never ends the bridge: ``run_hook`` returns what happened
and raises nothing but ``CancelledError`` (after killing the hook).

Call order: ``hook_environment`` and ``hook_arguments`` are pure; ``await run_hook(...)``
from the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

log = logging.getLogger(__name__)

HOOK_PATH = "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
"""pppd's PATH for its scripts (pppd/main.c, script_setenv)."""
DEFAULT_TIMEOUT = 30.0
"""Seconds a hook may run before it is killed."""
OUTPUT_LIMIT = 16384
"""Bytes of a hook's output kept for the log."""


@dataclass(frozen=True, slots=True)
class HookContext:
    """What a hook is told about the link."""

    ifname: str
    """The TUN interface (``IFNAME``, argument 1)."""
    device: str = ""
    """The serial device (``DEVICE``, argument 2)."""
    speed: int = 0
    """The serial line's speed (``SPEED``, argument 3); 0 when not known."""
    ip_local: IPv4Address | None = None
    """Our IPv4 address from IPCP (``IPLOCAL``, argument 4)."""
    ip_remote: IPv4Address | None = None
    """The peer's IPv4 address (``IPREMOTE``, argument 5)."""
    dns: tuple[IPv4Address, ...] = ()
    """DNS servers from IPCP (``DNS1``, ``DNS2``; RFC 1877)."""
    ll_local: IPv6Address | None = None
    """Our IPv6 link-local address from IPV6CP (``LLLOCAL``)."""
    ll_remote: IPv6Address | None = None
    """The peer's IPv6 link-local address (``LLREMOTE``)."""
    ipv6_global: IPv6Address | None = None
    """Our global IPv6 address from the Router Advertisement (``PPPBRIDGE_IPV6_GLOBAL``)."""
    ipparam: str = ""
    """The user's free-form parameter (``IPPARAM``, argument 6)."""


@dataclass(frozen=True, slots=True)
class HookResult:
    """How a hook ended."""

    returncode: int | None
    """Its exit status (negative: the signal that ended it); None when it did not start or
    was killed for running over."""
    timed_out: bool
    """Whether it was killed for running past its timeout."""
    output: str
    """Its standard output and error, cut to ``OUTPUT_LIMIT`` bytes."""
    error: str = ""
    """Why it could not be started, if it could not."""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def hook_environment(context: HookContext) -> dict[str, str]:
    """The whole environment of a hook: nothing is inherited (pppd clears it too)."""
    values: dict[str, object] = {
        "PATH": HOOK_PATH,
        "IFNAME": context.ifname,
        "DEVICE": context.device,
        "SPEED": context.speed or "",
        "IPLOCAL": context.ip_local,
        "IPREMOTE": context.ip_remote,
        "LLLOCAL": context.ll_local,
        "LLREMOTE": context.ll_remote,
        "IPPARAM": context.ipparam,
        "PPPBRIDGE_IPV6_GLOBAL": context.ipv6_global,
    }
    if context.dns:
        values["USEPEERDNS"] = 1
        for number, server in enumerate(context.dns[:2], start=1):
            values[f"DNS{number}"] = server
    return {name: str(value) for name, value in values.items() if value not in (None, "")}


def hook_arguments(context: HookContext) -> list[str]:
    """pppd's ip-up arguments: interface, device, speed, local and remote IPv4, ipparam."""
    return [
        context.ifname,
        context.device,
        str(context.speed),
        str(context.ip_local or ""),
        str(context.ip_remote or ""),
        context.ipparam,
    ]


async def run_hook(
    script: str | os.PathLike[str],
    context: HookContext,
    timeout: float = DEFAULT_TIMEOUT,
) -> HookResult:
    """Run ``script`` with pppd's arguments and environment for ``context``; log and
    return how it ended."""
    return await run_command(
        [os.fspath(script), *hook_arguments(context)], hook_environment(context), timeout
    )


async def run_command(
    argv: Sequence[str], env: Mapping[str, str], timeout: float = DEFAULT_TIMEOUT
) -> HookResult:
    """Run ``argv`` in a session of its own with standard input from /dev/null, for at most
    ``timeout`` seconds; its process group is killed past that, or when cancelled.

    Its output goes to an unnamed temporary file, not a pipe: a process it leaves in the
    background may write on, and nothing waits for that."""
    name = argv[0]
    with tempfile.TemporaryFile() as output:
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as a whole
            )
        except OSError as exc:
            log.error("hook %s could not be started: %s", name, exc.strerror or exc)
            return HookResult(None, False, "", error=exc.strerror or str(exc))
        returncode, timed_out = await _wait_bounded(process, timeout)
        output.seek(0)
        text = output.read(OUTPUT_LIMIT).decode(errors="replace")
    result = HookResult(returncode, timed_out, text)
    _log_result(name, result, timeout)
    return result


async def _wait_bounded(
    process: asyncio.subprocess.Process, timeout: float
) -> tuple[int | None, bool]:
    """(exit status, False), or (None, True) after killing it for running over."""
    try:
        async with asyncio.timeout(timeout):
            return await process.wait(), False
    except TimeoutError:
        _kill_group(process)
        await process.wait()  # SIGKILL cannot be caught: this ends at once
        return None, True
    except BaseException:  # cancelled: the hook does not outlive the bridge's interest
        _kill_group(process)
        raise


def _kill_group(process: asyncio.subprocess.Process) -> None:
    # start_new_session made the hook its group's leader: its pid is the group id.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _log_result(name: str, result: HookResult, timeout: float) -> None:
    output = result.output.strip()
    if result.timed_out:
        log.error("hook %s ran over %g s and was killed; output: %s", name, timeout, output)
    elif not result.ok:
        log.error("hook %s failed with status %s; output: %s", name, result.returncode, output)
    elif output:
        log.info("hook %s: %s", name, output)
