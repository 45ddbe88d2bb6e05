"""The leaderboard web server: ``python -m leaderboard serve`` (FastAPI on uvicorn).

API (JSON; errors are ``{"error": "<one line>"}``):

- ``POST /api/submissions`` with ``Authorization: Bearer <token>`` and one ``result.json`` as
  the body: 201 ``{"id", "preset", "page", "board"}``; 400 not JSON; 401 no or unknown token;
  409 duplicate; 413 body over the limit; 422 refused by verification (the reason); 429 over
  the request rate; 503 the scenario's data is not on the server.
- ``GET /api/boards``, ``GET /api/boards/{preset}`` (``?seeds=mixed`` ranks single-seed rows
  among the others), ``GET /api/entries/{id}`` and ``GET /api/entries/{id}/result.json`` (the
  stored document: every raw record).

Pages: ``/`` (the boards), ``/boards/{preset}``, ``/entries/{id}``; scripts and styles under
``/static``. Every response carries a content security policy that allows scripts and styles
from this server only. Limits (:class:`Limits`): request bodies over ``max_body_bytes`` get
413; a client (by address) making more than ``requests_per_minute`` requests within a minute
gets 429.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from .pages import SERVER_LINKS, STATIC, Pages
from .schema import InvalidResult
from .store import DuplicateSubmission, Store
from .verify import MalformedJSON, ScenarioUnavailable, parse_document, verify_result
from .views import board_view, boards_index, entry_view

log = logging.getLogger("leaderboard")
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
TRACKED_CLIENTS = 10_000
DRAIN_FACTOR = 16  # bodies declared larger than this many times the limit are not even read


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 64 * 2**20
    requests_per_minute: int = 120


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class Guard:
    """ASGI middleware: request rate per client, request body size, security headers."""

    def __init__(self, app: Any, limits: Limits) -> None:
        self.app, self.limits = app, limits
        self.hits: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def _allowed(self, client: str) -> bool:
        now = time.monotonic()
        with self.lock:
            if len(self.hits) > TRACKED_CLIENTS:  # forget clients quiet for a minute
                for quiet in [c for c, h in self.hits.items() if not h or h[-1] <= now - 60.0]:
                    del self.hits[quiet]
            hits = self.hits[client]
            while hits and hits[0] <= now - 60.0:
                hits.popleft()
            if len(hits) >= self.limits.requests_per_minute:
                return False
            hits.append(now)
            return True

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        client = (scope.get("client") or ("unknown",))[0]
        if not scope["path"].startswith("/static/") and not self._allowed(client):
            limit = self.limits.requests_per_minute
            response = _error(429, f"too many requests: at most {limit} a minute", {"Retry-After": "60"})
            await response(scope, receive, send_with_headers)
            return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            body, too_large = await self._read_body(scope, receive)
            if too_large:
                response = _error(413, f"request body over the limit of {self.limits.max_body_bytes} bytes")
                await response(scope, receive, send_with_headers)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send_with_headers)

    async def _read_body(self, scope: dict, receive: Any) -> tuple[bytes, bool]:
        """The whole body, or ``too_large``: over the limit (read to its end, so the client
        sees the 413, unless it announces a body beyond :data:`DRAIN_FACTOR` × the limit)."""
        limit = self.limits.max_body_bytes
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit * DRAIN_FACTOR:
            return b"", True
        parts, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= limit:
                parts.append(chunk)
            elif size > limit * DRAIN_FACTOR:
                return b"", True
            more = message.get("more_body", False)
        return b"".join(parts), size > limit


def _entry_id(text: str) -> int | None:
    """An entry id from a URL segment (``None`` unless it is a plausible row id)."""
    return int(text) if text.isdigit() and len(text) < 10 else None


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def replayed() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def create_app(store: Store, limits: Limits = Limits(), data_dir: Path | None = None) -> Any:
    """The web application over ``store``; scenarios are rebuilt from ``data_dir``."""
    app = FastAPI(title="CLUB leaderboard", docs_url=None, redoc_url=None, openapi_url=None)
    pages = Pages()
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, "internal error")

    @app.post("/api/submissions")
    async def submit(request: Request) -> Response:
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return _error(401, "a bearer token is required (Authorization: Bearer <token>)", {"WWW-Authenticate": "Bearer"})
        submitter = await run_in_threadpool(store.token_name, secret.strip())
        if submitter is None:
            return _error(401, "the token is not valid", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        body = await request.body()
        try:
            document = parse_document(body)
            verified = await run_in_threadpool(verify_result, document, data_dir)
        except MalformedJSON as e:
            return _error(400, str(e))
        except InvalidResult as e:
            return _error(422, str(e))
        except ScenarioUnavailable as e:
            return _error(503, str(e))
        try:
            entry = await run_in_threadpool(store.add, verified, submitter)
        except DuplicateSubmission as e:
            return _error(409, str(e))
        log.info("accepted entry %d on %s from %s", entry, verified.preset, submitter)
        return JSONResponse(
            {"id": entry, "preset": verified.preset, "page": SERVER_LINKS.entry(entry), "board": SERVER_LINKS.board(verified.preset)},
            status_code=201,
        )

    @app.get("/api/boards")
    def api_boards() -> Any:
        return {"boards": boards_index(store)}

    @app.get("/api/boards/{preset}")
    def api_board(preset: str, seeds: str = "last") -> Any:
        board = board_view(store, preset, single_seed_last=seeds != "mixed")
        return board if board is not None else _error(404, f"no board {preset!r}")

    @app.get("/api/entries/{entry}")
    def api_entry(entry: str) -> Any:
        view = None if _entry_id(entry) is None else entry_view(store, _entry_id(entry))
        if view is None:
            return _error(404, f"no entry {entry!r}")
        return {**view, "links": {"result": SERVER_LINKS.result(view["id"]), "page": SERVER_LINKS.entry(view["id"])}}

    @app.get("/api/entries/{entry}/result.json")
    def api_result(entry: str) -> Response:
        row = None if _entry_id(entry) is None else store.submission(_entry_id(entry))
        if row is None:
            return _error(404, f"no entry {entry!r}")
        headers = {"Content-Disposition": f'attachment; filename="club-entry-{row.id}-result.json"'}
        return Response(row.document, media_type="application/json", headers=headers)

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/", response_class=HTMLResponse)
    def index_page() -> str:
        return pages.index(boards_index(store), SERVER_LINKS)

    @app.get("/boards/{preset}", response_class=HTMLResponse)
    def board_page(preset: str, seeds: str = "last") -> Any:
        board = board_view(store, preset, single_seed_last=seeds != "mixed")
        if board is None:
            return HTMLResponse(pages.not_found(f"No board named {preset!r}.", SERVER_LINKS), status_code=404)
        return pages.board(board, SERVER_LINKS)

    @app.get("/entries/{entry}", response_class=HTMLResponse)
    def entry_page(entry: str) -> Any:
        view = None if _entry_id(entry) is None else entry_view(store, _entry_id(entry))
        if view is None:
            return HTMLResponse(pages.not_found(f"No entry {entry!r}.", SERVER_LINKS), status_code=404)
        return pages.entry(view, SERVER_LINKS)

    return Guard(app, limits)
