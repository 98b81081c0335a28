"""Throughput, CPU, latency and idle cost of ``pppbridge run`` against ``pppbridge simulate``.

Run as root from the repository root: ``python3 scripts/bench_throughput.py`` (about four
minutes; ``--quick``: about one, shorter runs and 10 s of idle instead of 60, for a smoke
run). Needs iperf3 (``apt-get install iperf3``), ``ip`` and ``ping``; exits 2 without them.

The set-up: ``pppbridge simulate`` on a new pty, its operator network in the namespace it
makes (``pppsim-<its pid>-<n>``), where the iperf3 server listens on the echo host
198.51.100.1; ``pppbridge run`` on that pty in a namespace of our own, where the iperf3
client runs. Both are this checkout's code (``python3 -m bridge``). Every packet crosses
the bridge (TUN, PPP, pty) and the simulator (pty, PPP, TUN); nothing leaves the machine.
Measured in one run, in this order:

- the raw byte rate of a pty pair, both ends in Python in raw mode (64 KiB writes, one
  direction, best of 3): this link's physical limit here, the baseline the goodputs are
  compared with;
- round-trip time: ``ping`` to 198.51.100.1 through the bridge, and the same from inside
  the operator namespace (the kernel's own loopback path). Added RTT = the percentile
  through the bridge minus the same percentile inside the namespace: what the two
  userspace PPP ends and the pty add (p50 and p99, the link otherwise idle);
- unthrottled: TCP goodput with the bridge sending (uplink: the client in our namespace
  sends) and receiving (``-R``), then UDP at a fixed rate (``--udp-rate``) each way with
  the loss the receiver saw (and the packets the kernel dropped at either TUN's queue,
  the bridge's or the simulator's, for want of a reader). For each, the bridge process's
  CPU time (user + system from ``/proc/PID/stat``, all threads) over the iperf3 run:
  % of a core per Mbit/s = 100 x CPU seconds / megabits of goodput delivered in the run
  (the run's average CPU % of a core divided by its average goodput);
  us per packet = CPU seconds / packets that crossed ``pppbridge0`` in the run, both
  directions (TCP: data and ACKs; from the TUN's counters), and for UDP also per datagram
  that iperf3 reports sent. The simulator's CPU is shown too: it is in the path, and a
  simulator at 100% of a core caps the goodput whatever the bridge costs;
- idle, after the traffic: CPU (from ``/proc/PID/task/*/schedstat``, in nanoseconds:
  clock ticks are too coarse here), wake-ups (voluntary context switches summed over the
  bridge's threads: each is a blocking wait that ended) and RSS over ``idle`` seconds;
- goodput at 921600 and 115200 baud (the simulator's ``baud`` control command, which
  paces its side of the line at 10 bits per byte, 8N1) as a share of the line rate
  (baud/10 bytes per second), each direction: TCP payload bytes the receiver got per
  second, after the first seconds (slow start) are omitted. The simulator queues without
  bound when throttled, so the TCP window is capped (``-w``, about a second of the line)
  to keep its queue, and the end of each run, bounded.

Targets (``met``/``MISSED`` next to each; exit 1 if any is missed or a measurement
failed, 3 if the set-up itself failed): TCP >= 250 Mbit/s each way; the bridge <= 0.20%
of a core per Mbit/s sending and <= 0.25% receiving; >= 93% of the line rate at 115200
and 921600 baud, each way; idle CPU <= 0.1% of a core with no more wake-ups than the LCP
keepalive accounts for; RSS < 40 MB. Only documentation addresses (RFC 5737) are used.
Every wait is bounded; processes are stopped (SIGTERM, then SIGKILL) and namespaces
removed on every way out, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bridge.run_settings import SIMULATED_ROUTES  # noqa: E402
from bridge.simulator.operator import TUN_NAME as OPERATOR_TUN  # noqa: E402
from bridge.simulator.plan import DEFAULT_PLAN  # noqa: E402

SERVER = str(DEFAULT_PLAN.echo_ipv4)  # 198.51.100.1, RFC 5737 TEST-NET-2
PORT = 5201
IFNAME = "pppbridge0"
ECHO_INTERVAL = 20.0  # the bridge's default LCP keepalive, passed explicitly
CLK_TCK = os.sysconf("SC_CLK_TCK")
UDP_LENGTH = 1400  # datagram payload: one unfragmented packet through a 1500 MTU
TCP_TARGET = 250.0  # Mbit/s, each direction
CPU_TARGETS = {"sending": 0.20, "receiving": 0.25}  # % of a core per Mbit/s
LINE_SHARE_TARGET = 93.0  # % of baud/10 bytes per second
BAUDS = (921600, 115200)
IDLE_CPU_TARGET = 0.1  # % of a core
WAKEUPS_PER_ECHO = 2
"""Wake-ups one keepalive round costs the bridge: its echo timer expiring, the Echo-Reply
arriving (the Echo-Request is written in the first). The window allows one round more
than it spans."""
RSS_TARGET = 40.0  # MB (10**6 bytes)
PTY_CHUNK = 65536
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
SETTLE = 1.0
"""Seconds left after traffic before idle is sampled: the last ACKs and FINs go by."""


@dataclass(frozen=True)
class Durations:
    tcp: float
    """Seconds of each unthrottled TCP run."""
    udp: float
    baud: float
    """Seconds measured at each baud rate and direction, after ``omit``."""
    omit: float
    """Seconds of slow start left out of the throttled runs."""
    pings: int
    idle: float
    pty_bytes: int


DEFAULT = Durations(tcp=10, udp=10, baud=15, omit=3, pings=500, idle=60, pty_bytes=256 << 20)
QUICK = Durations(tcp=3, udp=3, baud=5, omit=3, pings=100, idle=10, pty_bytes=64 << 20)


class BenchError(Exception):
    """A measurement or the set-up failed; the message says what and why."""


# --- what the kernel tells about a process -------------------------------------------------


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU time of the process, all its threads (``/proc/PID/stat``)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK  # utime, stime: 14, 15


def run_seconds(pid: int) -> float:
    """CPU time of the process's threads to the nanosecond (``/proc/PID/task/*/schedstat``):
    over a quiet minute the clock ticks of ``/proc/PID/stat`` (10 ms) are too coarse."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except OSError:  # a thread that just ended
            continue
    return total / 1e9


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def wakeups(pid: int) -> int:
    """Voluntary context switches summed over the process's threads."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except OSError:  # a thread that just ended
            continue
        found = re.search(r"^voluntary_ctxt_switches:\s+(\d+)", status, re.M)
        total += int(found[1]) if found else 0
    return total


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of the process in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M))
    return int(found["VmRSS"]) * 1024 / 1e6, int(found["VmHWM"]) * 1024 / 1e6


# --- child processes -------------------------------------------------------------------------


class Child:
    """A child process in a session of its own (Ctrl-C reaches only us, and we stop it in
    order), its standard output and error merged and read by a thread."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            argv,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        self.tail: collections.deque[str] = collections.deque(maxlen=20)
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._eof = False
        threading.Thread(target=self._read, name=f"{name} output", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self._lines.append(line.rstrip("\n"))
                self.tail.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    def wait_line(self, pattern: str, timeout: float) -> str:
        """The first output line matching ``pattern`` (a regex), within ``timeout``."""
        seen = 0
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self._lines[seen:]:
                    if re.search(pattern, line):
                        return line
                seen = len(self._lines)
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    break
                self._changed.wait(left)
        why = "ended" if self._eof else f"said nothing like {pattern!r} within {timeout:g} s"
        raise BenchError(f"{self.name} {why}; its last lines:\n  " + "\n  ".join(self.tail))

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise BenchError(
                f"{self.name} exited with status {self.proc.returncode}; its last lines:\n  "
                + "\n  ".join(self.tail)
            )

    def stop(self, grace: float = STOP_TIMEOUT) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; reaped unless stuck in the kernel."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(5)


def run(argv: list[str], timeout: float = 10.0) -> str:
    """Standard output of a short command; BenchError if it fails or takes too long."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{' '.join(argv)}: no answer within {timeout:g} s") from None
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)}: status {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def _delete_namespace(name: str) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(["ip", "netns", "delete", name], timeout=10, check=False)


# --- the testbed -----------------------------------------------------------------------------


class Testbed:
    """Simulator, bridge in a namespace of ours, iperf3 server in the operator network.
    ``start()`` brings it all up (BenchError if something does not come up in time);
    ``close()`` stops and removes everything, whatever ``start()`` got to."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.control_path = str(workdir / "control.sock")
        self.namespace = f"pppbench-{os.getpid()}"
        self.operator_namespace = ""
        self.simulator: Child | None = None
        self.bridge: Child | None = None
        self.server: Child | None = None
        self._namespace_made = False

    def start(self) -> None:
        self.simulator = Child(
            "pppbridge simulate",
            [sys.executable, "-m", "bridge", "simulate", "--quiet", "--control", self.control_path],
        )
        device = self.simulator.wait_line(r"^device: ", START_TIMEOUT).split(": ", 1)[1]
        self.operator_namespace = self._simulator_namespace()
        run(["ip", "netns", "add", self.namespace])
        self._namespace_made = True
        run(["ip", "-n", self.namespace, "link", "set", "lo", "up"])
        routes = [arg for route in SIMULATED_ROUTES for arg in ("--route", route)]
        self.bridge = Child(
            "pppbridge run",
            [*self.in_namespace(), sys.executable, "-m", "bridge", "run", "--device", device,
             "--state-dir", str(self.workdir / "state"), "--dns", "none",
             "--no-default-route", *routes, "--echo-interval", f"{ECHO_INTERVAL:g}"],
        )  # fmt: skip
        self.bridge.wait_line(r"^pppbridge: ready", START_TIMEOUT)
        self._check_python(self.bridge)  # ip netns exec must have exec'd, not forked
        self.control(f"wait ipv4 {START_TIMEOUT:g}", START_TIMEOUT)
        self.server = Child(
            "iperf3 server",
            ["ip", "netns", "exec", self.operator_namespace, "iperf3", "-s", "-B", SERVER,
             "-p", str(PORT), "--forceflush"],
        )  # fmt: skip
        self.server.wait_line(r"Server listening", 10)

    @staticmethod
    def _check_python(child: Child) -> None:
        """The pid measured must be the Python process itself, not a wrapper."""
        exe = Path(os.readlink(f"/proc/{child.pid}/exe"))
        if exe.resolve() != Path(sys.executable).resolve():
            raise BenchError(f"{child.name}: pid {child.pid} is {exe}, not {sys.executable}")

    def _simulator_namespace(self) -> str:
        """The namespace the simulator made: ``pppsim-<its pid>-<n>``, made before it
        prints its device."""
        assert self.simulator is not None
        prefix = f"pppsim-{self.simulator.pid}-"
        names = [n for n in os.listdir("/run/netns") if n.startswith(prefix)]
        if len(names) != 1:
            raise BenchError(f"expected one namespace {prefix}*, found {names or 'none'}")
        return names[0]

    def in_namespace(self) -> list[str]:
        return ["ip", "netns", "exec", self.namespace]

    def close(self) -> None:
        """Each step tried whatever the one before did; the bridge stops before the
        simulator so it hangs up politely, as on a real line."""
        for child in (self.server, self.bridge, self.simulator):
            if child is not None:
                child.stop()
        if self._namespace_made:
            _delete_namespace(self.namespace)
        # The simulator removes its own namespace; if it had to be killed, we started it
        # and remove what it left.
        if self.operator_namespace and Path("/run/netns", self.operator_namespace).exists():
            _delete_namespace(self.operator_namespace)

    def check_alive(self) -> None:
        for child in (self.simulator, self.bridge, self.server):
            assert child is not None
            child.check_alive()

    @property
    def bridge_pid(self) -> int:
        assert self.bridge is not None
        return self.bridge.pid

    @property
    def simulator_pid(self) -> int:
        assert self.simulator is not None
        return self.simulator.pid

    def control(self, command: str, timeout: float = 10.0) -> dict[str, Any]:
        """One command on the simulator's control socket, its JSON reply."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout + 5)
            try:
                sock.connect(self.control_path)
                sock.sendall(command.encode() + b"\n")
                reply = b""
                while not reply.endswith(b"\n"):
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
            except OSError as exc:
                raise BenchError(f"simulator control {command!r}: {exc}") from None
        try:
            answer = json.loads(reply or b"{}")
        except ValueError:
            answer = {"error": f"not JSON: {reply[:80]!r}"}
        if not answer.get("ok"):
            raise BenchError(f"simulator control {command!r}: {answer.get('error', 'no reply')}")
        return answer  # type: ignore[no-any-return]

    def iperf(self, args: list[str], seconds: float) -> dict[str, Any]:
        """An iperf3 client run in our namespace against the server; its JSON report."""
        self.check_alive()
        argv = [*self.in_namespace(), "iperf3", "-c", SERVER, "-p", str(PORT), "-J",
                "--connect-timeout", "5000", *args]  # fmt: skip
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            raise BenchError(f"iperf3 {' '.join(args)}: not done {seconds + 60:g} s on") from None
        try:
            report = json.loads(done.stdout)
        except ValueError:
            raise BenchError(f"iperf3 {' '.join(args)}: {done.stderr.strip()}") from None
        if "error" in report:
            raise BenchError(f"iperf3 {' '.join(args)}: {report['error']}")
        return report  # type: ignore[no-any-return]

    def link_stats(self, namespace: str, ifname: str) -> dict[str, Any]:
        """The kernel's counters of an interface (``ip -s``): rx/tx packets, dropped..."""
        [link] = json.loads(run(["ip", "-n", namespace, "-j", "-s", "link", "show", ifname]))
        return link["stats64"]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Cost:
    """What a run cost (or the counters at one moment)."""

    bridge: float
    """CPU seconds of the bridge, user + system."""
    bridge_system: float
    simulator: float
    """CPU seconds of the simulator, user + system."""
    sent: int
    """Packets the bridge read from its TUN (the kernel's "tx" on pppbridge0)."""
    received: int
    """Packets the bridge wrote into its TUN."""
    bridge_queue_drops: int
    """Packets the kernel dropped because the bridge did not read its TUN fast enough."""
    simulator_queue_drops: int
    """The same on the simulator's TUN (gw0, in the operator namespace)."""
    wall: float

    @property
    def packets(self) -> int:
        return self.sent + self.received

    def __sub__(self, start: Cost) -> Cost:
        return Cost(*(getattr(self, f.name) - getattr(start, f.name) for f in fields(Cost)))


def counters(bed: Testbed) -> Cost:
    ours = bed.link_stats(bed.namespace, IFNAME)
    theirs = bed.link_stats(bed.operator_namespace, OPERATOR_TUN)
    user, system = cpu_seconds(bed.bridge_pid)
    return Cost(
        bridge=user + system,
        bridge_system=system,
        simulator=sum(cpu_seconds(bed.simulator_pid)),
        sent=ours["tx"]["packets"],
        received=ours["rx"]["packets"],
        bridge_queue_drops=ours["tx"]["dropped"],
        simulator_queue_drops=theirs["tx"]["dropped"],
        wall=time.monotonic(),
    )


# --- verdicts --------------------------------------------------------------------------------


class Verdicts:
    def __init__(self) -> None:
        self.missed: list[str] = []

    def judge(self, name: str, met: bool, target: str) -> str:
        if not met:
            self.missed.append(name)
        return f"{target} {'met' if met else 'MISSED'}"

    def failed(self, name: str, exc: BenchError) -> None:
        self.missed.append(name)
        print(f"  FAILED: {exc}")


def row(label: str, figure: str, verdict: str = "") -> None:
    print(f"  {label:<22} {figure:<44} {verdict}".rstrip())


def mbit(bits: float) -> float:
    return bits / 1e6


# --- the raw pty -----------------------------------------------------------------------------


def pty_rate(total: int) -> float:
    """Bytes per second through a raw pty pair, one direction, best of 3."""
    best = 0.0
    for _ in range(3):
        best = max(best, _pty_once(total))
    return best


def _pty_once(total: int) -> float:
    controller, device = os.openpty()
    try:
        tty.setraw(controller)
        tty.setraw(device)
        block = os.urandom(PTY_CHUNK)

        def write() -> None:
            left = total
            while left > 0:
                left -= os.write(controller, block[: min(PTY_CHUNK, left)])

        writer = threading.Thread(target=write, name="pty writer", daemon=True)
        got = 0
        start = time.perf_counter()
        writer.start()
        while got < total:  # a blocking read: the writer always has more coming
            got += len(os.read(device, 1 << 20))
        seconds = time.perf_counter() - start
        writer.join(10)
        return total / seconds
    finally:
        os.close(controller)
        os.close(device)


# --- measurements ----------------------------------------------------------------------------


def ping_rtts(argv_prefix: list[str], count: int) -> tuple[list[float], int]:
    """RTTs in ms of ``count`` pings 10 ms apart to the echo host, and how many were lost."""
    out = run(
        [*argv_prefix, "ping", "-n", "-c", str(count), "-i", "0.01", "-W", "1", SERVER],
        timeout=count * 0.01 + 15,
    )
    rtts = [float(ms) for ms in re.findall(r"time=([\d.]+) ms", out)]
    return rtts, count - len(rtts)


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def measure_rtt(bed: Testbed, count: int) -> None:
    print(f"\nround-trip time to {SERVER}: {count} pings, 10 ms apart, link otherwise idle")
    through, lost = ping_rtts(bed.in_namespace(), count)
    local, _ = ping_rtts(["ip", "netns", "exec", bed.operator_namespace], count)
    if len(through) < 2 or len(local) < 2:
        raise BenchError("too few ping replies to tell percentiles")
    for label, rtts in (("through the bridge", through), ("inside the operator ns", local)):
        row(label, f"p50 {percentile(rtts, 50):7.3f} ms   p99 {percentile(rtts, 99):7.3f} ms")
    added = [percentile(through, p) - percentile(local, p) for p in (50, 99)]
    row("added", f"p50 {added[0]:7.3f} ms   p99 {added[1]:7.3f} ms   ({lost} of {count} lost)")


def measure_tcp(
    bed: Testbed, direction: str, seconds: float, pty_bits: float, verdicts: Verdicts
) -> None:
    reverse = ["-R"] if direction == "receiving" else []
    print(f"\nTCP, the bridge {direction}, unthrottled, {seconds:g} s")
    start = counters(bed)
    report = bed.iperf([*reverse, "-t", f"{seconds:g}"], seconds)
    cost = counters(bed) - start
    received = report["end"]["sum_received"]
    goodput = mbit(received["bits_per_second"])
    retransmits = report["end"]["sum_sent"].get("retransmits", 0)
    verdict = verdicts.judge(f"TCP {direction}", goodput >= TCP_TARGET, f">= {TCP_TARGET:g} Mbit/s")
    row("goodput", f"{goodput:7.1f} Mbit/s  {goodput / pty_bits:5.3f}x the raw pty", verdict)
    per_mbit = 100 * cost.bridge / mbit(received["bytes"] * 8)
    target = CPU_TARGETS[direction]
    verdict = verdicts.judge(f"CPU {direction}", per_mbit <= target, f"<= {target:.2f}%")
    row("bridge CPU", f"{cpu_share(cost)} = {per_mbit:5.3f}% per Mbit/s", verdict)
    row("bridge per packet", per_packet(cost))
    row("simulator CPU", f"{100 * cost.simulator / cost.wall:5.1f}% of a core")
    row("TCP retransmits", str(retransmits))


def cpu_share(cost: Cost) -> str:
    core, system = (100 * seconds / cost.wall for seconds in (cost.bridge, cost.bridge_system))
    return f"{core:5.1f}% of a core ({system:.1f}% system)"


def per_packet(cost: Cost) -> str:
    """The bridge's CPU per packet that crossed its TUN, either way."""
    return (
        f"{1e6 * cost.bridge / max(cost.packets, 1):6.1f} us "
        f"({cost.sent} sent, {cost.received} received on {IFNAME})"
    )


def measure_udp(bed: Testbed, direction: str, seconds: float, rate: float) -> None:
    reverse = ["-R"] if direction == "receiving" else []
    print(
        f"\nUDP at {rate:g} Mbit/s, the bridge {direction}, "
        f"{UDP_LENGTH}-byte datagrams, {seconds:g} s"
    )
    start = counters(bed)
    args = [*reverse, "-u", "-b", f"{rate:g}M", "-l", str(UDP_LENGTH), "-t", f"{seconds:g}"]
    report = bed.iperf(args, seconds)
    cost = counters(bed) - start
    received = report["end"]["sum_received"]  # the receiver's view: loss and jitter
    sent, lost = received["packets"], received["lost_packets"]
    row(
        "received",
        f"{mbit(received['bits_per_second']):7.1f} Mbit/s   "
        f"lost {received['lost_percent']:5.2f}% ({lost} of {sent})",
        f"jitter {received['jitter_ms']:.3f} ms",
    )
    row("bridge CPU", cpu_share(cost))
    row("bridge per packet", per_packet(cost))
    row("per datagram", f"{1e6 * cost.bridge / max(sent, 1):6.1f} us (iperf3 counted {sent})")
    row(
        "dropped at TUN queues",
        f"{cost.bridge_queue_drops} towards the bridge ({IFNAME}), "
        f"{cost.simulator_queue_drops} towards the simulator ({OPERATOR_TUN})",
    )
    row("simulator CPU", f"{100 * cost.simulator / cost.wall:5.1f}% of a core")


def measure_idle(bed: Testbed, seconds: float, verdicts: Verdicts) -> None:
    budget = WAKEUPS_PER_ECHO * (math.ceil(seconds / ECHO_INTERVAL) + 1)
    print(f"\nidle, {seconds:g} s after the traffic (LCP echo every {ECHO_INTERVAL:g} s)")
    time.sleep(SETTLE)
    bed.check_alive()
    pid = bed.bridge_pid
    tun = counters(bed)
    cpu0, wake0, start = run_seconds(pid), wakeups(pid), time.monotonic()
    time.sleep(seconds)  # the measurement itself: nothing else happens meanwhile
    cpu, woke = run_seconds(pid) - cpu0, wakeups(pid) - wake0
    tun = counters(bed) - tun
    core = 100 * cpu / (time.monotonic() - start)
    verdict = verdicts.judge("idle CPU", core <= IDLE_CPU_TARGET, f"<= {IDLE_CPU_TARGET:g}%")
    row("bridge CPU", f"{core:6.3f}% of a core ({cpu * 1000:.1f} ms, schedstat)", verdict)
    verdict = verdicts.judge("idle wake-ups", woke <= budget, f"<= {budget} (keepalive)")
    row("wake-ups", f"{woke} over {threads(pid)} threads (voluntary switches)", verdict)
    row("packets meanwhile", f"{tun.sent} sent, {tun.received} received on {IFNAME}")
    rss, peak = memory_mb(pid)
    verdict = verdicts.judge("RSS", rss < RSS_TARGET, f"< {RSS_TARGET:g} MB")
    row("RSS", f"{rss:5.1f} MB (peak {peak:.1f} MB)", verdict)


def measure_baud(bed: Testbed, baud: int, durations: Durations, verdicts: Verdicts) -> None:
    line = baud / 10  # bytes per second, 8N1
    window = max(16 << 10, int(line))  # about a second of the line: bounds the queue
    print(
        f"\n{baud} baud ({line:g} bytes/s), TCP window {window >> 10} KiB, "
        f"{durations.baud:g} s after {durations.omit:g} s omitted"
    )
    bed.control(f"baud {baud}")
    try:
        for direction in ("sending", "receiving"):
            reverse = ["-R"] if direction == "receiving" else []
            args = [*reverse, "-w", str(window), "-O", f"{durations.omit:g}",
                    "-t", f"{durations.baud:g}"]  # fmt: skip
            try:
                report = bed.iperf(args, durations.baud + durations.omit + window / line)
            except BenchError as exc:
                verdicts.failed(f"{baud} baud {direction}", exc)
                continue
            received = report["end"]["sum_received"]
            rate = received["bytes"] / received["seconds"]
            share = 100 * rate / line
            verdict = verdicts.judge(
                f"{baud} baud {direction}", share >= LINE_SHARE_TARGET, f">= {LINE_SHARE_TARGET:g}%"
            )
            row(direction, f"{rate:9.0f} bytes/s = {share:5.1f}% of the line rate", verdict)
    finally:
        bed.control("baud unlimited")


# --- main ------------------------------------------------------------------------------------


def missing_prerequisite() -> str | None:
    if os.geteuid() != 0:
        return "run it as root: it makes network namespaces and TUN devices"
    if shutil.which("iperf3") is None:
        return "iperf3 is missing: apt-get install iperf3"
    for tool, package in (("ip", "iproute2"), ("ping", "iputils-ping")):
        if shutil.which(tool) is None:
            return f"{tool} is missing: apt-get install {package}"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing: modprobe tun"
    return None


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP end the run like Ctrl-C: through every ``finally``."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def sections(
    bed: Testbed, durations: Durations, pty_bits: float, udp_rate: float, verdicts: Verdicts
) -> list[tuple[str, Callable[[], None]]]:
    """(name, measurement) in order; a failed one does not stop the rest."""
    found: list[tuple[str, Callable[[], None]]] = [
        ("RTT", partial(measure_rtt, bed, durations.pings))
    ]
    for d in ("sending", "receiving"):
        found.append((f"TCP {d}", partial(measure_tcp, bed, d, durations.tcp, pty_bits, verdicts)))
    for d in ("sending", "receiving"):
        found.append((f"UDP {d}", partial(measure_udp, bed, d, durations.udp, udp_rate)))
    found.append(("idle", partial(measure_idle, bed, durations.idle, verdicts)))
    for baud in BAUDS:
        found.append((f"{baud} baud", partial(measure_baud, bed, baud, durations, verdicts)))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, 10 s of idle")
    parser.add_argument(
        "--udp-rate", type=float, default=100.0, metavar="MBIT", help="UDP rate (100 Mbit/s)"
    )
    args = parser.parse_args()
    problem = missing_prerequisite()
    if problem:
        print(f"bench_throughput: {problem}", file=sys.stderr)
        return 2
    stop_on_signals()
    durations = QUICK if args.quick else DEFAULT
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start "
        "(other work on the machine lowers every figure); "
        f"{'--quick' if args.quick else 'default durations'}"
    )
    pty_bits = mbit(pty_rate(durations.pty_bytes) * 8)
    print(f"raw pty, one direction, Python at both ends: {pty_bits:7.1f} Mbit/s (the baseline)")
    verdicts = Verdicts()
    with tempfile.TemporaryDirectory(prefix="bench_throughput-") as workdir:
        bed = Testbed(Path(workdir))
        try:
            try:
                bed.start()
            except BenchError as exc:
                print(f"bench_throughput: the set-up failed: {exc}", file=sys.stderr)
                return 3
            print(
                f"bridge pid {bed.bridge_pid} in {bed.namespace}; simulator pid "
                f"{bed.simulator_pid}, iperf3 server on {SERVER} in {bed.operator_namespace}"
            )
            for name, measure in sections(bed, durations, pty_bits, args.udp_rate, verdicts):
                try:
                    measure()
                except BenchError as exc:
                    verdicts.failed(name, exc)
        finally:
            bed.close()
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    missed = ", ".join(verdicts.missed)
    print(f"\nTARGET MISSED: {missed}" if missed else "\nall targets met")
    return 0 if not verdicts.missed else 1


if __name__ == "__main__":
    sys.exit(main())
