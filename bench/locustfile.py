"""Locust users for bench.api_load: `POST /v1/cases` or `GET /v1/cases/{id}` as fast as they can.

Configured by bench.api_load through the environment:
  BENCH_API_MODE      "create" or "read"
  BENCH_SYSTEM_KEY    the system role's API key (creates cases)
  BENCH_AGENT_KEY     the agent role's API key (reads cases)
  BENCH_CASE_IDS      comma-separated case ids to read
"""

from __future__ import annotations

import os
import random
import uuid
from typing import Any

from locust import HttpUser, constant, task

from bench.cases import case_body

MODE = os.environ.get("BENCH_API_MODE", "read")
SYSTEM_KEY = os.environ.get("BENCH_SYSTEM_KEY", "")
AGENT_KEY = os.environ.get("BENCH_AGENT_KEY", "")
CASE_IDS = [c for c in os.environ.get("BENCH_CASE_IDS", "").split(",") if c]


class ApiUser(HttpUser):
    wait_time = constant(0)

    @task
    def act(self) -> None:
        if MODE == "create":
            order = f"O-LOAD-{uuid.uuid4().hex[:12].upper()}"
            headers: dict[str, Any] = {
                "Authorization": f"Bearer {SYSTEM_KEY}",
                "Idempotency-Key": f"load-{order}",
            }
            self.client.post("/v1/cases", json=case_body(order), headers=headers, name="POST /v1/cases")
        else:
            case_id = random.choice(CASE_IDS)
            self.client.get(
                f"/v1/cases/{case_id}",
                headers={"Authorization": f"Bearer {AGENT_KEY}"},
                name="GET /v1/cases/{id}",
            )
