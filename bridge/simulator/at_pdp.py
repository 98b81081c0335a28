"""PDP contexts and packet data: +CGDCONT, +CGAUTH and the vendors' own authentication
commands, +CGACT, +CGPADDR, +CGCONTRDP, +CGPIAF, +CGDATA (3GPP TS 27.007 10.1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netstack.config import AuthProtocol
from netstack.secret import Secret

from .at_basic import sim_error
from .at_commands import handles, int_arg, str_arg
from .at_parser import Command, Form
from .at_results import OK, Reply, cme, info
from .data_session import CallAuth
from .ipv6_notation import Notation, Piaf, ipv4_text, ipv6_text
from .modem_state import PDP_TYPES, Context
from .settings import NetworkAuth

if TYPE_CHECKING:
    from .at_modem import Modem

_MAX_CID = 16
_AUTH_NUMBERS = {0: "none", 1: "pap", 2: "chap"}
_BEARER_ID = 5
_FAMILIES = {4: ("IP", "IPV4V6"), 6: ("IPV6", "IPV4V6")}
"""IP version -> the PDP types that give an address of it."""


@handles("+CGDCONT")
def _cgdcont(modem: Modem, command: Command, now: float) -> Reply:
    if command.form is Form.READ:
        return info(
            *(
                f'+CGDCONT: {cid},"{ctx.pdp_type}","{ctx.apn}","",0,0'
                for cid, ctx in sorted(modem.contexts.items())
            )
        )
    if command.form is Form.TEST:
        return info(*(f'+CGDCONT: (1-{_MAX_CID}),"{kind}",,,(0-2),(0-4)' for kind in PDP_TYPES))
    cid = int_arg(command, 0)
    if cid is None or not 1 <= cid <= _MAX_CID:
        return cme(50)
    if len(command.args) == 1:
        modem.contexts.pop(cid, None)  # 27.007 10.1.1: only <cid> undefines the context
        return OK
    pdp_type = str_arg(command, 1).upper()
    if pdp_type not in PDP_TYPES:
        return cme(50)
    old = modem.contexts.get(cid)
    context = Context(pdp_type, str_arg(command, 2))
    if old is not None:
        context.auth, context.user, context.password = old.auth, old.user, old.password
    modem.contexts[cid] = context
    return OK


@handles("+CGAUTH")
def _cgauth(modem: Modem, command: Command, now: float) -> Reply:
    if command.form is Form.READ:
        # The password is never read back (nor shown anywhere else).
        return info(
            *(
                f'+CGAUTH: {cid},{_auth_number(ctx.auth)},"{ctx.user}"'
                for cid, ctx in sorted(modem.contexts.items())
            )
        )
    if command.form is Form.TEST:
        return info("+CGAUTH: (1-16),(0-2),,")
    return _set_auth(
        modem,
        int_arg(command, 0),
        _AUTH_NUMBERS.get(_number(int_arg(command, 1, 0))),
        str_arg(command, 2),
        str_arg(command, 3),
    )


@handles("VENDOR-AUTH")
def _vendor_auth(modem: Modem, command: Command, now: float) -> Reply:
    spec = modem.profile.vendor_auth
    assert spec is not None
    if command.form is not Form.SET:
        return OK
    cid = int_arg(command, spec.cid)
    if spec.apn is not None and cid is not None and 1 <= cid <= _MAX_CID:
        pdp_type = spec.pdp_types.get(_number(int_arg(command, spec.pdp_type or 0, 1)))
        if pdp_type is None:
            return cme(50)
        old = modem.contexts.get(cid)
        modem.contexts[cid] = Context(pdp_type, str_arg(command, spec.apn))
        if old is not None:
            modem.contexts[cid].active = old.active
    kind = spec.types.get(_number(int_arg(command, spec.auth_type, 0)))
    return _set_auth(modem, cid, kind, str_arg(command, spec.user), str_arg(command, spec.password))


def _set_auth(modem: Modem, cid: int | None, kind: str | None, user: str, password: str) -> Reply:
    if cid is None or kind is None or cid not in modem.contexts:
        return cme(50)
    context = modem.contexts[cid]
    context.auth, context.user, context.password = kind, user, Secret(password)
    return OK


def _number(value: int | None) -> int:
    """-1 (in no table) for a parameter that is not a number."""
    return -1 if value is None else value


def _auth_number(kind: str) -> int:
    return {"pap": 1, "chap": 2}.get(kind, 0)


def call_auth(modem: Modem, context: Context) -> CallAuth:
    """What the network asks of the PPP client: the context's own authentication if it
    has one (+CGAUTH or the vendor's command), otherwise the simulator's default."""
    if context.auth == "unset":
        kind = {NetworkAuth.PAP: "pap", NetworkAuth.CHAP: "chap"}.get(modem.settings.auth, "none")
        user, password = modem.settings.user, modem.settings.password
    else:
        kind, user, password = context.auth, context.user, context.password
    protocol = {
        "pap": AuthProtocol.PAP,
        "chap": AuthProtocol.CHAP_MD5,
        "auto": AuthProtocol.CHAP_MD5,
    }.get(kind)
    return CallAuth(protocol, user, password)


@handles("+CGACT")
def _cgact(modem: Modem, command: Command, now: float) -> Reply:
    if command.form is Form.READ:
        return info(
            *(f"+CGACT: {cid},{int(ctx.active)}" for cid, ctx in sorted(modem.contexts.items()))
        )
    if command.form is Form.TEST:
        return info("+CGACT: (0,1)")
    state = int_arg(command, 0)
    cids = [arg for arg in command.args[1:] if isinstance(arg, int)] or list(modem.contexts)
    if state not in (0, 1) or any(cid not in modem.contexts for cid in cids):
        return cme(50)
    if error := sim_error(modem):
        return error
    if state == 1:
        for cid in cids:
            if error := activation_error(modem, modem.contexts[cid]):
                return error
    for cid in cids:
        set_active(modem, cid, bool(state), now, "+CGACT=0")
    return OK


def granted_type(modem: Modem, context: Context) -> str | None:
    """The PDP type the network grants: an IPv6-only network (``--ipv6-only``) makes
    IPV4V6 into IPV6 and refuses IP (None)."""
    if not modem.settings.ipv6_only:
        return context.pdp_type
    return {"IP": None, "IPV6": "IPV6", "IPV4V6": "IPV6"}.get(context.pdp_type)


def activation_error(modem: Modem, context: Context) -> Reply | None:
    """Why the network refuses to activate ``context`` now, or None."""
    if error := sim_error(modem):
        return error
    if not modem.radio.service:
        return cme(30)
    if modem.faults.pdp_refuse or granted_type(modem, context) is None:
        modem.note("fault", "PDP activation refused by the network")
        return cme(modem.settings.refuse_code)
    return None


def context_families(modem: Modem, cid: int) -> set[int]:
    """The IP versions context ``cid`` has addresses of now (empty: not active)."""
    context = modem.contexts.get(cid)
    if context is None or not context.active:
        return set()
    kind = granted_type(modem, context) or ""
    return {version for version, kinds in _FAMILIES.items() if kind in kinds}


def set_active(modem: Modem, cid: int, active: bool, now: float, command: str) -> None:
    """Activate or deactivate context ``cid`` (+CGACT and the vendors' own commands):
    deactivating ends the call on it and closes the modem's sockets on it."""
    modem.contexts[cid].active = active
    if not active:
        if modem.session is not None and cid == modem.session_cid:
            modem.hang_up(now, command)  # deactivating its context ends the call
        modem.stack.close_context(cid)


@handles("+CGPIAF")
def _cgpiaf(modem: Modem, command: Command, now: float) -> Reply:
    if command.form is Form.READ:
        return info(modem.piaf.read_reply())
    if command.form is Form.TEST:
        return info("+CGPIAF: (0-1),(0-1),(0-1),(0-1)")
    flags = [int_arg(command, index, 0) for index in range(4)]
    if any(flag not in (0, 1) for flag in flags) or len(command.args) > 4:
        return cme(50)
    modem.piaf = Piaf(*(bool(flag) for flag in flags))
    return OK


def _addresses(modem: Modem, context: Context, prefixlen: bool) -> tuple[str | None, str | None]:
    plan = modem.plan
    notation = modem.profile.messy_ipv6 if modem.messy else Notation.PIAF
    v4 = v6 = None
    kind = granted_type(modem, context)
    if kind in ("IP", "IPV4V6"):
        v4 = ipv4_text(plan.client_ipv4, 32 if prefixlen else None)
    if kind in ("IPV6", "IPV4V6"):
        v6 = ipv6_text(
            plan.client_global_ipv6,
            modem.piaf,
            notation,
            plan.client_prefix.prefixlen if prefixlen else None,
        )
    return v4, v6


@handles("+CGPADDR")
def _cgpaddr(modem: Modem, command: Command, now: float) -> Reply:
    if command.form is Form.TEST:
        return info(f"+CGPADDR: ({','.join(str(cid) for cid in sorted(modem.contexts))})")
    cids = [arg for arg in command.args if isinstance(arg, int)] or sorted(modem.contexts)
    lines = []
    for cid in cids:
        context = modem.contexts.get(cid)
        if context is None:
            return cme(50)
        if not context.active:
            lines.append(f"+CGPADDR: {cid}")
            continue
        v4, v6 = _addresses(modem, context, prefixlen=False)
        if modem.messy and modem.profile.combined_addresses and v4 and v6:
            lines.append(f'+CGPADDR: {cid},"{v4} {v6}"')  # one quoted string, both families
        else:
            lines.append(f"+CGPADDR: {cid}," + ",".join(f'"{a}"' for a in (v4, v6) if a))
    return info(*lines)


@handles("+CGCONTRDP")
def _cgcontrdp(modem: Modem, command: Command, now: float) -> Reply:
    if command.form is Form.TEST:
        active = [str(cid) for cid, ctx in sorted(modem.contexts.items()) if ctx.active]
        return info(f"+CGCONTRDP: ({','.join(active)})")
    cids = [arg for arg in command.args if isinstance(arg, int)] or sorted(modem.contexts)
    plan, lines = modem.plan, []
    for cid in cids:
        context = modem.contexts.get(cid)
        if context is None or not context.active:
            continue
        v4, v6 = _addresses(modem, context, prefixlen=True)
        head = f'+CGCONTRDP: {cid},{_BEARER_ID},"{context.apn}"'
        if v4:
            dns = ",".join(f'"{server}"' for server in plan.dns_ipv4[:2])
            lines.append(f'{head},"{v4}","{plan.gateway_ipv4}",{dns}')
        if v6:
            notation = modem.profile.messy_ipv6 if modem.messy else Notation.PIAF
            dns = ",".join(
                f'"{ipv6_text(server, modem.piaf, notation)}"' for server in plan.dns_ipv6
            )
            gateway = ipv6_text(plan.gateway_link_local, modem.piaf, notation)
            lines.append(f'{head},"{v6}","{gateway}",{dns}')
    if not lines and command.args:
        return cme(50)
    return info(*lines)


@handles("+CGDATA")
def _cgdata(modem: Modem, command: Command, now: float) -> Reply:
    if command.form is Form.TEST:
        return info('+CGDATA: ("PPP")')
    if str_arg(command, 0, "PPP").upper() not in ("PPP", "M-PPP"):
        return cme(50)
    cid = int_arg(command, 1, 1)
    if cid is None:
        return cme(50)
    return modem.dial(cid, now)
