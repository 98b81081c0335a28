"""``pppbridge run`` as a real process in a network namespace the test makes, for the
end-to-end tests (tests/test_run_*.py).

    with TestNamespace.made() as ns, SimProcess(tmp_path, "--profile", "telit") as sim:
        with RunProcess(ns, tmp_path, "--device", sim.device) as bridge:
            bridge.wait_line("ready")
            ns.run(ping, ECHO_IPV4)

``TestNamespace`` is a network namespace with ``lo`` up, removed on exit with whatever is
left in it; ``run`` calls a function inside it on a thread of its own (the test's thread
never leaves the host's namespace), ``state`` lists its interfaces, addresses and routes.
``RunProcess`` starts ``python -m bridge run`` under ``ip netns exec`` with a state
directory of its own, keeps every line it prints (two reader threads), waits on them with
bounded timeouts, and always ends it: ``stop`` sends SIGTERM (a second one, then SIGKILL,
if it does not end in time). The phase lines are ``bridge.supervisor``'s.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import pytest
from pyroute2 import IPRoute, netns

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
LINE_TIMEOUT = 30.0
"""Generous: a busy two-core machine runs several simulators and bridges at once."""
STOP_TIMEOUT = 15.0
"""A polite stop: LCP Terminate (4 s at most) and the hang-up (about 3 s)."""
SCENARIO_TIMEOUT = 300.0
"""The last guard on a whole scenario; its own waits are bounded well below it."""
_names = itertools.count(1)


@dataclass(frozen=True)
class NamespaceState:
    """What a namespace holds besides ``lo``: what a bridge must leave behind as it was."""

    links: tuple[str, ...]
    addresses: tuple[str, ...]
    routes: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not (self.links or self.addresses or self.routes)


class TestNamespace:
    """A network namespace of one test (see the module docstring)."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    @contextmanager
    def made(cls) -> Iterator[TestNamespace]:
        name = f"pppbr-run-{os.getpid()}-{next(_names)}"
        netns.create(name)
        try:
            namespace = cls(name)
            namespace.run(_lo_up)
            yield namespace
        finally:
            netns.remove(name)  # takes every interface in it along

    def command(self, *argv: str) -> list[str]:
        """``argv`` to run as a process in the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, action: Callable[..., T], *args: Any, timeout: float = LINE_TIMEOUT) -> T:
        """``action(*args)`` on a thread that entered the namespace; its result or error."""

        def inside() -> T:
            netns.setns(self.name, flags=0)  # this thread only; it ends with the call
            return action(*args)

        pool = ThreadPoolExecutor(1, thread_name_prefix=self.name)
        try:
            future = pool.submit(inside)
            if not wait([future], timeout).done:  # (the action's own TimeoutError is its own)
                raise TimeoutError(f"{action.__name__} did not finish within {timeout} s")
            return future.result()
        finally:
            pool.shutdown(wait=False)

    def state(self) -> NamespaceState:
        return self.run(_namespace_state)


def _lo_up() -> None:
    with IPRoute() as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")


def _namespace_state() -> NamespaceState:
    with IPRoute() as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        lo = ipr.link_lookup(ifname="lo")[0]
        addresses = [
            f"{a.get_attr('IFA_LOCAL') or a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
            f" on {names.get(a['index'])}"
            for a in ipr.get_addr()
            if a["index"] != lo
        ]
        routes = []
        for family in (2, 10):
            for route in ipr.get_routes(family=family, table=254):
                if route.get_attr("RTA_OIF") in (lo, None):
                    continue
                dst = route.get_attr("RTA_DST") or ("0.0.0.0" if family == 2 else "::")
                oif = names.get(route.get_attr("RTA_OIF"))
                routes.append(f"{dst}/{route['dst_len']} dev {oif}")
    links = tuple(sorted(name for index, name in names.items() if index != lo))
    return NamespaceState(links, tuple(sorted(addresses)), tuple(sorted(routes)))


class RunProcess:
    """``pppbridge run ARGS`` in ``namespace`` (see the module docstring)."""

    def __init__(
        self,
        namespace: TestNamespace,
        workdir: Path,
        *args: str,
        env: dict[str, str] | None = None,
        prefix: tuple[str, ...] = (),
    ) -> None:
        self.namespace = namespace
        self.state_dir = workdir / "state"
        self.args = ["--state-dir", str(self.state_dir), *args]
        self.env = {**os.environ, **(env or {})}
        self.prefix = prefix
        """Words before ``python -m bridge run``, e.g. ``setpriv`` to run as another user."""
        self.process: subprocess.Popen[bytes] | None = None
        self.lines: list[str] = []
        """Standard output so far, one entry a line."""
        self.errors: list[str] = []
        """Standard error so far."""
        self._changed = threading.Condition()
        self._readers: list[threading.Thread] = []

    def __enter__(self) -> RunProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        command = self.namespace.command(
            *self.prefix, sys.executable, "-m", "bridge", "run", *self.args
        )
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env=self.env,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            threading.Thread(
                target=self._read, args=(self.process.stdout, self.lines), daemon=True
            ),
            threading.Thread(
                target=self._read, args=(self.process.stderr, self.errors), daemon=True
            ),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: IO[bytes], into: list[str]) -> None:
        for raw in stream:
            with self._changed:
                into.append(raw.decode(errors="replace").rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    # ---------------------------------------------------------------- waiting
    def mark(self) -> int:
        """Where the output is now: ``wait_line(..., since=mark)`` looks only after it."""
        with self._changed:
            return len(self.lines)

    def wait_line(
        self, pattern: str, timeout: float = LINE_TIMEOUT, since: int = 0, stderr: bool = False
    ) -> re.Match[str]:
        """The first line from ``since`` on that ``pattern`` matches (after "pppbridge: "),
        on standard output (the phase lines) or ``stderr`` (``-v``: the AT dialogue)."""
        regex = re.compile(r"pppbridge: " + pattern)
        lines = self.errors if stderr else self.lines
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in lines[since:]:
                    match = regex.match(line)
                    if match:
                        return match
                since = len(lines)
                remaining = deadline - time.monotonic()
                ended = self.process is None or self.process.poll() is not None
                if remaining <= 0 or (ended and not any(r.is_alive() for r in self._readers)):
                    raise AssertionError(self._missing(pattern, timeout, ended))
                self._changed.wait(min(remaining, 0.5))

    def _missing(self, pattern: str, timeout: float, ended: bool) -> str:
        why = "the bridge ended" if ended else f"not within {timeout} s"
        shown = "\n".join(self.lines[-40:])
        errors = "\n".join(self.errors[-10:])
        return f"no line {pattern!r} ({why}); output:\n{shown}\nstderr:\n{errors}"

    def count(self, pattern: str) -> int:
        """How many lines so far ``pattern`` matches."""
        regex = re.compile(r"pppbridge: " + pattern)
        with self._changed:
            return sum(1 for line in self.lines if regex.match(line))

    def wait_exit(self, timeout: float = LINE_TIMEOUT) -> int:
        """The exit status, once the process ended and its output was read."""
        assert self.process is not None
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the bridge still runs after {timeout} s; output:\n" + "\n".join(self.lines[-40:])
            ) from None
        for reader in self._readers:
            reader.join(timeout)
        return status

    # ---------------------------------------------------------------- ending
    def signal(self, signum: int) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signum)  # ip netns exec execs: this is the bridge

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, then (not ended in time) a second one, then SIGKILL; the exit status."""
        process = self.process
        if process is None:
            return None
        for signum in (signal.SIGTERM, signal.SIGTERM, signal.SIGKILL):
            if process.poll() is not None:
                break
            process.send_signal(signum)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                continue
        status = process.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        return status

    @property
    def stderr(self) -> str:
        with self._changed:
            return "\n".join(self.errors)


class Concurrently:
    """The scenarios of one test module run at once, each on a thread of its own, so that
    their waits (bring-ups, hang-ups, redials) overlap; each test then takes its own
    scenario's outcome (``outcome``), so a failure is reported by the test it belongs to.
    Every scenario cleans up after itself (context managers), and leaving waits for all of
    them: each is bounded by its own timeouts. Only the scenarios of the tests selected
    run. A module uses it through ``scenarios_fixture``:

        running = scenarios_fixture(SCENARIOS)

        @pytest.mark.parametrize("scenario", list(SCENARIOS))
        def test_it(scenario, running):
            running.outcome(scenario)
    """

    def __init__(
        self,
        request: Any,
        argname: str,
        scenarios: dict[str, Callable[[Path], None]],
        tmp_path_factory: Any,
    ) -> None:
        selected = [
            item.callspec.params[argname]
            for item in request.session.items
            if item.module is request.module
            and argname in getattr(item, "callspec", _NO_CALL).params
        ]
        self._scenarios = {name: scenarios[name] for name in selected}
        self._tmp = tmp_path_factory
        self._pool = ThreadPoolExecutor(max_workers=max(len(self._scenarios), 1))
        self._futures: dict[str, Future[None]] = {}

    def __enter__(self) -> Concurrently:
        for name, scenario in self._scenarios.items():
            self._futures[name] = self._pool.submit(scenario, self._tmp.mktemp(name))
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)

    def outcome(self, name: str, timeout: float = SCENARIO_TIMEOUT) -> None:
        """Return when scenario ``name`` passed; raise what made it fail."""
        self._futures[name].result(timeout)


@dataclass(frozen=True)
class _NoCall:
    params: dict[str, Any]


_NO_CALL = _NoCall({})


def scenarios_fixture(scenarios: dict[str, Callable[[Path], None]]) -> Any:
    """The module-scoped fixture that runs ``scenarios`` at once (``Concurrently``), for
    tests parametrized by ``scenario``."""

    @pytest.fixture(scope="module")
    def running(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[Concurrently]:
        with Concurrently(request, "scenario", scenarios, tmp_path_factory) as started:
            yield started

    return running
