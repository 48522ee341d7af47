"""The case store restarting is an outage the API reports as 503 with Retry-After, not a 500."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError, OperationalError

from api import problems


def app_raising(exc: Exception) -> TestClient:
    app = FastAPI()
    problems.install(app)

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    return TestClient(app, raise_server_exceptions=False)


def test_a_database_that_is_shutting_down_answers_503_with_retry_after() -> None:
    down = OperationalError("SELECT 1", {}, Exception("the database system is shutting down"))
    answer = app_raising(down).get("/boom")
    assert answer.status_code == 503 and answer.headers["retry-after"] == "2"
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "/problems/store-unavailable"


def test_an_unexpected_database_error_stays_a_500_that_says_nothing_internal() -> None:
    clash = IntegrityError("INSERT", {}, Exception("duplicate key value violates unique constraint"))
    answer = app_raising(clash).get("/boom")
    assert answer.status_code == 500 and "duplicate" not in answer.text
