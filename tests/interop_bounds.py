"""Every bound the interop tests wait with, in one place, for tuning.

The pppd VM runs under TCG (software emulation) on one host core. On a loaded 2-core
machine (the full suite running beside the interop tests, a second and third VM
booting) it gets a fraction of a core, and what takes 0.1 s idle can take ten seconds.
Every wait in the harness is on a condition (a console log line, a byte pattern on the
line, a link event) and returns as soon as it holds, so a generous bound costs nothing
when things go well: it only decides how long a real failure takes to be reported.
Rule of thumb: ten times the worst idle time, at least 30 s; more for a boot.

``PPPBRIDGE_INTEROP_SLOWDOWN`` (a factor, default 1) stretches them all, e.g. 3 on an
even slower machine. Nothing here is a sleep: the harness never waits a fixed time for
something to happen. (``ECHO_WATCH`` is a different kind of number: how long a
"nothing goes wrong" property is watched for.)
"""

from __future__ import annotations

import os

SLOWDOWN = max(float(os.environ.get("PPPBRIDGE_INTEROP_SLOWDOWN") or 1), 1.0)
"""Multiplies every bound below (never shrinks them)."""

# --- the VM's life ---

VM_BOOT = 240.0 * SLOWDOWN
"""start.sh until /init's mode loop is ready (idle: about 6 s)."""
VM_STOP = 60.0 * SLOWDOWN
"""stop.sh: SIGTERM, 5 s for qemu to go, then SIGKILL (idle: under 1 s)."""
CTL_ANSWER = 60.0 * SLOWDOWN
"""A ctl.sh command until /init logs its answer (idle: 0.1 s)."""
MODE_READY = 60.0 * SLOWDOWN
"""A mode loop starting again after a hangup or mode switch (idle: under 1 s)."""
CHAT_GONE = 90.0 * SLOWDOWN
"""A left-over chat ending by its own timeouts: AT tried for 12 s (idle: up to 14 s)."""
PPPD_EXIT = 60.0 * SLOWDOWN
"""pppd's exit logged after a hangup or terminate (idle: 0.2 s). pppd killed with -9
exits only when the kernel has unregistered ppp0, which waits for RCU grace periods and
for every reference to the device to go: slow on an emulated CPU starved of time."""

# --- health checks and recovery (conftest.py, vm_recovery.py) ---

HEALTH_PROBE = 30.0 * SLOWDOWN
"""Each step of a health check: ``ctl status`` answered, ``AT`` -> ``OK`` on the line
(idle: 0.1 s). A VM that misses it is reset, and if that fails, rebooted."""

# --- the modem line (serial_pty.py) ---

AT_REPLY = 30.0 * SLOWDOWN
"""An AT command's final result (idle: milliseconds)."""
DIAL = 60.0 * SLOWDOWN
"""``ATD`` until ``CONNECT`` (idle: milliseconds; a simulator may delay on purpose)."""
NO_CARRIER = 60.0 * SLOWDOWN
"""An unsolicited ``NO CARRIER`` after the peer went away (idle: 0.2 s)."""
LINE_WRITE = 30.0 * SLOWDOWN
"""A write to the pty finishing (pyserial's write_timeout; idle: immediate). It blocks
only while the pty's buffer is full because qemu does not read."""
PEER_FIRST_BYTES = 15.0 * SLOWDOWN
"""How long to wait for pppd's first frame before sending ours (idle: 0.1 s). Not a
failure when it passes: it only saves a lost Configure-Request and a 3 s restart."""

# --- PPP over the line (link_runner.py and the tests) ---

LINK_UP = 120.0 * SLOWDOWN
"""Dial until LCP, authentication, IPCP and IPV6CP are all open (idle: 0.1-3 s; a lost
first Configure-Request costs pppd's 3 s restart timer, more than once under load)."""
LINK_DOWN = 60.0 * SLOWDOWN
"""A LinkDown after the peer terminated, hung up or refused us (idle: under 1 s)."""
LOG_LINE = 60.0 * SLOWDOWN
"""pppd's debug line for something that has happened or is about to (idle: 0.1 s)."""
PACKET_REPLY = 60.0 * SLOWDOWN
"""An echo reply through pppd's kernel, the request resent meanwhile (idle: 0.05 s)."""
PACKET_RESEND = 3.0
"""Resend interval for that request: a retry period, not a bound. The first packet
after IPCP/IPV6CP opens can be dropped before pppd's kernel has brought ppp0 up."""
ECHO_REPLIES = 60.0 * SLOWDOWN
"""pppd sending and logging five LCP echo requests at 1 s intervals (idle: 5 s)."""

# --- pppd as the client of our simulator (test_interop_sim_pppd.py) ---

CLIENT_CALL = 120.0 * SLOWDOWN
"""pppd dialling with chat until ip-up, or until it gives up (idle: 2-5 s)."""
SIM_WAIT = 60.0 * SLOWDOWN
"""The simulator's own waits (``ping ... TIMEOUT``, ``wait ipv6 TIMEOUT``), in seconds
as passed on its control socket (idle: under 1 s)."""
ECHO_WATCH = 60.0
"""How long the LCP-echo test watches a healthy link: a property's duration, which
therefore is not stretched."""
