"""``create_app()``: routers, one error handler per error family, state shared by requests."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from challenge import models  # noqa: F401  (configures every mapper)
from challenge.accounts.router import router as accounts_router
from challenge.apidocs.router import router as apidocs_router
from challenge.audit.router import router as audit_router
from challenge.challenges.router import router as challenges_router
from challenge.core import http_edges
from challenge.core.bodylimit import BodySizeLimit, page_upload_operations, upload_operations
from challenge.core.config import Settings, get_settings
from challenge.core.db import get_engine, session_factory
from challenge.core.errors import DomainError, error_body, validation_failure
from challenge.core.head import HeadAsGet
from challenge.core.ratelimit import FailureLimiter
from challenge.core.storage import Storage
from challenge.datasets.router import router as datasets_router
from challenge.evaluations.router import router as evaluations_router
from challenge.health.router import router as health_router
from challenge.phases.router import router as phases_router
from challenge.sites.router import router as sites_router
from challenge.submissions.router import router as submissions_router
from challenge.teams.router import router as teams_router
from challenge.uploads.router import BODY_OPERATIONS as TUS_BODY_OPERATIONS
from challenge.web.router import router as web_router
from leaderboard.cache import LeaderboardCache
from leaderboard.freshness import ChangeListener
from leaderboard.front import LeaderboardFront
from leaderboard.pages.router import router as pages_router
from leaderboard.router import router as leaderboard_router

log = logging.getLogger("segarena")
API_PREFIX = "/api/v1"

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 406: "not_acceptable", 413: "payload_too_large",
              415: "unsupported_media_type", 422: "invalid_input", 429: "too_many_requests"}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        code, message, details = validation_failure(exc.errors())
        return JSONResponse(error_body(code, message, details), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(error_body("internal_error", "an internal error occurred; it was "
                                       "logged for the operators"), 500)


def create_app(settings: Settings | None = None, *, dispatcher: Any = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        app.state.dispatcher.start()
        listener = _change_listener(app)
        try:
            yield
        finally:
            if listener is not None:
                listener.stop()
            app.state.dispatcher.stop()

    app = FastAPI(title="segarena", version="0.1.0", lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # /docs is challenge.apidocs (no CDN)
                  description="An organized segmentation challenge platform: hidden test sets, "
                              "sandboxed containerized algorithms, exact metrics and rankings.")
    app.state.settings = settings
    app.state.engine = get_engine(settings.database_url)
    app.state.sessionmaker = session_factory(app.state.engine)
    app.state.storage = Storage(settings.storage_root)
    app.state.auth_limiter = FailureLimiter(settings.auth_failures_per_minute)
    # Failed password sign-ins of the web app (challenge/web/accounts/signin.py).
    app.state.signin_account_limiter = FailureLimiter(
        settings.signin_failures_per_account, settings.signin_account_window_seconds)
    app.state.signin_address_limiter = FailureLimiter(
        settings.signin_failures_per_address, settings.signin_address_window_seconds)
    app.state.leaderboard_cache = LeaderboardCache(
        recheck_seconds=settings.leaderboard_recheck_seconds)
    if dispatcher is None:
        from challenge.evaluations.dispatch import make_dispatcher

        dispatcher = make_dispatcher(settings, app.state.sessionmaker, app.state.storage)
    app.state.dispatcher = dispatcher
    _install_error_handlers(app)
    http_edges.install(app, settings)  # Host check, forwarded client, security headers
    # /healthz and the public leaderboard (API and pages) first: a request is matched against
    # the routes in order, and these are the busiest (and /healthz, the load benchmark's floor,
    # then costs the HTTP stack alone); no other route's path overlaps theirs
    # (tests/test_route_order.py).
    app.include_router(health_router)
    app.include_router(leaderboard_router, prefix=API_PREFIX)
    app.include_router(pages_router)
    for router in (accounts_router, challenges_router, phases_router, teams_router,
                   datasets_router, submissions_router, evaluations_router, audit_router,
                   sites_router):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(web_router)
    # Innermost: a warm anonymous leaderboard is answered before routing (leaderboard.front).
    app.add_middleware(LeaderboardFront, routes=lambda: app.routes)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes,
                       uploads=lambda: [*upload_operations(app.openapi()), *TUS_BODY_OPERATIONS,
                                        *page_upload_operations(app.routes)])
    app.include_router(apidocs_router)
    app.add_middleware(HeadAsGet)
    return app


def _change_listener(app: FastAPI) -> ChangeListener | None:
    """On PostgreSQL, start the thread that ends the leaderboard cache's trust in a phase
    as soon as a change of it commits (``leaderboard.freshness``). None on SQLite, and when
    ``leaderboard_recheck_seconds`` is 0: then every request checks the database itself and
    a notice would have nothing to end."""
    engine = app.state.engine
    if engine.dialect.name != "postgresql" or app.state.settings.leaderboard_recheck_seconds == 0:
        return None
    listener = ChangeListener(engine.url, app.state.leaderboard_cache.states.changed)
    listener.start()
    app.state.change_listener = listener
    return listener
