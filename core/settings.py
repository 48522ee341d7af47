"""All settings, read from environment variables (prefix AFTERSALES_) or a `.env` file.

Every field is documented in README.md § Settings; keep the two in step.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.money import Money
from domain.routing import QUEUE_PATTERN, PriorityRules

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AFTERSALES_", env_file=".env", extra="ignore")

    # Local state of the embedded default (Temporal DB file, SQLite store, dev API keys).
    local_dir: Path = Field(default=PROJECT_ROOT / ".local")

    # Temporal
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_port: int = 8233
    task_queue: str = "aftersales-cases"
    workflow_rpc_timeout_seconds: float = 10.0
    # Each /readyz check (store, Temporal) answers within this or counts as not ready: a frozen
    # dependency must not hang the probe.
    ready_timeout_seconds: float = Field(default=2.0, gt=0, le=60)

    # Case store: SQLAlchemy URL. Empty means SQLite under local_dir. DATABASE_URL is honoured too.
    database_url: str = Field(default="", validation_alias="DATABASE_URL")

    # API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # API processes (uvicorn workers) sharing the port: one GIL each. Every process has its own key
    # cache, store connection pool and Temporal connection.
    api_workers: int = Field(default=1, ge=1, le=64)
    # `make run` (and the bench stacks) start the worker and the Temporal dev server this much nicer
    # than the API, so that on the one machine they share the API's requests get the CPU first while
    # the worker catches up; 0: the same priority. Deployments that give each its own CPU ignore it.
    background_nice: int = Field(default=10, ge=0, le=19)
    max_body_bytes: int = 256 * 1024

    # Provider simulator (payments, logistics, coupons, messaging)
    simulator_host: str = "127.0.0.1"
    simulator_port: int = 8100
    provider_base_url: str = ""  # empty: http://{simulator_host}:{simulator_port}
    provider_timeout_seconds: float = 5.0
    simulator_error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    simulator_timeout_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    simulator_latency_ms: int = Field(default=0, ge=0)

    # Worker tuning
    worker_max_concurrent_activities: int = 50
    worker_max_concurrent_workflow_tasks: int = 50
    worker_activity_threads: int = 20
    # Workflows kept in the worker's sticky cache; beyond it, a woken case replays its history first.
    worker_max_cached_workflows: int = Field(default=1000, ge=0)

    # Worker metrics (Prometheus text on http://host:port/metrics); port 0 serves none.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=9464, ge=0, le=65535)

    # The outbox relay in each worker: it delivers the notifications case writes queue, at least once.
    # It wakes when its own worker queues messages, and polls for the others' and for retries.
    outbox_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # false: the worker runs no outbox relay, and `python -m workers.outbox` processes (any number)
    # deliver, finding the messages by polling. `make run` does so: a relay in the worker's process
    # competes for its GIL with the workflow tasks (BENCHMARKS.md, issue 14, fourteenth pass).
    outbox_relay_in_worker: bool = True
    # A woken relay (outbox, webhooks) waits this long before its pass, so that the store writes right
    # behind the one that woke it go in the same pass; 0: a pass per wake.
    relay_gather_seconds: float = Field(default=0.05, ge=0, le=5)
    outbox_batch_size: int = Field(default=20, ge=1, le=500)
    # Messages of a batch sent at once, so one slow provider call does not hold up the others.
    outbox_concurrency: int = Field(default=8, ge=1, le=64)
    # A claimed message is left alone by other relays this long (the claimer may be sending it): keep
    # it above outbox_batch_size / outbox_concurrency × provider_timeout_seconds, or slow batches get
    # sent twice (harmless, the key dedupes, but wasted).
    outbox_lease_seconds: float = Field(default=120.0, gt=0)
    # Retries after a failed delivery: base × 2^(failures − 1), capped; no jitter (1, 2, 4 … 300 s).
    outbox_retry_base_seconds: float = Field(default=1.0, gt=0)
    outbox_retry_max_seconds: float = Field(default=300.0, gt=0)
    # A message still failing this long after it was queued is given up on (dead, counted).
    outbox_max_age_seconds: float = Field(default=24 * 3600.0, gt=0)

    # Durable case starts: `POST /v1/cases` stores the case with a pending start, then starts its
    # workflow and waits for that start at most this long before it answers (the start goes on).
    case_start_wait_seconds: float = Field(default=0.05, ge=0, le=60)
    # A pending start still there this long after the case was stored is made by a worker's start
    # relay (the API died after its commit, or Temporal was down); also the relay's lease and retry cap.
    case_start_grace_seconds: float = Field(default=30.0, gt=0, le=3600)

    # Webhooks (DESIGN §11): each worker's webhook relay sends the event feed to the subscriptions;
    # false: the worker runs none, and `python -m workers.webhooks` processes (any number) send them.
    webhook_relay_in_worker: bool = True
    # Endpoints on private, loopback or link-local addresses are refused unless their host name or
    # a network holding the address is allow-listed here (comma-separated).
    webhook_allow_hosts: str = ""
    webhook_allow_cidrs: str = ""
    # The relay wakes at once when its own worker records events, and polls for the others' and retries.
    webhook_poll_seconds: float = Field(default=0.25, gt=0, le=60)
    webhook_batch_size: int = Field(default=50, ge=1, le=1000)  # lanes (subscription × case) per pass
    webhook_concurrency: int = Field(default=16, ge=1, le=128)  # lanes sent at once (threads)
    # A lane a relay took is left to it this long; after it any relay takes it over (its relay died).
    webhook_lease_seconds: float = Field(default=60.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)  # each of connect, write, read
    # Multiplies the retry schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h × 7): 1 in production.
    webhook_retry_scale: float = Field(default=1.0, gt=0, le=1)
    # After a secret rotation the previous secret keeps signing this long (unless the call says).
    webhook_rotation_overlap_seconds: float = Field(default=24 * 3600.0, ge=0, le=30 * 86_400)

    # Payload encryption: "id1:base64key,id2:base64key"; empty means a key kept in local_dir/codec-keys.
    codec_keys: str = ""
    codec_current_key: str = ""  # empty: the last key listed
    # Browser origins allowed to call /codec (the Temporal UI).
    codec_cors_origins: str = "http://127.0.0.1:8233,http://localhost:8233"
    # A codec sign-in (/codec/sign-in) lasts this long; its cookie is Secure when the API is on HTTPS.
    codec_session_seconds: int = Field(default=8 * 3600, ge=60, le=7 * 24 * 3600)
    codec_cookie_secure: bool = False
    # The console (/console): a sign-in unused this long has expired (sign in again), and none lasts
    # longer than console_session_max_seconds; its cookie is Secure when the API is on HTTPS.
    console_idle_seconds: int = Field(default=30 * 60, ge=60, le=24 * 3600)
    console_session_max_seconds: int = Field(default=12 * 3600, ge=300, le=7 * 24 * 3600)
    console_cookie_secure: bool = False

    # Keyed hash (HMAC-SHA256) that finds cases by phone: base64 of at least 32 bytes; empty means a key
    # made once in local_dir/lookup-hash-key. Unlike codec keys it must not change: stored hashes use it.
    lookup_hash_key: str = ""

    # Carrier webhooks (POST /v1/carriers/{carrier}/events) are signed with one HMAC secret per carrier:
    # a file of `carrier:secret` lines (0600); empty means one made once in local_dir/carrier-secrets
    # for the simulator's carrier `sim`. The simulator signs its events with the same file.
    carrier_secrets_file: str = ""
    # Where the simulator, playing the carrier, sends its signed tracking events (the API's base URL);
    # empty: http://AFTERSALES_API_HOST:AFTERSALES_API_PORT.
    simulator_carrier_target: str = ""

    # Divides every limit of new cases (CasePolicy.time_scale). 1 in production; benchmarks and demos
    # shorten a 24-working-hour limit to seconds with it. Running cases keep the scale they started with.
    policy_time_scale: int = Field(default=1, ge=1)

    # Routing and priority of new cases (domain.routing): the queue of a case no routing rule
    # matches; a claimed amount (paid for the claimed lines, in CNY) at or above which a case is
    # high priority; a customer with this many cases in the last N days before this one is a repeat
    # claimant (high priority).
    default_queue: str = Field(default="general", pattern=QUEUE_PATTERN)
    priority_high_amount: Decimal = Field(default=Decimal("1000.00"), gt=0, le=10_000_000, decimal_places=2)
    priority_repeat_days: int = Field(default=30, ge=1, le=365)
    priority_repeat_cases: int = Field(default=1, ge=1, le=100)

    # How long the API trusts a key it has looked up: a revoked key stops working within this time.
    api_key_cache_seconds: float = Field(default=10.0, ge=0, le=3600)
    # A person shown `online` who has made no request for this long is shown `away` (seed 003 says
    # 1 minute at a desk; an API client or console that polls every few seconds keeps it fresh).
    presence_away_after_seconds: float = Field(default=300.0, gt=0, le=86_400)
    # Quality review (复核): the share of closed cases sampled for a supervisor's review (besides every
    # case with CSAT <= 2, an appeal or a complaint), and the seed of the reproducible sample.
    qc_sample_share: float = Field(default=0.05, ge=0.0, le=1.0)
    qc_seed: str = Field(default="aftersales-qc", min_length=1, max_length=100)
    # An unreachable customer is called back again the next service-desk day, at most this many calls.
    callback_max_attempts: int = Field(default=3, ge=1, le=10)
    # The longest range GET /v1/reports/kpis answers (days, both ends included).
    report_max_range_days: int = Field(default=366, ge=1, le=3660)
    # An agent who sets `offline` has their open cases handed back to the queues after this long,
    # unless they are back by then (workflows/handback.py); 0 hands them back at once.
    offline_handback_seconds: float = Field(default=900.0, ge=0, le=7 * 86_400)

    log_level: str = "INFO"
    log_json: bool = True

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.local_dir / 'cases.db'}"

    @property
    def priority_rules(self) -> PriorityRules:
        return PriorityRules(
            high_amount=Money(amount=self.priority_high_amount, currency="CNY"),
            repeat_days=self.priority_repeat_days,
            repeat_cases=self.priority_repeat_cases,
        )

    @property
    def resolved_provider_base_url(self) -> str:
        return self.provider_base_url or f"http://{self.simulator_host}:{self.simulator_port}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
