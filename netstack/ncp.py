"""What every negotiator shares: judging a Configure-Request one option at a time, and
(for the NCPs) having no codes beyond 7."""

from __future__ import annotations

from .fsm import Event, Notice, State, Unhandled
from .numbers import Code
from .packet import ControlPacket, Option, judge_request


class OptionJudge:
    """Base for negotiators that judge the peer's request option by option."""

    def _judge(self, option: Option) -> Option | None:
        """The option (acceptable), a replacement (Nak) or None (Reject)."""
        raise NotImplementedError

    def check_request(self, options: list[Option], reject_naks: bool) -> tuple[Code, list[Option]]:
        code, reply = judge_request(options, self._judge, reject_naks)
        return Code(code), reply


class NcpNegotiator(OptionJudge):
    """An NCP has only codes 1 to 7 (RFC 1332 2, RFC 5072 3): everything else is
    Code-Rejected, and there is no Echo."""

    def classify_extra(self, packet: ControlPacket, state: State) -> Event | Unhandled:
        return Unhandled.UNKNOWN_CODE

    def echo_reply(self, request: ControlPacket) -> bytes | None:
        return None

    def take_notices(self) -> list[Notice]:
        return []
