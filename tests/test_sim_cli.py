"""``pppbridge simulate`` and ``selftest`` tried as a new user would, as real processes.

Every mistake ends in exactly one line on standard error with the path it concerns and
a documented exit status, never a traceback; nothing the process did not create is ever
deleted or overwritten (a regular file, another simulator's socket, a file put where the
``--link`` symlink was); stop signals (SIGINT, SIGTERM, SIGHUP) clean up like a normal
stop, at any moment. Waits are on conditions with bounded timeouts.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import serial
from pyroute2 import netns

from bridge.cli import build_parser
from serial_pty import at_command, open_port, read_until
from sim_process import START_TIMEOUT, STOP_TIMEOUT, SimProcess

ROOT = Path(__file__).resolve().parent.parent
COMMAND_TIMEOUT = 30.0
DEVICE_LINE = re.compile(r"device: (/\S+)")


Start = Callable[..., "subprocess.Popen[str]"]


@pytest.fixture
def pppbridge() -> Iterator[Start]:
    """``pppbridge(*args)`` starts ``python3 -m bridge *args``; every process it started
    is ended and reaped when the test ends, whatever happened in it."""
    started: list[subprocess.Popen[str]] = []

    def start(
        *args: str, prefix: Sequence[str] = (), stdout: int = subprocess.PIPE
    ) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [*prefix, sys.executable, "-m", "bridge", *args],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=STOP_TIMEOUT)


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait (bounded) for the process to end by itself."""
    try:
        out, err = process.communicate(timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running after {COMMAND_TIMEOUT} s") from None
    return process.returncode, out, err


@pytest.fixture
def simulate(pppbridge: Start) -> Callable[..., tuple[int, str, str]]:
    """``simulate(*args)``: ``pppbridge simulate --no-namespace *args`` to its end."""
    return lambda *args: finish(pppbridge("simulate", "--no-namespace", *args))


def one_line(stderr: str) -> str:
    """The single line a user sees for an ending: non-empty, no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), stderr
    return lines[0]


def wait_stop_handlers(pid: int) -> None:
    """Until the kernel shows SIGHUP and SIGTERM caught by ``pid``: the entry point has
    installed its stop handlers (the interpreter itself only catches SIGINT)."""
    wanted = (1 << (signal.SIGHUP - 1)) | (1 << (signal.SIGTERM - 1))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        match = re.search(r"^SigCgt:\s*([0-9a-f]+)$", status, re.MULTILINE)
        if match and int(match.group(1), 16) & wanted == wanted:
            return
        time.sleep(0.005)  # polling the condition above, bounded by the deadline
    raise AssertionError(f"no stop handlers within {START_TIMEOUT} s")


def our_namespaces(pid: int) -> list[str]:
    return [name for name in netns.listnetns() if name.startswith(f"pppsim-{pid}-")]


@pytest.fixture
def regular(tmp_path: Path) -> Path:
    path = tmp_path / "precious.txt"
    path.write_text("not the simulator's\n")
    return path


# ------------------------------------------------------- nothing of others is deleted


def test_control_refusing_a_regular_file_keeps_it(
    regular: Path, simulate: Callable[..., tuple[int, str, str]]
) -> None:
    status, _, err = simulate("--control", str(regular))
    assert status == 2
    assert one_line(err) == (
        f"pppbridge simulate: error: --control {regular}: exists and is not a socket; "
        "choose another path"
    )
    assert regular.read_text() == "not the simulator's\n"


def test_control_refusing_another_simulators_socket_keeps_it(
    tmp_path: Path, simulate: Callable[..., tuple[int, str, str]]
) -> None:
    with SimProcess(tmp_path, "--no-namespace") as first:
        status, _, err = simulate("--control", first.control_path)
        assert status == 2
        assert "something is listening there (another simulator?)" in one_line(err)
        assert first.control("status")["ok"]  # the first one's socket is still there
    assert not os.path.exists(first.control_path)  # and its owner removed it on stop


def test_control_refusing_a_socket_nobody_listens_on_keeps_it(
    tmp_path: Path, simulate: Callable[..., tuple[int, str, str]]
) -> None:
    path = tmp_path / "bound.sock"
    with socket.socket(socket.AF_UNIX) as bound:  # bound, not (yet) listening
        bound.bind(str(path))
        status, _, err = simulate("--control", str(path))
        assert status == 2
        assert "a socket nobody listens on" in one_line(err)
        assert path.is_socket()


@pytest.mark.parametrize(
    "other",
    [[], ["--link", "/dev/null"], ["--pcap", "/dev/full"], ["--transcript", "/dev/full"]],
)
def test_a_control_path_survives_every_refusal(
    other: list[str],
    tmp_path: Path,
    regular: Path,
    simulate: Callable[..., tuple[int, str, str]],
) -> None:
    """Whatever the simulator refuses, and in whichever order it finds out, neither a
    regular file nor another simulator's socket at --control is touched."""
    with SimProcess(tmp_path, "--no-namespace") as first:
        for path in (str(regular), first.control_path):
            status, _, err = simulate("--control", path, *other)
            assert status == 2, err
            one_line(err)
        assert regular.read_text() == "not the simulator's\n"
        assert first.control("status")["ok"]


def test_pcap_never_overwrites_an_existing_file(
    regular: Path, simulate: Callable[..., tuple[int, str, str]]
) -> None:
    status, _, err = simulate("--pcap", str(regular))
    assert status == 2
    assert one_line(err).startswith(f"pppbridge simulate: error: --pcap {regular}: exists")
    assert regular.read_text() == "not the simulator's\n"


def test_link_symlink_replaced_by_a_file_is_not_deleted(tmp_path: Path, regular: Path) -> None:
    link = tmp_path / "modem"
    with SimProcess(tmp_path, "--no-namespace", "--link", str(link)) as sim:
        assert link.is_symlink() and sim.device == str(link)
        link.unlink()
        regular.rename(link)  # someone else's file now where the symlink was
    assert link.read_text() == "not the simulator's\n"


def test_link_symlink_is_removed_on_stop(tmp_path: Path) -> None:
    link = tmp_path / "modem"
    with SimProcess(tmp_path, "--no-namespace", "--link", str(link)):
        assert link.is_symlink()
    assert not link.exists() and not link.is_symlink()


# ---------------------------------------------------------- one line, never a traceback


@pytest.mark.parametrize(
    "args, line",
    [
        (
            ["--transcript", "/dev/full"],
            "--transcript /dev/full: No space left on device",
        ),
        (["--transcript", "/"], "--transcript /: Is a directory"),
        (
            ["--control", "/nonexistent/x.sock"],
            "--control /nonexistent/x.sock: No such file or directory",
        ),
        (["--pcap", "/dev/full"], "--pcap /dev/full: exists"),
        (["--pcap", "/nonexistent/x.pcap"], "--pcap /nonexistent/x.pcap: No such file"),
        (["--link", "/dev/null"], "--link /dev/null: not a terminal"),
        (["--link", "/nonexistent/modem"], "--link /nonexistent/modem: cannot make the symlink"),
        (["--latency", "nan"], "--latency must be a number, not 'nan'"),
        (["--registration-delay", "inf"], "--registration-delay must be a number, not 'inf'"),
        (["--drop-after", "nan"], "--drop-after must be a number, not 'nan'"),
        (["--corrupt=-inf"], "--corrupt must be a number, not '-inf'"),
        (["--corrupt", "1.5"], "--corrupt must be between 0 and 1"),
        (["--latency", "-1"], "--latency cannot be negative"),
    ],
)
def test_a_mistake_is_one_line_naming_the_path_and_status_2(
    args: list[str], line: str, simulate: Callable[..., tuple[int, str, str]]
) -> None:
    status, out, err = simulate(*args)
    assert status == 2, err
    assert one_line(err).startswith(f"pppbridge simulate: error: {line}")
    assert out == ""


def test_a_closed_standard_output_is_one_line_and_status_1(pppbridge: Start) -> None:
    """``pppbridge simulate | head -1``: the reader goes away after the device line."""
    process = pppbridge("simulate", "--no-namespace")
    assert process.stdout is not None
    first = process.stdout.readline()
    assert DEVICE_LINE.fullmatch(first.strip()), first
    process.stdout.close()
    status = process.wait(COMMAND_TIMEOUT)
    assert process.stderr is not None
    err = process.stderr.read()
    assert status == 1
    assert one_line(err) == "pppbridge simulate: error: standard output was closed"


def test_device_is_a_line_of_its_own(tmp_path: Path, pppbridge: Start) -> None:
    process = pppbridge("simulate", "--no-namespace", "--control", str(tmp_path / "c.sock"))
    assert process.stdout is not None
    lines = [process.stdout.readline().strip() for _ in range(3)]
    process.send_signal(signal.SIGTERM)
    status, _, err = finish(process)
    assert DEVICE_LINE.fullmatch(lines[0]), lines
    assert lines[1] == f"control: {tmp_path / 'c.sock'}"
    assert lines[2].startswith("--- pppbridge simulate ")  # the transcript's header
    assert (status, one_line(err)) == (0, "pppbridge simulate: stopped by SIGTERM")


def test_the_no_root_notice_goes_to_stderr(pppbridge: Start) -> None:
    if shutil.which("unshare") is None or subprocess.run(["unshare", "--user", "true"]).returncode:
        pytest.skip("unprivileged user namespaces are not available here")
    process = pppbridge("simulate", prefix=["unshare", "--user"])  # not root in there
    assert process.stdout is not None
    first = process.stdout.readline()
    process.send_signal(signal.SIGTERM)
    status, rest, err = finish(process)
    assert DEVICE_LINE.fullmatch(first.strip()), first
    assert "no network namespace" not in first + rest
    # The first notice of its kind (not necessarily the first line: a namespace that a
    # killed simulator left elsewhere on this machine is reported before it).
    notices = [line for line in err.splitlines() if "no network namespace" in line]
    assert notices and notices[0].startswith(
        "pppbridge simulate: no network namespace (the simulated operator network needs root"
    ), err
    assert status == 0


# ------------------------------------------------------------------------ stop signals


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_while_starting_is_one_line_and_status_0(
    signum: signal.Signals, tmp_path: Path, pppbridge: Start
) -> None:
    """Start-up blocks opening a FIFO nobody reads as the transcript: the signal arrives
    during start-up for sure."""
    fifo = tmp_path / "transcript.fifo"
    os.mkfifo(fifo)
    process = pppbridge("simulate", "--no-namespace", "--transcript", str(fifo))
    wait_stop_handlers(process.pid)
    process.send_signal(signum)
    status, out, err = finish(process)
    assert (status, out) == (0, "")
    assert one_line(err) == f"pppbridge simulate: stopped by {signum.name}"
    assert fifo.exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_while_serving_cleans_up_and_is_status_0(
    signum: signal.Signals, tmp_path: Path
) -> None:
    """SIGHUP (the terminal closed) is a stop like SIGTERM: no namespace, socket or
    symlink is left behind."""
    link = tmp_path / "modem"
    sim = SimProcess(tmp_path, "--link", str(link))
    sim.start()
    assert sim.process is not None
    pid = sim.process.pid
    sim.process.send_signal(signum)
    sim.process.wait(STOP_TIMEOUT)  # by itself: stop() would add a SIGTERM
    status, _, err = sim.stop()
    assert status == 0
    assert err.splitlines()[-1] == f"pppbridge simulate: stopped by {signum.name}"
    assert "Traceback" not in err
    assert not os.path.exists(sim.control_path) and not link.is_symlink()
    assert not our_namespaces(pid)


def full_pipe() -> tuple[int, int]:
    """A pipe of one page that is already full: a process writing to it blocks until the
    other end is read."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    os.set_blocking(write_end, False)
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(write_end, b"x" * 512)
    os.set_blocking(write_end, True)
    return read_end, write_end


def wait_blocked_writing(pid: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while "pipe_write" not in Path(f"/proc/{pid}/wchan").read_text():
        assert time.monotonic() < deadline, f"not blocked on its output in {START_TIMEOUT} s"
        time.sleep(0.005)  # polling the condition above, bounded by the deadline


def drain(fd: int) -> None:
    """Read ``fd`` to its end (the writer exits), bounded."""
    deadline = time.monotonic() + COMMAND_TIMEOUT
    while select.select([fd], [], [], max(deadline - time.monotonic(), 0))[0]:
        if not os.read(fd, 65536):
            return
    raise AssertionError(f"the writer did not end within {COMMAND_TIMEOUT} s")


def test_a_stop_signal_during_selftest_is_one_line_and_128_plus_n(pppbridge: Start) -> None:
    """The selftest's standard output is a full pipe: its first line (the simulator is
    up by then) blocks it until the test reads, so the signal comes mid-run for sure."""
    read_end, write_end = full_pipe()
    try:
        process = pppbridge("selftest", stdout=write_end)
        os.close(write_end)
        wait_blocked_writing(process.pid)
        process.send_signal(signal.SIGINT)
        drain(read_end)
    finally:
        os.close(read_end)
    status, _, err = finish(process)
    assert status == 128 + signal.SIGINT
    assert "Traceback" not in err
    # Before it, at most notices (a namespace some killed simulator left behind).
    *notices, last = err.splitlines()
    assert last == "pppbridge selftest: stopped by SIGINT"
    assert all(line.startswith("selftest: simulator: ") for line in notices), err
    assert not our_namespaces(process.pid)


# --------------------------------------------------------------------------------- help


def simulate_parser() -> argparse.ArgumentParser:
    [commands] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return commands.choices["simulate"]


def test_every_simulate_option_has_help_text() -> None:
    for action in simulate_parser()._actions:
        assert action.help and action.help != argparse.SUPPRESS, action.option_strings
        assert len(action.help) > 15, (action.option_strings, action.help)


def test_simulate_help_lists_the_control_commands_and_exit_statuses(pppbridge: Start) -> None:
    status, out, _ = finish(pppbridge("simulate", "--help"))
    assert status == 0
    assert re.search(r"--registration-delay SECONDS\s+seconds", out), out
    assert re.search(r"--auth \{none,pap,chap\}\s+the PPP authentication", out), out
    for command in ("status", "drop", "silent on|off", "wait CONDITION", "ping ADDRESS"):
        assert f"\n  {command}" in out, command
    for exit_status in ("0", "1", "2", "128+N"):
        assert re.search(rf"\n  {re.escape(exit_status)} +\S", out), exit_status


def test_an_unknown_switch_of_simulate_shows_simulates_usage(pppbridge: Start) -> None:
    status, _, err = finish(pppbridge("simulate", "--bogus"))
    assert status == 2
    assert err.startswith("usage: pppbridge simulate ")
    assert err.splitlines()[-1] == "pppbridge simulate: error: unrecognized arguments: --bogus"


# ------------------------------------------------------------------- the transcript


def test_each_run_starts_the_transcript_with_a_header_line(tmp_path: Path) -> None:
    pids = []
    for profile in ("generic", "telit"):
        with SimProcess(tmp_path, "--no-namespace", "--profile", profile) as sim:
            assert sim.process is not None
            pids.append(sim.process.pid)
    headers = [line for line in sim.transcript().splitlines() if line.startswith("---")]
    assert len(headers) == 2
    for header, profile, pid in zip(headers, ("generic", "telit"), pids, strict=True):
        assert re.fullmatch(
            rf"--- pppbridge simulate \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{{4}},"
            rf" profile {profile} \(.+\), pid {pid} ---",
            header,
        ), header


def test_control_queries_are_not_logged_as_faults(tmp_path: Path) -> None:
    with SimProcess(tmp_path, "--no-namespace") as sim:
        assert sim.control("status")["ok"]
        assert sim.control("wait registered 5")["ok"]
        assert sim.control("registration roaming")["ok"]
        assert sim.control("wait registered 5")["ok"]
    faults = [line for line in sim.transcript().splitlines() if " fault " in line]
    assert len(faults) == 2, faults
    assert faults[0].endswith("fault control: registration roaming")


def test_control_numbers_refuse_nan_and_inf_like_the_switches(tmp_path: Path) -> None:
    with SimProcess(tmp_path, "--no-namespace") as sim:
        for command in ("registration home inf", "latency nan", "wait registered nan"):
            reply = sim.control(command)
            assert reply["ok"] is False and "must be a number" in reply["error"], reply


# --------------------------------------------------------------------- line endings


@pytest.fixture
def port(tmp_path: Path) -> Iterator[serial.Serial]:
    with SimProcess(tmp_path, "--no-namespace") as sim:
        with open_port(sim.device) as opened:
            at_command(opened, "ATE0")
            yield opened


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\n\r"])
def test_a_line_feed_never_breaks_the_next_command(port: serial.Serial, ending: bytes) -> None:
    port.write(b"AT" + ending)
    read_until(port, b"OK\r\n", 10)
    assert at_command(port, "AT") == ["OK"]


def test_a_client_that_never_reads_cannot_grow_the_simulator() -> None:
    """Output for a client that does not read is bounded (MAX_QUEUED), counted, dropped."""
    import asyncio as aio
    import os as _os
    import random as _random
    import tty as _tty

    from bridge.simulator.line_io import MAX_QUEUED, PacedLine

    async def main() -> tuple[int, int]:
        controller, device = _os.openpty()
        _tty.setraw(controller)
        line = PacedLine(controller, lambda data: None, lambda why: None, _random.Random(1))
        try:
            for _ in range(3 * MAX_QUEUED // 4096):
                line.write(bytes(4096))
            return line._queued, line.overflow
        finally:
            line.close()
            _os.close(controller)
            _os.close(device)

    queued, overflow = aio.run(main())
    assert queued <= MAX_QUEUED and overflow >= MAX_QUEUED
