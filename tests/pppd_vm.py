"""Drive the pppd test VM (``../shared/pppd-vm``) from tests.

The VM runs Debian's pppd 2.4.9 behind a host pseudo-terminal; its README describes the
modem it plays and the control commands. This module wraps its scripts:

    vm = PppdVm(workdir)
    pty = vm.start()                      # boots (about 5 s under TCG), returns the pty path
    mark = vm.log_offset()
    ...                                   # dial on the pty, speak PPP
    vm.wait_log(r"rcvd \\[LCP ConfReq", timeout=LOG_LINE, since=mark)
    vm.ctl("options", "local noauth passive 192.0.2.1:192.0.2.2 debug")
    vm.stop()

Call order: ``start`` once, then any number of ``ctl``/``wait_log``, then ``stop`` (also
safe when ``start`` failed or was never called). One VM serves many test cases: reset
pppd's options with ``ctl("defaults")`` instead of rebooting; ``restart`` reboots it
with the same boot options in a fresh run directory (the old one, with its console log,
stays for a post-mortem). ``vm_recovery`` decides which of the two a VM needs.

Waiting on the console log polls the file with a short, bounded interval: it is written
by qemu, so there is nothing to select on. Every bound comes from ``interop_bounds``.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from interop_bounds import CHAT_GONE, CTL_ANSWER, MODE_READY, VM_BOOT, VM_STOP

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_ENV = "PPPBRIDGE_SHARED"
"""Environment variable naming the shared/ directory (default: ``<repo>/../shared``)."""

REQUIRED_TOOLS = {"qemu-system-x86_64": "qemu-system-x86", "socat": "socat"}
"""Program the VM scripts run -> the Debian package that provides it."""

LOG_POLL_INTERVAL = 0.05
"""How often wait_log reads the console log again: a polling period, not a bound."""
READY_LINES = {
    "server": "pppd-vm: modem: waiting for AT commands",
    "client": "pppd-vm: client: ready",
    "cmux": "pppd-vm: cmux: waiting for AT commands",
}
"""What /init prints once the loop of each mode is running."""
_STATUS = re.compile(r"ctl: status mode=(\S+) pppd=(\S+)")


class VmStartError(RuntimeError):
    """The VM did not come up; the message carries start.sh's output and the console."""


class VmNotAnswering(AssertionError):
    """A control command could not be delivered, or /init did not answer it in time."""


def shared_dir() -> Path:
    return Path(os.environ.get(SHARED_ENV) or REPO_ROOT.parent / "shared")


def vm_scripts_dir() -> Path:
    return shared_dir() / "pppd-vm"


def missing_packages() -> list[str]:
    """Debian packages to install before the VM can run (empty when all are there)."""
    return [pkg for tool, pkg in REQUIRED_TOOLS.items() if shutil.which(tool) is None]


def prepare_build_dir(build: Path, scratch: Path) -> Path:
    """The build directory to give start.sh: ``build`` itself, or a shadow of it in
    ``scratch`` when ``build/vmlinuz`` is a git symlink checked out as a text file.

    With ``core.symlinks=false`` git writes a symlink as a small file holding the link's
    target (here ``kernel/6.1.0-56-amd64/vmlinuz``); qemu cannot boot that, and shared/
    is read-only, so the shadow links every entry of ``build`` and points ``vmlinuz`` at
    the real kernel.
    """
    vmlinuz = build / "vmlinuz"
    target = _symlink_stand_in_target(vmlinuz)
    if target is None:
        return build
    shadow = scratch / "build"
    shadow.mkdir(parents=True, exist_ok=True)
    for entry in build.iterdir():
        link = shadow / entry.name
        if not link.is_symlink():
            link.symlink_to(target if entry.name == "vmlinuz" else entry.resolve())
    return shadow


def _symlink_stand_in_target(vmlinuz: Path) -> Path | None:
    """The kernel a text stand-in for a symlink names; None when ``vmlinuz`` is a kernel
    (a bzImage has "HdrS" at offset 0x202) or a real symlink."""
    if vmlinuz.is_symlink() or not vmlinuz.is_file() or vmlinuz.stat().st_size > 4096:
        return None
    data = vmlinuz.read_bytes()
    if data[0x202:0x206] == b"HdrS":
        return None
    try:
        target = vmlinuz.parent / data.decode("ascii").strip()
    except UnicodeDecodeError:
        target = None
    if target is None or not target.is_file():
        raise VmStartError(
            f"{vmlinuz} is a {len(data)}-byte file that is neither a kernel nor the path "
            f"of one (content {data[:80]!r}); rebuild the VM with build.sh"
        )
    return target.resolve()


class PppdVm:
    """One pppd VM with its own run directory under ``workdir``."""

    def __init__(self, workdir: Path | None = None, scripts: Path | None = None) -> None:
        self._owns_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="pppd-vm-"))
        self.scripts = scripts or vm_scripts_dir()
        self.run_dir = self.workdir / "run"
        """This boot's run directory: ``run``, then ``run-2``, ``run-3``... after reboots."""
        self.boots = 0
        self.pty: str | None = None
        """The host end of the VM's ttyS1, once started."""
        self.mode: str | None = None
        """"server" or "client": the mode /init is in (boot mode, then ``ctl mode``)."""
        self.boot_mode: str | None = None
        self._boot_options: dict[str, str | int | bool | None] = {}
        self._boot_secret = ("test", "secret")  # /init's default user and password
        self._changed: set[str] = set()  # what reset() must undo: "options", "secret"

    # --- lifecycle ---

    def start(self, mode: str = "server", **options: str | int | bool | None) -> str:
        """Boot the VM and return the pty path. ``options`` are start.sh's long options
        with ``_`` for ``-``: ``auth="chap"``, ``lcp_echo=1``, ``persist=True``,
        ``pppopts="..."``, ``extra="..."``, ``redial="manual"``... (None/False: omitted)."""
        if self.pty is not None:
            raise RuntimeError("this VM is already started")
        self.boots += 1
        if self.boots > 1:
            self.run_dir = self.workdir / f"run-{self.boots}"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PPPD_VM_BUILD=str(self._build_dir()))
        command = [str(self.scripts / "start.sh"), "--mode", mode, "--run-dir", str(self.run_dir)]
        command += _start_options(options)
        atexit.register(self.stop)
        deadline = time.monotonic() + VM_BOOT
        try:
            result = subprocess.run(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=VM_BOOT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            failure = self._start_failure(f"start.sh timed out after {exc.timeout} s", exc.stderr)
            self.stop()  # after reading the console: stop() may remove the work directory
            raise VmStartError(failure) from None
        lines = result.stdout.split()
        if result.returncode == 0 and lines and lines[-1].startswith("/dev/"):
            self.pty = lines[-1]
        else:
            self.pty = self._still_booting(mode, deadline)
        if self.pty is None:
            failure = self._start_failure(
                f"start.sh exited with status {result.returncode}", result.stderr
            )
            self.stop()
            raise VmStartError(failure)
        self.mode = self.boot_mode = mode
        self._boot_options = dict(options)
        self._boot_secret = (
            str(options.get("user") or "test"),
            str(options.get("password") or "secret"),
        )
        self._changed.clear()
        return self.pty

    def _still_booting(self, mode: str, deadline: float) -> str | None:
        """start.sh gives a boot 30 s (600 polls); on a loaded machine that can be too
        little while qemu is fine. Wait for /init's ready line ourselves, up to our own
        bound, and return the pty; None when qemu is gone or the line never comes."""
        pty_file = self.run_dir / "pty"
        if not self.is_running() or not pty_file.is_file():
            return None
        try:
            self.wait_log(re.escape(READY_LINES[mode]), deadline - time.monotonic())
        except AssertionError:
            return None
        return pty_file.read_text().strip() or None

    def restart(self) -> str:
        """Reboot: stop qemu, boot again with the same mode and options in a fresh run
        directory (the old console log stays where it was). Returns the new pty path."""
        if self.boot_mode is None:
            raise RuntimeError("restart() needs a VM that was started once")
        mode, options = self.boot_mode, self._boot_options
        self._stop_qemu()
        return self.start(mode, **options)

    def stop(self) -> None:
        """Stop the VM (idempotent) and remove a work directory this object created."""
        atexit.unregister(self.stop)
        self._stop_qemu()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _stop_qemu(self) -> None:
        """stop.sh, and if that does not finish in time, SIGKILL our qemu ourselves."""
        pid = self.qemu_pid()
        if self.run_dir.exists():
            try:
                subprocess.run(
                    [str(self.scripts / "stop.sh"), "--run-dir", str(self.run_dir)],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=VM_STOP,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                pass
        if pid is not None and _is_qemu(pid):
            os.kill(pid, signal.SIGKILL)
        self.pty = None

    def qemu_pid(self) -> int | None:
        """The pid of this VM's qemu (from its pid file), or None."""
        try:
            return int((self.run_dir / "qemu.pid").read_text())
        except (OSError, ValueError):
            return None

    def is_running(self) -> bool:
        pid = self.qemu_pid()
        return pid is not None and os.path.exists(f"/proc/{pid}")

    def __enter__(self) -> PppdVm:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- control ---

    def ctl(self, command: str, *args: str, timeout: float = CTL_ANSWER) -> str:
        """Run ``ctl.sh COMMAND ARGS`` and wait for /init's answer in the console log, so
        that the command has taken effect when this returns. Returns the answer line
        (e.g. "pppd-vm: ctl: hangup 123"). Raises VmNotAnswering when the command
        cannot be delivered or /init does not answer within ``timeout``."""
        mark = self.log_offset()
        deadline = time.monotonic() + timeout
        try:
            subprocess.run(
                [str(self.scripts / "ctl.sh"), command, *args, "--run-dir", str(self.run_dir)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=True,
            )
            # Up to its line end only: the log may hold half of it while qemu is still
            # writing. Not anchored at a line start: pppd's log reaches the console through
            # a copier of its own, and /init's answer can land in the middle of one of its
            # lines ("local  IP address 192.0.2.1pppd-vm: ctl: terminate 297").
            answer = self.wait_log(
                r"pppd-vm: ctl: [^\r\n]*\r?\n", deadline - time.monotonic(), since=mark
            )[0].strip()
        except (subprocess.SubprocessError, AssertionError) as exc:
            raise VmNotAnswering(f"ctl {command} {' '.join(args)}: {exc}") from None
        if answer.startswith("pppd-vm: ctl: unknown"):
            raise AssertionError(f"the VM did not understand ctl {command!r}: {answer}")
        self._note_change(command, args)
        return answer

    def _note_change(self, command: str, args: tuple[str, ...]) -> None:
        if command in ("options", "chat"):
            self._changed.add("options")
        elif command == "secret":
            self._changed.add("secret")
        elif command == "defaults":
            self._changed.discard("options")
        elif command == "mode" and args:
            self.mode = args[0]
            self._changed.discard("options")  # /init forgets options and chat on a switch

    def status(self, timeout: float = CTL_ANSWER) -> tuple[str, int | None]:
        """/init's mode and the pid of the pppd it runs (None when none), as it says."""
        answer = self.ctl("status", timeout=timeout)
        match = _STATUS.search(answer)
        if match is None:
            raise VmNotAnswering(f"ctl status: unexpected answer {answer!r}")
        mode, pid = match.groups()
        return mode, None if pid == "none" else int(pid)

    def hangup(self, timeout: float = CTL_ANSWER) -> bool:
        """Kill pppd as a carrier loss would (no LCP Terminate); False when none ran."""
        return not self.ctl("hangup", timeout=timeout).endswith(" none")

    def reset(self, timeout: float = CTL_ANSWER) -> None:
        """Back to the boot-time state between test cases, without a reboot: no pppd
        running, the boot mode with its options and secret, and (server mode) the modem
        loop reading AT commands again. Cheap when nothing changed. ``timeout`` bounds
        each control command; VmNotAnswering or AssertionError when a step fails."""
        mark = self.log_offset()
        was_client = self.mode == "client"
        self.hangup(timeout)
        switched = self.mode != self.boot_mode
        if switched:
            self.ctl("mode", str(self.boot_mode), timeout=timeout)
        if was_client:
            self.wait_chat_gone()
        if "options" in self._changed:
            self.ctl("defaults", timeout=timeout)
        if "secret" in self._changed:
            self.ctl("secret", *self._boot_secret, timeout=timeout)
            self._changed.discard("secret")
        if switched:
            self.wait_log(re.escape(READY_LINES[str(self.boot_mode)]), MODE_READY, since=mark)
        if self.boot_mode == "server":
            self.wait_command_mode()

    def restart_loop(self, timeout: float = CTL_ANSWER) -> None:
        """Make /init start the loop of the boot mode again (``ctl mode``, which also
        kills pppd and chat) and wait until it is ready."""
        mark = self.log_offset()
        self.ctl("mode", str(self.boot_mode), timeout=timeout)
        self.wait_log(re.escape(READY_LINES[str(self.boot_mode)]), MODE_READY, since=mark)

    def wait_command_mode(self, timeout: float = MODE_READY) -> None:
        """Server mode: wait until the modem loop reads AT commands, i.e. its last
        "waiting for AT commands" comes after its last CONNECT. Until then, after a call,
        ttyS1 may still be closed (pppd exiting, the loop not back yet), and what the
        host sends is lost; ``NO CARRIER`` is written just before that line."""
        self._poll(self.is_in_command_mode, timeout, "the modem loop back in command mode")

    def is_in_command_mode(self) -> bool:
        """Server mode: whether the console log's last "waiting for AT commands" comes
        after its last CONNECT (see ``wait_command_mode``)."""
        log = self.console_log_bytes()
        return log.rfind(READY_LINES["server"].encode()) > log.rfind(b"pppd-vm: modem: CONNECT,")

    def wait_chat_gone(self, timeout: float = CHAT_GONE) -> None:
        """Killing pppd (hangup, mode switch) leaves its connect script running: chat
        keeps reading the line and sending "AT" until its own timeouts end it (about 12 s
        with the default script). Wait for chat's last run to end, if it started."""
        log = self.console_log_bytes()
        start = log.rfind(b"pppd-vm: client: dialling")
        if start < 0 or not re.search(rb"^(send|expect) \(", log[start:], re.MULTILINE):
            return
        self.wait_log(
            r"^(Failed|Serial connection established|Connect script failed)", timeout, since=start
        )

    # --- console log ---

    @property
    def console_path(self) -> Path:
        return self.run_dir / "console.log"

    def console_log(self, since: int = 0) -> str:
        """The VM console (boot messages, /init, pppd's debug log) from byte ``since``."""
        try:
            with self.console_path.open("rb") as log:
                log.seek(since)
                return log.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_offset(self) -> int:
        """A mark to pass as ``since``: the log's current size."""
        try:
            return self.console_path.stat().st_size
        except FileNotFoundError:
            return 0

    def console_log_bytes(self) -> bytes:
        """The whole console log, raw."""
        try:
            return self.console_path.read_bytes()
        except FileNotFoundError:
            return b""

    def wait_log(self, pattern: str, timeout: float, since: int = 0) -> re.Match[str]:
        """Wait until ``pattern`` (a regex, multiline) matches the console log after byte
        ``since``; match positions are relative to ``since``. Fails with the log's tail."""
        regex = re.compile(pattern, re.MULTILINE)
        found: list[re.Match[str]] = []

        def matched() -> bool:
            match = regex.search(self.console_log(since))
            found[:] = [match] if match else []
            return bool(found)

        self._poll(matched, timeout, f"/{pattern}/", since)
        return found[0]

    def _poll(
        self, condition: Callable[[], bool], timeout: float, what: str, since: int = 0
    ) -> None:
        """Check ``condition`` on the console log until it holds; fail with the log's tail
        when ``timeout`` passes or qemu dies first."""
        deadline = time.monotonic() + timeout
        while not condition():
            if not self.is_running():
                raise AssertionError(f"the VM died while waiting for {what}:\n{self.tail()}")
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"no {what} in the VM console after {timeout:.0f} s:\n{self.tail(since)}"
                )
            time.sleep(LOG_POLL_INTERVAL)

    def tail(self, since: int = 0, lines: int = 40) -> str:
        """The last ``lines`` lines of the console log after ``since``, for messages."""
        text = self.console_log(since).replace("\r", "")
        return "\n".join(text.splitlines()[-lines:]) or "(console log empty)"

    # --- internals ---

    def _build_dir(self) -> Path:
        return prepare_build_dir(self.scripts / "build", self.workdir)

    def _start_failure(self, what: str, stderr: str | bytes | None) -> str:
        if isinstance(stderr, bytes):
            stderr = stderr.decode(errors="replace")
        return (
            f"pppd VM did not start: {what}\n--- start.sh stderr ---\n"
            f"{(stderr or '').strip()}\n--- console log tail ({self.console_path}) ---\n"
            f"{self.tail()}"
        )


def _start_options(options: dict[str, str | int | bool | None]) -> list[str]:
    args: list[str] = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is not None and value is not False:
            args += [flag, str(value)]
    return args


def _is_qemu(pid: int) -> bool:
    """Whether ``pid`` still is a qemu process (a pid file can outlive its process)."""
    try:
        return b"qemu-system" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
