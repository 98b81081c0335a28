"""Drive the pppd test VM (``../shared/pppd-vm``) from tests.

The VM runs Debian's pppd 2.4.9 behind a host pseudo-terminal; its README describes the
modem it plays and the control commands. This module wraps its scripts:

    vm = PppdVm(workdir)
    pty = vm.start()                      # boots (about 5 s under TCG), returns the pty path
    mark = vm.log_offset()
    ...                                   # dial on the pty, speak PPP
    vm.wait_log(r"rcvd \\[LCP ConfReq", timeout=10, since=mark)
    vm.ctl("options", "local noauth passive 192.0.2.1:192.0.2.2 debug")
    vm.stop()

Call order: ``start`` once, then any number of ``ctl``/``wait_log``, then ``stop`` (also
safe when ``start`` failed or was never called). One VM serves many test cases: reset
pppd's options with ``ctl("defaults")`` instead of rebooting.

Waiting on the console log polls the file with a short, bounded interval: it is written
by qemu, so there is nothing to select on.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_ENV = "PPPBRIDGE_SHARED"
"""Environment variable naming the shared/ directory (default: ``<repo>/../shared``)."""

REQUIRED_TOOLS = {"qemu-system-x86_64": "qemu-system-x86", "socat": "socat"}
"""Program the VM scripts run -> the Debian package that provides it."""

START_TIMEOUT = 90.0
"""start.sh boots the VM and waits for the modem loop; it takes about 5 s under TCG."""
CTL_TIMEOUT = 10.0
"""How long a control command may take to show its answer in the console log."""
CHAT_TIMEOUT = 20.0
"""Longest a left-over chat runs: the default script tries AT for 12 s."""
LOG_POLL_INTERVAL = 0.05
MODE_READY = {
    "server": "pppd-vm: modem: waiting for AT commands",
    "client": "pppd-vm: client: ready",
}
"""What /init prints once the loop of each mode is running."""


class VmStartError(RuntimeError):
    """The VM did not come up; the message carries start.sh's output and the console."""


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
        self.pty: str | None = None
        """The host end of the VM's ttyS1, once started."""
        self.mode: str | None = None
        """"server" or "client": the mode /init is in (boot mode, then ``ctl mode``)."""
        self.boot_mode: str | None = None
        self._boot_secret = ("test", "secret")  # /init's default user and password
        self._changed: set[str] = set()  # what reset() must undo: "options", "secret"

    # --- lifecycle ---

    def start(self, mode: str = "server", **options: str | int | bool | None) -> str:
        """Boot the VM and return the pty path. ``options`` are start.sh's long options
        with ``_`` for ``-``: ``auth="chap"``, ``lcp_echo=1``, ``persist=True``,
        ``pppopts="..."``, ``extra="..."``, ``redial="manual"``... (None/False: omitted)."""
        if self.pty is not None:
            raise RuntimeError("this VM is already started")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PPPD_VM_BUILD=str(self._build_dir()))
        command = [str(self.scripts / "start.sh"), "--mode", mode, "--run-dir", str(self.run_dir)]
        command += _start_options(options)
        atexit.register(self.stop)
        try:
            result = subprocess.run(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            failure = self._start_failure(f"start.sh timed out after {exc.timeout} s", exc.stderr)
            self.stop()  # after reading the console: stop() may remove the work directory
            raise VmStartError(failure) from None
        lines = result.stdout.split()
        if result.returncode != 0 or not lines or not lines[-1].startswith("/dev/"):
            failure = self._start_failure(
                f"start.sh exited with status {result.returncode}", result.stderr
            )
            self.stop()
            raise VmStartError(failure)
        self.pty = lines[-1]
        self.mode = self.boot_mode = mode
        self._boot_secret = (
            str(options.get("user") or "test"),
            str(options.get("password") or "secret"),
        )
        return self.pty

    def stop(self) -> None:
        """Stop the VM (idempotent) and remove a work directory this object created."""
        atexit.unregister(self.stop)
        if self.run_dir.exists():
            subprocess.run(
                [str(self.scripts / "stop.sh"), "--run-dir", str(self.run_dir)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=30,
                check=False,
            )
        self.pty = None
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def is_running(self) -> bool:
        try:
            pid = int((self.run_dir / "qemu.pid").read_text())
        except (OSError, ValueError):
            return False
        return os.path.exists(f"/proc/{pid}")

    def __enter__(self) -> PppdVm:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- control ---

    def ctl(self, command: str, *args: str, timeout: float = CTL_TIMEOUT) -> str:
        """Run ``ctl.sh COMMAND ARGS`` and wait for /init's answer in the console log, so
        that the command has taken effect when this returns. Returns the answer line
        (e.g. "pppd-vm: ctl: hangup 123")."""
        mark = self.log_offset()
        subprocess.run(
            [str(self.scripts / "ctl.sh"), command, *args, "--run-dir", str(self.run_dir)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=True,
        )
        # A whole line only: the log may hold half of it while qemu is still writing.
        answer = self.wait_log(r"^pppd-vm: ctl: [^\r\n]*\r?\n", timeout, since=mark)[0].strip()
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

    def hangup(self) -> bool:
        """Kill pppd as a carrier loss would (no LCP Terminate); False when none ran."""
        return not self.ctl("hangup").endswith(" none")

    def reset(self) -> None:
        """Back to the boot-time state between test cases, without a reboot: no pppd
        running, the boot mode with its options and secret. Cheap when nothing changed."""
        mark = self.log_offset()
        was_client = self.mode == "client"
        restarted = self.hangup()
        if self.mode != self.boot_mode:
            self.ctl("mode", str(self.boot_mode))
            restarted = True
        if was_client:
            self._wait_chat_gone()
        if "options" in self._changed:
            self.ctl("defaults")
        if "secret" in self._changed:
            self.ctl("secret", *self._boot_secret)
            self._changed.discard("secret")
        if restarted:
            self.wait_log(re.escape(MODE_READY[str(self.boot_mode)]), 30, since=mark)

    def _wait_chat_gone(self, timeout: float = CHAT_TIMEOUT) -> None:
        """Killing pppd (hangup, mode switch) leaves its connect script running: chat
        keeps reading the line and sending "AT" until its own timeouts end it (about 12 s
        with the default script). Wait for chat's last run to end, if it started."""
        log = self.console_path.read_bytes() if self.console_path.exists() else b""
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

    def wait_log(self, pattern: str, timeout: float, since: int = 0) -> re.Match[str]:
        """Wait until ``pattern`` (a regex, multiline) matches the console log after byte
        ``since``; match positions are relative to ``since``. Fails with the log's tail."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.console_log(since))
            if match:
                return match
            if not self.is_running():
                raise AssertionError(f"the VM died while waiting for /{pattern}/:\n{self.tail()}")
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"no /{pattern}/ in the VM console after {timeout} s:\n{self.tail(since)}"
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
