"""Each vendor's socket and ping commands over a real pty of ``pppbridge simulate``, read
by the product's AT layer (``netstack.at.AtChannel``): tidy and ``--messy`` (replies cut
anywhere, URCs inside responses, the vendor's IPv6 notation), against real UDP and ICMP
sockets in the operator namespace (root) and against the in-process hosts
(``--no-namespace``). One simulator a case; every wait bounded; a namespace the test
made is gone when it ends.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from scapy.layers.dns import DNS, DNSQR

from sim_at_client import AtClient
from sim_process import leaving_no_namespace
from sim_socket_vendors import (
    ALL_URCS,
    DNS6,
    DNS_PORT,
    ECHO4,
    ECHO6,
    ECHO_PORT,
    VENDORS,
    Vendor,
)

HAVE_NAMESPACE = os.geteuid() == 0 and os.path.exists("/dev/net/tun")
NETWORKS = [
    pytest.param(True, id="namespace", marks=pytest.mark.skipif(not HAVE_NAMESPACE, reason="root")),
    pytest.param(False, id="in-process"),
]


class Sockets:
    """One vendor's socket commands on a client (ids as the modem gives them)."""

    def __init__(self, vendor: Vendor, client: AtClient, messy: bool) -> None:
        self.vendor = vendor
        self.client = client
        self.messy = messy

    def setup(self, commands: tuple[str, ...], ident: int) -> None:
        for command in self.vendor.with_id(commands, ident):
            self.client.command(command)

    def open(self, addr: str, port: int, ident: int) -> int:
        vendor = self.vendor
        got = self.client.command(vendor.open.format(id=ident, addr=addr, port=port))
        if vendor.profile == "ublox":
            return int(next(line for line in got if line.startswith("+USOCR:")).split(":")[1])
        if vendor.open_result:
            self.client.wait_urc(vendor.open_result.format(id=ident))
        return ident

    def echo(self, ident: int, data: bytes, addr: str, port: int = ECHO_PORT) -> list[str]:
        """Send ``data``; wait for its ring; the read's lines."""
        vendor = self.vendor
        command = vendor.send.format(id=ident, addr=addr, port=port, len=len(data))
        self.client.send(command, data, vendor.send_final)  # fails unless it succeeds
        self.client.wait_urc(vendor.ring_of(ident, self.messy))
        return self.read(ident)

    def read(self, ident: int, hex_mode: bool = False) -> list[str]:
        most = self.vendor.max_read_hex if hex_mode else self.vendor.max_read
        return self.client.command(self.vendor.read.format(id=ident, max=most))

    def close(self, ident: int) -> None:
        self.client.command(self.vendor.close.format(id=ident))


@pytest.mark.parametrize("namespace", NETWORKS)
@pytest.mark.parametrize("messy", [False, True], ids=["tidy", "messy"])
@pytest.mark.parametrize("vendor", VENDORS.values(), ids=VENDORS)
def test_sockets_and_ping_over_a_pty(
    vendor: Vendor, messy: bool, namespace: bool, tmp_path: Path
) -> None:
    args = ["--profile", vendor.profile, "--attached", "--seed", "3"]
    args += ["--messy"] * messy + ["--no-namespace"] * (not namespace)
    with leaving_no_namespace(tmp_path, *args) as sim:
        client = AtClient(sim.device, ALL_URCS)
        try:
            run_flow(vendor, Sockets(vendor, client, messy), messy)
            status = sim.control("status")
            assert status["network"] == ("namespace" if namespace else "local"), status
        finally:
            client.close()
    transcript = sim.transcript()
    assert "socket" in transcript and "sends 5 bytes" in transcript


def run_flow(vendor: Vendor, sockets: Sockets, messy: bool) -> None:
    client = sockets.client
    client.command("AT+CMEE=1")
    first, second, third = vendor.ids[:3]

    # UDP echo over IPv6, text payloads; then one at the send limit, one past it.
    sockets.setup(vendor.text_mode, first)
    ident6 = sockets.open(ECHO6, ECHO_PORT, first)
    assert vendor.read_data(sockets.echo(ident6, b"hello", ECHO6), False) == b"hello"
    data = bytes(ord("a") + i % 26 for i in range(vendor.max_send))
    assert vendor.read_data(sockets.echo(ident6, data, ECHO6), False) == data[: vendor.max_read]
    too_long = vendor.send.format(id=ident6, addr=ECHO6, port=7, len=vendor.max_send + 1)
    client.command(too_long, expect=("+CME ERROR", "ERROR"))

    # UDP echo over IPv4 on a second socket.
    sockets.setup(vendor.text_mode, second)
    ident4 = sockets.open(ECHO4, ECHO_PORT, second)
    assert vendor.read_data(sockets.echo(ident4, b"four", ECHO4), False) == b"four"

    # The modem's ping, both families.
    for addr in (ECHO6, ECHO4):
        got = client.command(vendor.ping.format(addr=addr))
        if vendor.ping_after_ok:
            got = [client.wait_urc(vendor.ping_reply)]
        assert any(line.startswith(vendor.ping_reply) for line in got), got

    # DNS over IPv6, payloads in hex (binary data is safe on any line that way).
    sockets.setup(vendor.hex_mode, third)
    ident_dns = sockets.open(DNS6, DNS_PORT, third)
    query = bytes(DNS(id=0x0606, rd=1, qd=DNSQR(qname="echo.pppbridge.test", qtype="AAAA")))
    payload = query if vendor.profile == "ublox" else query.hex().upper().encode()
    command = vendor.send.format(id=ident_dns, addr=DNS6, port=DNS_PORT, len=len(query))
    client.send(command, payload, vendor.send_final)
    client.wait_urc(vendor.ring_of(ident_dns, messy))
    response = vendor.read_data(sockets.read(ident_dns, hex_mode=True), True)
    assert response is not None
    answer = DNS(response)
    assert answer.id == 0x0606 and answer.an[0].rdata == ECHO6

    # Close; then every id in use, and one socket more is refused.
    for ident in (ident6, ident4, ident_dns):
        sockets.close(ident)
    client.command(vendor.send.format(id=first, addr=ECHO6, port=7, len=1), ("+CME ERROR", "ERROR"))
    opened = [sockets.open(ECHO6, ECHO_PORT, ident) for ident in vendor.ids]
    one_more = vendor.open.format(id=vendor.ids[-1] + 1, addr=ECHO6, port=ECHO_PORT)
    client.command(one_more, expect=("+CME ERROR",))
    for ident in opened:
        sockets.close(ident)
    if messy and vendor.profile == "ublox":
        client.command("AT+USORF=0,10", expect=("+CME ERROR",))  # closed: refused
