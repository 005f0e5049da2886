"""The SOAP 1.1 face (document/literal, wrapped): ``GET /ws/soap/{model}?wsdl`` and ``POST /ws/soap/{model}``.

A request is parsed with ``defusedxml`` (no DTD, no entity declarations, nothing fetched: an XML bomb or an
external entity is refused as ``SoapRequestInvalid``, HG-4504), after the body was read with its cap. The
caller's credentials: HTTP Basic when the request carries it, else a WS-Security ``UsernameToken`` with a
``PasswordText`` password (read from the envelope's header; a digest cannot be passed on to the cluster, so it
is refused). Both are checked with the cluster the envelope's ``ServerName`` names, so a SOAP body is read
(capped) and parsed before the check; nothing else is done with it until the caller is known. The header elements of the model's namespace
``ServerName``, ``Domain``, ``Pool``, ``Keep`` and ``Session`` set the call's target (a ``ServerName`` here
wins over plugin-cfg.xml). Every error is a SOAP 1.1 fault (HTTP 500, SOAP 1.1 section 6.2) whose
``faultstring`` starts with the code and whose ``detail`` holds ``code``, ``hint`` and ``request_id``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # building answers only; requests are parsed by defusedxml
from collections.abc import Mapping

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hostgate._bodies import read_body
from hostgate.errors import AuthenticationFailed, HostgateError, SoapRequestInvalid
from hostgate.messages import Cell
from hostgate.webservices.auth import basic_caller
from hostgate.webservices.invoke import Caller, CallResult, Target
from hostgate.webservices.service import WebServices
from hostgate.webservices.types import check_text_inputs
from hostgate.webservices.wsdl import SOAP_ENV, namespace, wsdl_document

__all__ = ["WSSE", "soap_routes"]

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
_PASSWORD_TEXT = "#PasswordText"
_XML = "text/xml; charset=utf-8"


def _fault(exc: HostgateError, request_id: str) -> Response:
    payload = exc.to_payload()
    side = "soap:Client" if exc.http_status < 500 else "soap:Server"
    env = ET.Element(f"{{{SOAP_ENV}}}Envelope")
    fault = ET.SubElement(ET.SubElement(env, f"{{{SOAP_ENV}}}Body"), f"{{{SOAP_ENV}}}Fault")
    ET.SubElement(fault, "faultcode").text = side
    ET.SubElement(fault, "faultstring").text = f"[{payload['code']}] {payload['message']}"
    error = ET.SubElement(ET.SubElement(fault, "detail"), "{urn:hostgate:ws}error")
    ET.SubElement(error, "{urn:hostgate:ws}code").text = payload["code"]
    ET.SubElement(error, "{urn:hostgate:ws}hint").text = payload["hint"]
    ET.SubElement(error, "{urn:hostgate:ws}request_id").text = request_id
    body = ET.tostring(env, encoding="utf-8", xml_declaration=True)
    headers = {"WWW-Authenticate": 'Basic realm="hostgate web services"'} if exc.http_status == 401 else {}
    return Response(body, 500, headers=headers, media_type=_XML)


def _parse(body: bytes) -> ET.Element:
    if not body:
        raise SoapRequestInvalid("the request has no body: send a SOAP 1.1 envelope")
    try:
        root: ET.Element = SafeET.fromstring(
            body, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise SoapRequestInvalid(
            f"the request declares what is refused here ({type(exc).__name__})"
        ) from None
    except (SafeET.ParseError, ValueError) as exc:
        raise SoapRequestInvalid(f"the request is not well-formed XML ({exc})") from None
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapRequestInvalid(f"the root element is {root.tag[:120]!r}, not a SOAP 1.1 Envelope")
    return root


def _header_values(env: ET.Element, ns: str) -> tuple[Target, Caller | None]:
    values: dict[str, str] = {}
    caller: Caller | None = None
    header = env.find(f"{{{SOAP_ENV}}}Header")
    if header is not None:
        for child in header:
            if child.tag.startswith(f"{{{ns}}}"):
                values[child.tag[len(ns) + 2 :]] = (child.text or "").strip()
        token = header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        if token is not None:
            user = token.findtext(f"{{{WSSE}}}Username") or ""
            password = token.find(f"{{{WSSE}}}Password")
            kind = password.get("Type", _PASSWORD_TEXT) if password is not None else _PASSWORD_TEXT
            if password is None or not kind.endswith(_PASSWORD_TEXT):
                raise AuthenticationFailed(
                    "the UsernameToken must carry a PasswordText password (not a digest)"
                )
            caller = Caller(user, password.text or "")
    server = values.get("ServerName") or None
    target = Target(
        server_name=server,
        server_name_source="the request's ServerName SOAP header" if server else "",
        domain=values.get("Domain") or None,
        pool=values.get("Pool") or None,
        keep=values.get("Keep", "").lower() in ("true", "1"),
        session_id=values.get("Session") or None,
    )
    return target, caller


def _operation(env: ET.Element, ns: str) -> tuple[str, dict[str, str]]:
    body = env.find(f"{{{SOAP_ENV}}}Body")
    element = next(iter(body), None) if body is not None else None
    if element is None:
        raise SoapRequestInvalid("the SOAP Body is empty: send the operation's Request element")
    prefix, suffix = f"{{{ns}}}", "Request"
    if not (element.tag.startswith(prefix) and element.tag.endswith(suffix)):
        raise SoapRequestInvalid(f"the Body holds {element.tag[:120]!r}, not an operation of namespace {ns}")
    inputs: dict[str, str] = {}
    for child in element:
        if not child.tag.startswith(prefix) or len(child):
            raise SoapRequestInvalid(f"{child.tag[:120]!r} is not an input of this operation")
        inputs[child.tag[len(prefix) :]] = child.text or ""
    return element.tag[len(prefix) : -len(suffix)], inputs


def _text(value: Cell) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _answer(ns: str, operation: str, result: CallResult, outputs: Mapping[str, str]) -> Response:
    env = ET.Element(f"{{{SOAP_ENV}}}Envelope")
    answer = ET.SubElement(ET.SubElement(env, f"{{{SOAP_ENV}}}Body"), f"{{{ns}}}{operation}Response")
    for row in result.rows:
        element = ET.SubElement(answer, f"{{{ns}}}row")
        for column in outputs:  # the WSDL's sequence order
            if column in row:
                value = _text(row[column])
                cell = ET.SubElement(element, f"{{{ns}}}{column}")
                if value is None:
                    cell.set("{http://www.w3.org/2001/XMLSchema-instance}nil", "true")
                else:
                    cell.text = value
    if result.session_id:
        ET.SubElement(answer, f"{{{ns}}}session").text = result.session_id
    return Response(ET.tostring(env, encoding="utf-8", xml_declaration=True), 200, media_type=_XML)


def soap_routes(ws: WebServices) -> list[Route]:
    async def wsdl(request: Request) -> Response:
        model = request.path_params["model"]
        try:
            catalog = await ws.catalogs.model(model, request.headers.get("authorization"))
        except HostgateError as exc:
            return _fault(exc, _request_id(request))
        address = str(request.url.replace(query=""))
        return Response(wsdl_document(catalog, address), media_type=_XML)

    async def call(request: Request) -> Response:
        model = request.path_params["model"]
        ns = namespace(model)
        try:
            authorization = request.headers.get("authorization")
            # A malformed Basic header is refused before the body is read; the credentials themselves are
            # checked with the cluster the envelope's ServerName header names, so after the (capped) read.
            basic = basic_caller(authorization)
            env = _parse(await read_body(request, ws.max_body))
            target, token = _header_values(env, ns)
            caller, location = await ws.authenticated(basic or token, target)
            operation, texts = _operation(env, ns)
            procedure = await ws.procedure(model, operation, authorization)
            inputs = check_text_inputs(procedure, texts)
            result = await ws.run(caller, location, model, procedure, inputs, target)
        except HostgateError as exc:
            return _fault(exc, _request_id(request))
        return _answer(ns, procedure.name, result, {c.name: c.type for c in procedure.outputs})

    return [
        Route("/ws/soap/{model}", wsdl, methods=["GET"]),
        Route("/ws/soap/{model}", call, methods=["POST"]),
    ]


def _request_id(request: Request) -> str:
    state = request.scope.get("state") or {}
    return str(state.get("request_id", ""))
