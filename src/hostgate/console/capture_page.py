"""The console's Capture page (issue #22): ``hostgate model capture`` in the browser, on the same engine.

``GET /console/capture`` is the page (the start form when this login has no capture on the serving member,
else the live capture) and its JSON twin. The actions are JSON POSTs under ``/console/capture/``: each finds
the console login (cookie) and checks its CSRF header *before* reading the body, caps the body, decodes it
into a typed request (unknown fields refused), validates every field against the live screen, and refuses the
request whole with the field named (HG-3386) before anything is sent to the host or recorded. Only Developer
and Administrator logins capture (HG-3002 otherwise, audited like every refused console change).

What leaves the member never carries what was typed into a hidden field: the screen's hidden fields are
masked cell by cell (session/screens.py, the Sessions page's masking), a secret input is shown as ``****``
(the engine keeps no text for it), the audit entries name the user, the host and the model only, and the
model file makes such a value a hidden variable with no default (capture/writer.py).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hostgate.capture import (
    AttributeDraft,
    ColumnDraft,
    EntityDraft,
    OperationDraft,
    RecordsetDraft,
    Typed,
    ValueChoice,
    ValueKind,
)
from hostgate.capture.faces import is_name, parse_rule, recognised, rule_text, terminal_for
from hostgate.console.capture import Capture, Captures, login_key
from hostgate.console.sessions import check_csrf
from hostgate.console.web import COOKIE, Ctx, Page, Views, payload_of, security_headers
from hostgate.errors import (
    BodyTooLarge,
    CaptureFieldInvalid,
    CaptureNotOpen,
    CaptureOff,
    ConsoleLoginRequired,
    HostgateError,
    UsageError,
)
from hostgate.hosts import Screen
from hostgate.hosts.masking import masked_lines
from hostgate.management.access import Profile
from hostgate.models import HOST_KEYS, KNOWN_TERMINALS, HostType, Key

__all__ = ["capture_routes"]

_LIMIT = 64 * 1024  # every action but start
_START_LIMIT = 1024 * 1024  # start may carry a model file's text to resume
_SECRET = "****"
_TEXT_MAX = 2000


# ---- requests (decoded and type-checked by msgspec; then checked against the screen) -----------------------


class _Req(msgspec.Struct, forbid_unknown_fields=True):
    pass


class StartReq(_Req):
    host: str
    type: str
    model: str = "captured"
    terminal: str = ""
    resume: str = ""


class TypeReq(_Req):
    text: str
    row: int | None = None
    col: int | None = None


class KeyReq(_Req):
    key: str


class CursorReq(_Req):
    row: int
    col: int


class NameReq(_Req):
    name: str


class EmptyReq(_Req):
    pass


class ChoiceReq(_Req):
    kind: str
    name: str = ""


class OperationReq(_Req):
    name: str
    choices: list[ChoiceReq] = []


class AttributeReq(_Req):
    name: str
    row: int
    col: int
    length: int
    writable: bool = False  # VT only: block-mode hosts take it from the field map
    hidden: bool = (
        False  # accepted so a proposal's attribute can be sent back as it is; the field map decides
    )


class ColumnReq(_Req):
    name: str
    col: int
    length: int


class RecordsetReq(_Req):
    name: str
    top: int
    bottom: int
    next_page: str = ""
    previous_page: str = ""
    columns: list[ColumnReq] | None = None


class EntityReq(_Req):
    name: str
    rules: list[str]
    attributes: list[AttributeReq] = []
    recordsets: list[RecordsetReq] = []
    operation: OperationReq | None = None


R = TypeVar("R", bound=_Req)
_AT = re.compile(r"at `\$\.?([^`]*)`")
_NAMED = re.compile(r"(?:missing required|unknown) field `([^`]+)`")


def _decode(body: bytes, kind: type[R]) -> R:
    try:
        return msgspec.json.decode(body or b"{}", type=kind)
    except msgspec.ValidationError as exc:
        found = _AT.search(str(exc))
        where = found.group(1) if found else ""
        named = _NAMED.search(str(exc))  # a missing or unknown field is named in the message, not the path
        if named is not None:
            where = f"{where}.{named.group(1)}" if where else named.group(1)
        where = where or "body"
        why = str(exc).split(" - at ")[0]
        raise CaptureFieldInvalid(f"field {where!r}: {why}", field=where) from None
    except msgspec.DecodeError:
        raise CaptureFieldInvalid("the request body is not a JSON object", field="body") from None


# ---- what the page shows ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CellField:
    row: int
    col: int
    length: int
    protected: bool
    hidden: bool


@dataclass(frozen=True, slots=True)
class ScreenOut:
    rows: int
    cols: int
    lines: tuple[str, ...]  # hidden fields masked cell by cell
    cursor: tuple[int, int]
    keyboard_locked: bool
    fields: tuple[CellField, ...]


@dataclass(frozen=True, slots=True)
class InputOut:
    kind: str  # "typed" | "key"
    text: str  # typed text ("****" for a secret), or the key's name
    row: int = 0
    col: int = 0
    secret: bool = False


@dataclass(frozen=True, slots=True)
class EntityOut:
    name: str
    rules: tuple[str, ...]
    attributes: tuple[str, ...]
    recordsets: tuple[str, ...]
    operations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CaptureOut:
    user: str
    host: str
    type: str
    terminal: str
    model: str
    block_mode: bool
    keys: tuple[str, ...]  # the keys this host type takes
    screen: ScreenOut
    here: str  # the captured entity this screen is ("" when none)
    current: str  # where the pending inputs start from ("" before the first entity)
    pending: tuple[InputOut, ...]
    entities: tuple[EntityOut, ...]
    marked_attributes: tuple[str, ...]  # marked on this screen, joining the next entity marked here
    marked_recordsets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CapturePage:
    enabled: bool
    off: dict[str, str] | None  # HG-3381 (code, message, hint) when capture is off on this member
    hosts: tuple[str, ...]
    types: tuple[str, ...]
    terminals: dict[str, tuple[str, ...]]
    capture: CaptureOut | None


def screen_out(screen: Screen) -> ScreenOut:
    fields = tuple(CellField(f.row, f.col, f.length, f.protected, f.hidden) for f in screen.fields)
    return ScreenOut(
        screen.rows, screen.cols, masked_lines(screen), screen.cursor, screen.keyboard_locked, fields
    )


def _input_out(item: Typed | Key) -> InputOut:
    if isinstance(item, Typed):
        return InputOut("typed", _SECRET if item.secret else item.text, item.row, item.col, item.secret)
    return InputOut("key", item.value)


def capture_out(capture: Capture) -> CaptureOut:
    r = capture.recorder
    entities = []
    model = r.model() if r.entities else None
    for draft in r.entities:
        ops: tuple[str, ...] = ()
        if model is not None:
            found = model.entity(draft.name)
            if found is not None:
                ops = tuple(f"{o.name} → {', '.join(o.destinations)}" for o in found.operations)
        entities.append(
            EntityOut(
                draft.name,
                tuple(rule_text(x) for x in draft.rules),
                tuple(f"{a.name} ({a.row},{a.col}) ×{a.length}" for a in draft.attributes),
                tuple(f"{s.name} rows {s.top}-{s.bottom}" for s in draft.recordsets),
                ops,
            )
        )
    spec = capture.spec
    return CaptureOut(
        capture.user,
        capture.host,
        spec.type.value,
        spec.terminal.type,
        capture.model,
        spec.type is not HostType.VT,
        tuple(k.value for k in Key if k in HOST_KEYS[spec.type]),
        screen_out(r.screen),
        recognised(r) or "",
        r.current or "",
        tuple(_input_out(i) for i in r.pending),
        tuple(entities),
        tuple(f"{a.name} ({a.row},{a.col}) ×{a.length}" for a in capture.state.regions),
        tuple(f"{s.name} rows {s.top}-{s.bottom}" for s in capture.state.recordsets),
    )


def _draft_out(draft: EntityDraft, also: tuple[str, ...], op: OperationDraft | None) -> dict[str, Any]:
    return {
        "name": draft.name,
        "rules": [rule_text(x) for x in draft.rules],
        "also_matches": list(also),
        "attributes": [
            {
                "name": a.name,
                "row": a.row,
                "col": a.col,
                "length": a.length,
                "writable": a.writable,
                "hidden": a.hidden,
            }
            for a in draft.attributes
        ],
        "recordsets": [_recordset_out(s) for s in draft.recordsets],
        "operation": _operation_out(op) if op is not None else None,
    }


def _recordset_out(s: RecordsetDraft) -> dict[str, Any]:
    return {
        "name": s.name,
        "top": s.top,
        "bottom": s.bottom,
        "next_page": s.next_page.value if s.next_page else "",
        "previous_page": s.previous_page.value if s.previous_page else "",
        "columns": [
            {"name": c.name, "col": c.col, "length": c.length, "type": c.type.value} for c in s.columns
        ],
        "end_of_data": [rule_text(x) for x in s.end_of_data],
    }


def _operation_out(op: OperationDraft) -> dict[str, Any]:
    typed = [i for i in op.inputs if isinstance(i, Typed)]
    return {
        "source": op.source,
        "name": op.name,
        "destination": op.destination,
        "inputs": [msgspec.to_builtins(_input_out(i)) for i in op.inputs],
        "values": [
            {
                "row": t.row,
                "col": t.col,
                "text": _SECRET if t.secret else t.text,
                "secret": t.secret,
                "kind": c.kind.value,
                "name": c.name,
            }
            for t, c in zip(typed, op.choices, strict=False)
        ],
    }


# ---- checks against the live screen -------------------------------------------------------------------------


def _name(value: str, where: str) -> str:
    value = value.strip()
    if not is_name(value) or len(value) > 64:
        raise CaptureFieldInvalid(
            f"field {where!r}: a name is letters, digits and _ (not starting with a digit), at most 64",
            field=where,
        )
    return value


def _position(screen: Screen, row: int, col: int, where: str) -> None:
    if not 1 <= row <= screen.rows:
        raise CaptureFieldInvalid(
            f"field '{where}row': {row} is outside 1-{screen.rows}", field=f"{where}row"
        )
    if not 1 <= col <= screen.cols:
        raise CaptureFieldInvalid(
            f"field '{where}col': {col} is outside 1-{screen.cols}", field=f"{where}col"
        )


def _key(capture: Capture, value: str, where: str, *, optional: bool = False) -> Key | None:
    if optional and value.strip() in ("", "-"):
        return None
    key = next((k for k in Key if k.value.lower() == value.strip().lower()), None)
    if key is None or key not in HOST_KEYS[capture.spec.type]:
        raise CaptureFieldInvalid(
            f"field {where!r}: not a key of a {capture.spec.type.value} host", field=where
        )
    return key


def _attribute(capture: Capture, a: AttributeReq, where: str) -> AttributeDraft:
    screen = capture.recorder.screen
    name = _name(a.name, f"{where}name")
    _position(screen, a.row, a.col, where)
    if not 1 <= a.length <= screen.cols - a.col + 1:
        raise CaptureFieldInvalid(
            f"field '{where}length': {a.length} is outside 1-{screen.cols - a.col + 1}",
            field=f"{where}length",
        )
    draft = capture.recorder.propose_attribute(name, a.row, a.col, a.length)
    if not screen.fields:
        # No field map (VT): only the user knows whether the host takes input there.
        draft = dataclasses.replace(draft, writable=a.writable)
    return draft  # block mode: writable and hidden come from the field map, never from the request


def _recordset(capture: Capture, s: RecordsetReq, where: str) -> RecordsetDraft:
    screen = capture.recorder.screen
    name = _name(s.name, f"{where}name")
    for part, value in (("top", s.top), ("bottom", s.bottom)):
        if not 1 <= value <= screen.rows:
            raise CaptureFieldInvalid(
                f"field '{where}{part}': {value} is outside 1-{screen.rows}", field=f"{where}{part}"
            )
    if s.bottom < s.top:
        raise CaptureFieldInvalid(f"field '{where}bottom': above the top row", field=f"{where}bottom")
    draft = capture.recorder.propose_recordset(name, s.top, s.bottom)
    columns = draft.columns
    if s.columns is not None:
        typed = {c.col: c.type for c in draft.columns}
        chosen = []
        for i, c in enumerate(s.columns):
            at = f"{where}columns[{i}]."
            cname = _name(c.name, f"{at}name")
            if not 1 <= c.col <= screen.cols or not 1 <= c.length <= screen.cols - c.col + 1:
                raise CaptureFieldInvalid(f"field '{at}col': outside the screen", field=f"{at}col")
            chosen.append(ColumnDraft(cname, c.col, c.length, typed.get(c.col, draft.columns[0].type)))
        if not chosen:
            raise CaptureFieldInvalid(f"field '{where}columns': at least one column", field=f"{where}columns")
        columns = tuple(chosen)
    return dataclasses.replace(
        draft,
        columns=columns,
        next_page=_key(capture, s.next_page, f"{where}next_page", optional=True),
        previous_page=_key(capture, s.previous_page, f"{where}previous_page", optional=True),
    )


def _operation(capture: Capture, o: OperationReq, destination: str) -> OperationDraft:
    name = _name(o.name, "operation.name")
    draft = capture.recorder.propose_operation(name, destination)
    typed = [i for i in draft.inputs if isinstance(i, Typed)]
    if len(o.choices) != len(typed):
        raise CaptureFieldInvalid(
            f"field 'operation.choices': {len(typed)} typed values need a choice each, got {len(o.choices)}",
            field="operation.choices",
        )
    kinds = {k.value: k for k in ValueKind}
    chosen = []
    for i, (step, c) in enumerate(zip(typed, o.choices, strict=True)):
        where = f"operation.choices[{i}]."
        kind = kinds.get(c.kind)
        if kind is None:
            raise CaptureFieldInvalid(f"field '{where}kind': one of {', '.join(kinds)}", field=f"{where}kind")
        if step.secret:
            # Typed into a hidden field: the text was never kept, so only a hidden variable can carry it.
            kind = ValueKind.HIDDEN_VARIABLE
        if kind is ValueKind.LITERAL:
            chosen.append(ValueChoice(kind))
            continue
        proposed = draft.choices[i].name if i < len(draft.choices) else ""
        chosen.append(ValueChoice(kind, _name(c.name or proposed, f"{where}name")))
    return dataclasses.replace(draft, choices=tuple(chosen))


# ---- the routes ---------------------------------------------------------------------------------------------


class CapturePages:
    def __init__(self, views: Views, captures: Captures) -> None:
        self.views = views
        self.captures = captures

    # -- the page (GET) --
    async def page(self, ctx: Ctx) -> Page:
        ctx.service.access.require(ctx.who, Profile.DEVELOPER)
        login = login_key(ctx.request.cookies.get(COOKIE, ""))
        found = self.captures.find(login) if self.captures.enabled else None
        if found is not None:
            found.last_used = self.captures.now()  # opening the page is a request of the capture too
        off = None
        if not self.captures.enabled:
            off = payload_of(
                CaptureOff(f"capture from the console is off on this member {ctx.service.member_name}")
            )
        data = CapturePage(
            self.captures.enabled,
            off,
            self.captures.hosts,
            tuple(t.value for t in HostType),
            {t.value: tuple(KNOWN_TERMINALS[t]) for t in HostType},
            capture_out(found) if found is not None else None,
        )
        return Page("capture.html", "Capture a model", data)

    async def download(self, request: Request) -> Response:
        try:
            _session, principal = self.views.sessions.find(request.cookies.get(COOKIE))
            self.views.service.access.require(principal, Profile.DEVELOPER)
            capture = self.captures.get(login_key(request.cookies.get(COOKIE, "")))
            async with capture.lock:
                text = capture.recorder.model_yaml()
        except HostgateError as exc:
            return security_headers(JSONResponse(payload_of(exc), status_code=exc.http_status))
        filename = re.sub(r"[^A-Za-z0-9_.-]", "_", capture.model) + ".yaml"
        return security_headers(
            Response(
                text,
                media_type="application/yaml; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        )

    # -- the actions (POST, JSON) --
    def action(
        self,
        name: str,
        kind: type[R],
        handler: Callable[[Ctx, str, R], Awaitable[dict[str, Any]]],
        limit: int = _LIMIT,
    ) -> Callable[[Request], Awaitable[Response]]:
        views = self.views

        async def endpoint(request: Request) -> Response:
            ctx = Ctx(request, views.service, views.sessions)
            try:
                # Who first, then the CSRF header, then the body (capped while it is read).
                ctx.session, ctx.principal = views.sessions.find(request.cookies.get(COOKIE))
                check_csrf(ctx.session, request.headers.get("x-csrf-token"))
                ctx.service.access.require(ctx.who, Profile.DEVELOPER)
                body = await _read(request, limit)
                req = _decode(body, kind)
                await views._activity(request, ctx.session)
                done = await handler(ctx, login_key(request.cookies.get(COOKIE, "")), req)
            except ConsoleLoginRequired as exc:
                return security_headers(JSONResponse(exc.to_payload(), status_code=exc.http_status))
            except HostgateError as exc:
                views._audit_refusal(ctx, f"/console/capture/{name}", exc)
                return security_headers(JSONResponse(payload_of(exc), status_code=exc.http_status))
            return security_headers(JSONResponse(done))

        return endpoint

    def _state(self, capture: Capture, done: str, **extra: Any) -> dict[str, Any]:
        return {"done": done, "capture": msgspec.to_builtins(capture_out(capture)), **extra}

    async def _locked(
        self, login: str, work: Callable[[Capture], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        capture = self.captures.get(login)
        async with capture.lock:
            if capture.closed:  # it ended (idle, logout, stop) while this request waited for the lock
                raise CaptureNotOpen("this capture ended while the request waited")
            return await work(capture)

    async def start(self, ctx: Ctx, login: str, req: StartReq) -> dict[str, Any]:
        self.captures.allowed(req.host)  # HG-3381/3382 before any other field is looked at
        try:
            kind = HostType(req.type)
        except ValueError:
            raise CaptureFieldInvalid("field 'type': one of 3270, 5250, vt", field="type") from None
        try:
            terminal = terminal_for(kind, req.terminal.strip() or None, None)
        except UsageError as exc:
            raise CaptureFieldInvalid(f"field 'terminal': {exc.message}", field="terminal") from None
        model = _name(req.model, "model")
        capture = await self.captures.start(
            login, user=ctx.who.name, host=req.host, kind=kind, terminal=terminal, model=model,
            resume_text=req.resume,
        )  # fmt: skip
        ctx.service.audit.record(
            actor=ctx.who.name, action="console.capture.start", target=req.host, source=ctx.source,
            detail={"type": kind.value, "model": model, "member": ctx.service.member_name},
        )  # fmt: skip
        return self._state(capture, f"capture of {req.host} started")

    async def end(self, ctx: Ctx, login: str, req: EmptyReq) -> dict[str, Any]:
        self.captures.get(login)
        await self.captures.end(login, "ended")
        return {"done": "capture ended"}

    async def type_text(self, ctx: Ctx, login: str, req: TypeReq) -> dict[str, Any]:
        if not req.text or len(req.text) > _TEXT_MAX or not req.text.isprintable():
            # The message never repeats the text: it may be a password.
            raise CaptureFieldInvalid(f"field 'text': 1-{_TEXT_MAX} printable characters", field="text")

        async def work(capture: Capture) -> dict[str, Any]:
            r = capture.recorder
            if (req.row is None) != (req.col is None):
                raise CaptureFieldInvalid("field 'col': give row and col together", field="col")
            if req.row is not None and req.col is not None:
                _position(r.screen, req.row, req.col, "")
                await r.move_cursor(req.row, req.col)
            await r.type_text(req.text)
            return self._state(capture, "typed")

        return await self._locked(login, work)

    async def press(self, ctx: Ctx, login: str, req: KeyReq) -> dict[str, Any]:
        async def work(capture: Capture) -> dict[str, Any]:
            key = _key(capture, req.key, "key")
            assert key is not None
            await capture.recorder.press(key)
            return self._state(capture, f"pressed {key.value}")

        return await self._locked(login, work)

    async def cursor(self, ctx: Ctx, login: str, req: CursorReq) -> dict[str, Any]:
        async def work(capture: Capture) -> dict[str, Any]:
            _position(capture.recorder.screen, req.row, req.col, "")
            await capture.recorder.move_cursor(req.row, req.col)
            return self._state(capture, f"cursor at row {req.row}, column {req.col}")

        return await self._locked(login, work)

    async def refresh(self, ctx: Ctx, login: str, req: EmptyReq) -> dict[str, Any]:
        async def work(capture: Capture) -> dict[str, Any]:
            await capture.recorder.refresh()
            return self._state(capture, "screen read again")

        return await self._locked(login, work)

    async def discard(self, ctx: Ctx, login: str, req: EmptyReq) -> dict[str, Any]:
        async def work(capture: Capture) -> dict[str, Any]:
            capture.recorder.discard_pending()
            capture.state.operation = None
            return self._state(capture, "pending inputs discarded")

        return await self._locked(login, work)

    async def propose_entity(self, ctx: Ctx, login: str, req: NameReq) -> dict[str, Any]:
        async def work(capture: Capture) -> dict[str, Any]:
            r = capture.recorder
            name = _name(req.name, "name")
            draft = r.propose_entity(name)
            draft = dataclasses.replace(
                draft,
                attributes=draft.attributes + tuple(capture.state.regions),
                recordsets=draft.recordsets + tuple(capture.state.recordsets),
            )
            op = None
            if r.pending and r.current is not None:
                op = r.propose_operation(f"to_{name.lower()}", name)
            also = r.check_rules(draft.rules, name=name).also_matches
            here = recognised(r)
            return self._state(
                capture, f"proposal for {name}", draft=_draft_out(draft, also, op), here=here or ""
            )

        return await self._locked(login, work)

    async def check_rules(self, ctx: Ctx, login: str, req: EntityReq) -> dict[str, Any]:
        async def work(capture: Capture) -> dict[str, Any]:
            name = _name(req.name, "name")
            rules = self._rules(capture, req.rules)
            also = capture.recorder.check_rules(rules, name=name).also_matches
            return {"done": "rules checked", "also_matches": list(also)}

        return await self._locked(login, work)

    def _rules(self, capture: Capture, lines: list[str]) -> tuple[Any, ...]:
        screen = capture.recorder.screen
        rules = []
        for i, line in enumerate(lines):
            try:
                rules.append(parse_rule(line, screen.rows, screen.cols))
            except ValueError as exc:
                raise CaptureFieldInvalid(f"field 'rules[{i}]': {exc}", field=f"rules[{i}]") from None
        if not rules:
            raise CaptureFieldInvalid("field 'rules': an entity needs at least one rule", field="rules")
        return tuple(rules)

    async def add_entity(self, ctx: Ctx, login: str, req: EntityReq) -> dict[str, Any]:
        async def work(capture: Capture) -> dict[str, Any]:
            r = capture.recorder
            name = _name(req.name, "name")
            rules = self._rules(capture, req.rules)
            attributes = tuple(
                _attribute(capture, a, f"attributes[{i}].") for i, a in enumerate(req.attributes)
            )
            recordsets = tuple(
                _recordset(capture, s, f"recordsets[{i}].") for i, s in enumerate(req.recordsets)
            )
            op = None
            if r.pending and r.current is not None:
                if req.operation is None:
                    raise CaptureFieldInvalid(
                        f"field 'operation': the inputs since {r.current} make an operation: name it",
                        field="operation",
                    )
                op = _operation(capture, req.operation, name)
            draft = EntityDraft(name, r.screen, rules, attributes, recordsets)
            r.add_entity(draft, op)  # the engine refuses a clash or a taken name whole (HG-6601, HG-6602)
            capture.state.clear_marks()
            via = f" (operation {op.source}.{op.name})" if op else ""
            return self._state(capture, f"entity {name} captured{via}")

        return await self._locked(login, work)

    async def add_operation(self, ctx: Ctx, login: str, req: OperationReq) -> dict[str, Any]:
        """The pending inputs landed on a screen captured before: an operation to it."""

        async def work(capture: Capture) -> dict[str, Any]:
            r = capture.recorder
            here = recognised(r)
            if here is None:
                raise CaptureFieldInvalid(
                    "field 'name': this screen is no captured entity: mark it as an entity (with the operation)",
                    field="name",
                )
            op = _operation(capture, req, here)
            r.add_operation(op)
            return self._state(capture, f"operation {op.source}.{op.name} -> {here} recorded")

        return await self._locked(login, work)

    async def propose_operation(self, ctx: Ctx, login: str, req: NameReq) -> dict[str, Any]:
        """The pending inputs as an operation to the captured entity this screen is (its value choices)."""

        async def work(capture: Capture) -> dict[str, Any]:
            r = capture.recorder
            here = recognised(r)
            name = _name(req.name, "name")
            op = r.propose_operation(name, here or "the next entity")
            return {"done": f"operation {name} proposed", "operation": _operation_out(op), "here": here or ""}

        return await self._locked(login, work)

    async def propose_recordset(self, ctx: Ctx, login: str, req: RecordsetReq) -> dict[str, Any]:
        async def work(capture: Capture) -> dict[str, Any]:
            draft = _recordset(capture, req, "")
            return {"done": f"recordset {draft.name} proposed", "recordset": _recordset_out(draft)}

        return await self._locked(login, work)

    async def add_recordset(self, ctx: Ctx, login: str, req: RecordsetReq) -> dict[str, Any]:
        async def work(capture: Capture) -> dict[str, Any]:
            draft = _recordset(capture, req, "")
            return self._mark(
                capture,
                "recordset",
                draft.name,
                lambda here: capture.recorder.add_recordset(here, draft),
                lambda: capture.state.recordsets.append(draft),
            )

        return await self._locked(login, work)

    async def add_attribute(self, ctx: Ctx, login: str, req: AttributeReq) -> dict[str, Any]:
        async def work(capture: Capture) -> dict[str, Any]:
            draft = _attribute(capture, req, "")
            return self._mark(
                capture,
                "attribute",
                draft.name,
                lambda here: capture.recorder.add_attribute(here, draft),
                lambda: capture.state.regions.append(draft),
            )

        return await self._locked(login, work)

    def _mark(
        self,
        capture: Capture,
        kind: str,
        name: str,
        add_to: Callable[[str], None],
        keep_for_next: Callable[[], None],
    ) -> dict[str, Any]:
        """A region marked on the screen: added to the captured entity shown now, or kept for the next entity
        marked here (the TUI's rule)."""
        r = capture.recorder
        here = recognised(r)
        if here is not None:
            add_to(here)
            return self._state(capture, f"{kind} {name} added to {here}")
        keep_for_next()
        return self._state(capture, f"{kind} {name} marked: it joins the next entity marked here")


async def _read(request: Request, limit: int) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(f"a capture request is at most {limit} bytes")
    return body


def capture_routes(views: Views, captures: Captures) -> list[BaseRoute]:
    pages = CapturePages(views, captures)
    act = pages.action
    posts: list[tuple[str, Callable[[Request], Awaitable[Response]]]] = [
        ("start", act("start", StartReq, pages.start, _START_LIMIT)),
        ("end", act("end", EmptyReq, pages.end)),
        ("type", act("type", TypeReq, pages.type_text)),
        ("key", act("key", KeyReq, pages.press)),
        ("cursor", act("cursor", CursorReq, pages.cursor)),
        ("refresh", act("refresh", EmptyReq, pages.refresh)),
        ("discard", act("discard", EmptyReq, pages.discard)),
        ("propose-entity", act("propose-entity", NameReq, pages.propose_entity)),
        ("check-rules", act("check-rules", EntityReq, pages.check_rules)),
        ("add-entity", act("add-entity", EntityReq, pages.add_entity)),
        ("propose-operation", act("propose-operation", NameReq, pages.propose_operation)),
        ("add-operation", act("add-operation", OperationReq, pages.add_operation)),
        ("propose-recordset", act("propose-recordset", RecordsetReq, pages.propose_recordset)),
        ("add-recordset", act("add-recordset", RecordsetReq, pages.add_recordset)),
        ("add-attribute", act("add-attribute", AttributeReq, pages.add_attribute)),
    ]
    return [
        Route("/capture", views.page(pages.page), methods=["GET"]),
        Route("/capture/model.yaml", pages.download, methods=["GET"]),
        *(Route(f"/capture/{name}", endpoint, methods=["POST"]) for name, endpoint in posts),
    ]
