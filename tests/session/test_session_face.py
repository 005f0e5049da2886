"""The session server's routing (session/_face.py): lookup by shape, the earlier route winning where two shapes
match one path, and raw endpoints (issue #18) answered with the same boundary, headers and route label as a
``Route``'s."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope

from hostgate.errors import NotAuthorized
from hostgate.session._face import SessionFace, as_endpoint

LOG = logging.getLogger("test.face")
IDENTITY = {"X-Hostgate-Cluster-Id": "c-test", "X-Hostgate-Session-Server": "s1"}


def _text(answer: str) -> Route:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(f"{answer} {dict(request.path_params)}")

    return endpoint  # type: ignore[return-value]


async def _get(face: SessionFace, path: str, method: str = "GET") -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(face), base_url="http://s1") as http:
        return await http.request(method, path)


@pytest.mark.parametrize("literal_first", [True, False])
async def test_where_two_shapes_match_the_earlier_route_wins(literal_first: bool) -> None:
    literal = Route("/api/v1/things/all", _text("literal"), methods=["GET"])  # type: ignore[arg-type]
    param = Route("/api/v1/things/{name}", _text("param"), methods=["GET"])  # type: ignore[arg-type]
    routes = [literal, param] if literal_first else [param, literal]
    face = SessionFace(routes, max_body=1024, log=LOG, identity=IDENTITY)
    expected = "literal {}" if literal_first else "param {'name': 'all'}"
    assert (await _get(face, "/api/v1/things/all")).text == expected
    assert (await _get(face, "/api/v1/things/x")).text == "param {'name': 'x'}"
    assert (await _get(face, "/api/v1/things/x/y")).json()["code"] == "HG-1040"
    assert (await _get(face, "/api/v1/things//")).json()["code"] == "HG-1040"


async def test_a_raw_endpoint_answers_inside_the_boundary_with_its_route_label() -> None:
    seen: list[object] = []

    async def raw(scope: Scope, receive: Receive) -> tuple[int, bytes]:
        seen.append(scope["route"].path)
        if scope["path_params"]["name"] == "nobody":
            raise NotAuthorized("not yours")
        return 201, b'{"name":"%s"}' % scope["path_params"]["name"].encode()

    path = "/api/v1/pools/{name}/sessions"
    routes = [
        Route(path, as_endpoint(raw), methods=["POST"]),
        Route(path, _text("listing"), methods=["GET"]),  # type: ignore[arg-type]
    ]
    face = SessionFace(routes, max_body=1024, log=LOG, identity=IDENTITY, raw={("POST", path): raw})
    made = await _get(face, "/api/v1/pools/orders/sessions", "POST")
    assert made.status_code == 201 and made.json() == {"name": "orders"}
    assert made.headers["content-type"] == "application/json"
    assert made.headers["x-hostgate-cluster-id"] == "c-test" and made.headers["x-request-id"]
    refused = await _get(face, "/api/v1/pools/nobody/sessions", "POST")
    assert refused.status_code == 403 and refused.json()["code"] == "HG-3002"
    assert refused.json()["request_id"] == refused.headers["x-request-id"]
    assert (await _get(face, "/api/v1/pools/orders/sessions")).text.startswith("listing")
    wrong = await _get(face, "/api/v1/pools/orders/sessions", "PUT")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET, HEAD, POST"
    assert seen == [path, path]


def test_a_raw_endpoint_needs_its_route() -> None:
    async def raw(scope: Scope, receive: Receive) -> tuple[int, bytes]:
        return 200, b"{}"

    with pytest.raises(ValueError, match="without a route"):
        SessionFace([], max_body=1024, log=LOG, identity=IDENTITY, raw={("POST", "/x/{y}"): raw})


async def test_a_path_found_again_gives_the_same_answers_and_its_own_parameters() -> None:
    """The found-path memo (issue #18): each path keeps its own parameters, a handler that changes the ones it
    was given does not change what the next request of that path gets, and a full memo starts again."""

    async def endpoint(request: Request) -> Response:
        name = request.path_params["name"]
        request.path_params["name"] = "changed"  # a careless handler
        return PlainTextResponse(name)

    face = SessionFace(
        [Route("/api/v1/things/{name}", endpoint, methods=["GET"])], max_body=1024, log=LOG, identity=IDENTITY
    )
    for _ in range(3):
        assert (await _get(face, "/api/v1/things/a")).text == "a"
        assert (await _get(face, "/api/v1/things/b")).text == "b"
    assert (await _get(face, "/api/v1/things/a", "POST")).json()["code"] == "HG-1041"
    for i in range(5000):  # past the memo's bound: it is cleared, not grown
        assert face._find(f"/api/v1/things/n{i}") is not None
    assert len(face._found) <= 4096
    assert (await _get(face, "/api/v1/things/a")).text == "a"
