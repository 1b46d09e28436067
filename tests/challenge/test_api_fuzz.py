"""schemathesis over the OpenAPI schema: no generated input makes the service answer 5xx.

Requests are authenticated as the admin of a populated world (so deep code paths run, not
just the 401 answer), on both databases.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy.orm import Session

from tests.challenge.authz_world import World, build


@pytest.fixture
def fuzz_world(db: Session, app: FastAPI, tmp_path) -> World:
    return build(db, app.state.storage, tmp_path)


@pytest.fixture
def api_schema(app: FastAPI, fuzz_world: World):
    return schemathesis.from_asgi("/openapi.json", app, force_schema_version="30")


schema = schemathesis.from_pytest_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_no_input_makes_a_server_error(case, fuzz_world: World) -> None:
    case.headers = {**(case.headers or {}), **fuzz_world.headers("admin")}
    response = case.call()
    case.validate_response(response, checks=(not_a_server_error,))
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["code"], str) and error["message"]
