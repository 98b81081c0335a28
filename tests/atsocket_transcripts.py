"""The first steps of each vendor's transcript, byte for byte as at-commands.md gives
them: the host's first datagram "hello" to 2001:db8:1::10 port 5683 from port 40000,
through the socket it opens. Tests go on from there."""

from __future__ import annotations

from atsocket_rig import Rig, udp

HELLO_HEX = "68656C6C6F"
WORLD_HEX = "776F726C64"
OK = "\r\nOK\r\n"


def echoed(command: str, reply: str, echo: bool) -> str:
    return (command + "\r" if echo else "") + reply


def first_send(rig: Rig, commands: tuple[str, ...], send: str, prompt: str, echo: bool) -> None:
    """The host's "hello", ``commands`` answered OK, then ``send`` and its prompt."""
    rig.host(udp(b"hello"))
    for command in commands:
        rig.exchange(command, echoed(command, OK, echo))
    rig.exchange(send, echoed(send, prompt, echo))


def sequans_send(rig: Rig, *, echo: bool = False, prompt: str = "> ", final: str = OK) -> None:
    """Configure (1.1, 1.2) and dial (1.3) socket 1, send (1.4) in hex after the prompt."""
    dial = 'AT+SQNSD=1,1,5683,"2001:db8:1::10",0,40000,1,0'
    setup = ("AT+SQNSCFG=1,1,300,0,600,50", "AT+SQNSCFGEXT=1,1,1,0,0,1", dial)
    first_send(rig, setup, "AT+SQNSSENDEXT=1,5", prompt, echo)
    rig.expect_payload(HELLO_HEX.encode())  # 1.4: 2*<len> hex characters, no terminator
    rig.reply(final)


def telit_send(rig: Rig, *, echo: bool = False, final: str = OK) -> None:
    """#SCFG (2.2), #SCFGEXT (2.3), #SD in command mode (2.4), #SSENDEXT after
    "<CR><LF>> " (2.5)."""
    dial = 'AT#SD=1,1,5683,"2001:db8:1::10",0,40000,1'
    setup = ("AT#SCFG=1,1,300,0,600,50", "AT#SCFGEXT=1,1,1,0,0,1", dial)
    first_send(rig, setup, "AT#SSENDEXT=1,5", "\r\n> ", echo)
    rig.expect_payload(HELLO_HEX.encode())
    rig.reply(final)


def quectel_open(rig: Rig, result: str | None = "+QIOPEN: 0,0") -> None:
    """The +QICFG setup, +QIOPEN's OK and, a second later, its ``result`` (3.2)."""
    rig.host(udp(b"hello"))
    rig.exchange('AT+QICFG="dataformat",1,1', OK)
    rig.exchange('AT+QICFG="viewmode",0', OK)
    rig.exchange('AT+QIOPEN=1,0,"UDP","2001:db8:1::10",5683,40000,0', OK)
    rig.nothing_written()  # the datagram waits for +QIOPEN
    rig.advance(1.0)
    if result is not None:
        rig.reply(f"\r\n{result}\r\n")


def quectel_send(rig: Rig, final: str, prompt: str = "> ") -> None:
    """Then +QISEND, the prompt, the octets in hex ("dataformat" 1, 3.3), ``final``."""
    quectel_open(rig)
    rig.exchange("AT+QISEND=0,5", prompt)
    rig.expect_payload(b"68656C6C6F")
    rig.reply(final)


def ublox_open(rig: Rig, socket: int = 3) -> None:
    """Hex mode (4.2), then +USOCR naming ``socket`` (4.1)."""
    rig.host(udp(b"hello"))
    rig.exchange("AT+UDCONF=1,1", OK)
    rig.exchange("AT+USOCR=17,40000", f"\r\n+USOCR: {socket}\r\n{OK}")


def ublox_send(rig: Rig, socket: int = 3, final: str | None = None, prompt: str = "@") -> None:
    """Then +USOST's "@", 50 ms, the octets (4.3), ``final``."""
    ublox_open(rig, socket)
    rig.exchange(f'AT+USOST={socket},"2001:db8:1::10",5683,5', prompt)
    rig.advance(0.05)
    rig.expect_payload(b"hello")
    rig.reply(final if final is not None else f"\r\n+USOST: {socket},5\r\n{OK}")
