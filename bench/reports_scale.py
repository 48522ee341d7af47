"""Reports at scale (issue 16): KPIs over a million closed cases on PostgreSQL.

    .venv/bin/python -m bench.reports_scale [--cases 1000000] [--database-url URL] [--runs 20]
                                            [--reuse]

1. creates the database if it is missing (default `bench_reports` on the local server), migrates it
   and, unless `--reuse` finds it loaded, loads `--cases` closed cases spread evenly, in time order
   (as production writes them), over the 365 days up to 2026-10-31 (200 merchants, skewed; 300
   agents; every dimension varied): the case rows, their report facts (`report_cases`,
   `report_case_items`) and about one customer message per case, with COPY, in chunks, printing
   progress; then ANALYZE;
2. times `store.reports.compute` for October grouped by merchant (`--runs` times: p50, p95, max), the
   same by merchant and day, and a daily report's worth of KPIs (one day: ungrouped and by each of
   merchant, issue type, reason, category, channel, queue, agent);
3. times the naive approach of the endpoint this replaced, for the same month by merchant: read the
   month's closed case rows into Python and aggregate there (its figures are the old, wrong ones:
   wall time, any breach) — the ratio is the point.
"""

from __future__ import annotations

import argparse
import io
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from bench.report import Progress, ms, percentile, show
from domain.kpis import Grouping
from store.db import make_engine, make_session_factory
from store.migrate import upgrade
from store.models import CaseRow, ReportCaseRow
from store.reports import KpiQuery, compute

DEFAULT_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/bench_reports"
LAST_DAY = date(2026, 10, 31)
CHUNK = 50_000
ISSUES = ["return_and_refund", "refund_only", "exchange", "repair", "resend", "compensation", "complaint"]
REASONS = ["quality_issue", "not_as_described", "wrong_item", "missing_item", "damaged_in_transit",
           "not_delivered", "changed_mind", "other"]  # fmt: skip
CHANNELS = ["app", "web", "hotline", "chat", "email"]
CATEGORIES = ["appliances", "toys", "clothing", "books", "phones", "beauty", "fresh_food", "furniture"]
QUEUES = ["general", "complaints", "high-value", "key-accounts", "logistics"]
CLOSES = ["resolved"] * 14 + ["rejected"] * 2 + ["withdrawn", "expired", "duplicate"]
STEPS = [("merchant_verification", "merchant"), ("liability_and_proposal", "platform"),
         ("awaiting_approval", "platform"), ("refunding", "platform"), ("awaiting_inspection", "merchant"),
         ("dispute", "platform")]  # fmt: skip
CODES = ["merchant_timeout_auto_accept", "customer_timeout_first_option", "inspection_timeout_auto_pass",
         "refund_on_return_scan"]  # fmt: skip
DAILY = ["", "merchant", "issue_type", "reason", "category", "channel", "queue", "agent"]


def ensure_database(url: str) -> None:
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}):
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def _tsv(values: list[object]) -> str:
    return "\t".join("\\N" if v is None else str(v) for v in values)


def rows(total: int, seed: int) -> Iterator[tuple[str, str, list[str], list[str]]]:
    """Per case: its `cases` line, its `report_cases` line, its item lines, its message lines."""
    rnd = random.Random(seed)
    merchants = [f"M-{i:04d}" for i in range(200)]
    weights = [1 / (i + 1) ** 0.8 for i in range(200)]
    agents = [f"P-{i:04d}" for i in range(300)]
    first = datetime(LAST_DAY.year, LAST_DAY.month, LAST_DAY.day, 16, tzinfo=UTC) - timedelta(days=365)
    for n in range(total):
        case_id = f"ASB{n:012d}"
        # Cases close in time order, as in production (rows are written when a case closes).
        closed_at = first + timedelta(seconds=365 * 86400 * n // total + rnd.randrange(600))
        created_at = closed_at - timedelta(seconds=rnd.randrange(3600, 20 * 86400))
        closed_on = (closed_at + timedelta(hours=8)).date()  # Asia/Shanghai has no DST
        merchant = rnd.choices(merchants, weights)[0]
        issue, reason = rnd.choice(ISSUES), rnd.choice(REASONS)
        close = rnd.choice(CLOSES)
        agent = rnd.choice(agents) if rnd.random() < 0.9 else None
        case = _tsv([case_id, f"case-{case_id}", "0" * 64, "{}", f"O-{n}", merchant, "C-1", issue, reason,
                     "closed", "closed", close, "normal", rnd.choice(QUEUES), agent, "f", "129.00", "0.00",
                     "CNY", "{}", "{}", 1, created_at.isoformat(), closed_at.isoformat()])  # fmt: skip
        steps = rnd.sample(STEPS, rnd.randint(1, 4))
        limits = [(s, p, 1, 1 if rnd.random() < 0.08 else 0) for s, p in steps]
        limits.append(("platform", "platform", 1, 0))
        by_party = {
            party: (
                sum(t for _, p, t, _ in limits if p == party),
                sum(m for _, p, _, m in limits if p == party),
            )
            for party in ("platform", "merchant")
        }
        answered = rnd.random() < 0.6
        refunds = 1 if issue in ("return_and_refund", "refund_only") and close == "resolved" else 0
        outcome = rnd.choice(["refund_only", "reject", "auto:refund_only"]) if rnd.random() < 0.05 else None
        facts = _tsv([
            case_id, merchant, issue, reason, rnd.choice(CATEGORIES), rnd.choice(CHANNELS),
            rnd.choice(QUEUES), agent, created_at.isoformat(), closed_at.isoformat(), closed_on.isoformat(),
            close, rnd.randrange(600, 40_000),
            *by_party["platform"], *by_party["merchant"],
            "t" if rnd.random() < 0.03 else "f", "t" if rnd.random() < 0.05 else "f",
            "t" if rnd.random() < 0.04 else "f", "t" if close == "resolved" else "f",
            rnd.randint(1, 5) if answered else None, rnd.randint(0, 10) if answered else None,
            refunds, "129.00" if refunds else "0.00", rnd.randrange(60, 86400) if refunds else None,
            outcome,
        ])  # fmt: skip
        items = [_tsv([case_id, "limit", s, p, t, m, closed_on]) for s, p, t, m in limits]
        if rnd.random() < 0.1:
            items.append(_tsv([case_id, "auto", rnd.choice(CODES), "", 1, 0, closed_on]))
        if outcome:
            items.append(_tsv([case_id, "outcome", outcome, "", 1, 0, closed_on]))
        messages = []
        for k in range(rnd.choice((0, 1, 1, 2))):
            at = closed_at - timedelta(seconds=rnd.randrange(86400 * 3))
            frs = rnd.randrange(5, 3600) if rnd.random() < 0.95 else None
            messages.append(_tsv([
                f"MB{n:012d}{k}", case_id, at.isoformat(), "C-1", "customer", "customer", "?", "[]",
                frs, "f", (at + timedelta(hours=8)).date().isoformat(),
                at.isoformat() if frs and frs > 900 else None,
            ]))  # fmt: skip
        yield case, facts, items, messages


COPIES = {
    "cases": "cases (case_id, workflow_id, request_hash, request, order_id, merchant_id, customer_id, "
    "issue_type, reason, status, step, close_reason, priority, queue, assigned_to, sla_breached, "
    "paid_amount, refunded_amount, currency, deadlines, view, version, created_at, updated_at)",
    "report_cases": "report_cases (case_id, merchant_id, issue_type, reason, category, channel, queue, "
    "agent, created_at, closed_at, closed_on, close_reason, aht_seconds, platform_limits, platform_breaches, "
    "merchant_limits, merchant_breaches, appealed, disputed, second_remedy, survey_sent, csat, nps, refunds, "
    "refunded_amount, refund_seconds, dispute_outcome)",
    "report_case_items": "report_case_items (case_id, kind, name, party, total, missed, closed_on)",
    "messages": "messages (message_id, case_id, at, author, author_party, visibility, text, attachments, "
    "first_response_seconds, night, counts_on, frt_breached_at)",
}


def load(engine: Engine, total: int, seed: int) -> None:
    progress = Progress("cases loaded", total)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        buffers: dict[str, list[str]] = defaultdict(list)

        def flush() -> None:
            for table in COPIES:
                if buffers[table]:
                    data = io.StringIO("\n".join(buffers[table]) + "\n")
                    cursor.copy_expert(f"COPY {COPIES[table]} FROM STDIN", data)
                    buffers[table].clear()
            raw.commit()

        done = 0
        for case, facts, items, messages in rows(total, seed):
            buffers["cases"].append(case)
            buffers["report_cases"].append(facts)
            buffers["report_case_items"].extend(items)
            buffers["messages"].extend(messages)
            done += 1
            if done % CHUNK == 0:
                flush()
                progress.tick(CHUNK)
        flush()
        if done % CHUNK:
            progress.tick(done % CHUNK)
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in COPIES:
            conn.execute(text(f"ANALYZE {table}"))


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return times


def naive_month_by_merchant(sessions: sessionmaker[Session], start: date, end: date) -> dict[str, float]:
    """The replaced endpoint's way: closed case rows into Python, aggregated there."""
    lo = datetime(start.year, start.month, start.day, tzinfo=UTC) - timedelta(hours=8)
    hi = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(hours=16)
    with sessions() as session:
        found = session.execute(
            select(CaseRow.merchant_id, CaseRow.created_at, CaseRow.updated_at, CaseRow.sla_breached).where(
                CaseRow.status == "closed", CaseRow.updated_at >= lo, CaseRow.updated_at < hi
            )
        ).all()
    hours: dict[str, list[float]] = defaultdict(list)
    for merchant, created, updated, _ in found:
        hours[merchant].append((updated - created).total_seconds() / 3600)
    return {m: sum(h) / len(h) for m, h in hours.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--reuse", action="store_true", help="keep the loaded cases if the count matches")
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgresql"):
        parser.error("PostgreSQL only (COPY)")
    ensure_database(args.database_url)
    upgrade(args.database_url)
    engine = make_engine(args.database_url)
    sessions = make_session_factory(engine)
    with sessions() as session:
        stored = session.scalar(select(func.count()).select_from(ReportCaseRow)) or 0
    if not (args.reuse and stored == args.cases):
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE messages, report_case_items, report_cases, cases CASCADE"))
        began = time.perf_counter()
        load(engine, args.cases, args.seed)
        print(f"loaded {args.cases} cases in {time.perf_counter() - began:.0f} s", flush=True)
    with sessions() as session:
        counts = {t: session.scalar(text(f"SELECT count(*) FROM {t}")) for t in COPIES}
    print("rows:", counts, flush=True)

    month = KpiQuery(date(2026, 10, 1), date(2026, 10, 31), Grouping(("merchant",)))
    month_day = KpiQuery(date(2026, 10, 1), date(2026, 10, 31), Grouping(("merchant", "period")))
    day = date(2026, 10, 30)

    def run(q: KpiQuery) -> Callable[[], object]:
        def go() -> object:
            with sessions() as session:
                return compute(session, q)

        return go

    def daily() -> object:
        with sessions() as session:
            return [
                compute(session, KpiQuery(day, day, Grouping(tuple(g for g in (dim,) if g)))) for dim in DAILY
            ]

    run(month)()  # warm the cache once, as a server would be
    with sessions() as session:
        groups = compute(session, month)
    closed_in_month = sum(g["kpis"]["cases_closed"] for g in groups)
    results = []
    for label, fn, runs in (
        ("October, by merchant", run(month), args.runs),
        ("October, by merchant and day", run(month_day), max(5, args.runs // 4)),
        (f"daily report ({day}: ungrouped + {len(DAILY) - 1} groupings)", daily, max(5, args.runs // 4)),
        (
            "naive: October by merchant, rows into Python",
            lambda: naive_month_by_merchant(sessions, month.start, month.end),
            max(5, args.runs // 4),
        ),
    ):
        times = timed(fn, runs)
        results.append((label, runs, times))
        print(f"  {label}: p50 {ms(percentile(times, 50))}, p95 {ms(percentile(times, 95))}", flush=True)
    show(
        f"Reports over {args.cases:,} closed cases ({closed_in_month:,} closed in October, "
        f"{len(groups)} merchants)",
        ["what", "runs", "p50", "p95", "max"],
        [
            [label, runs, ms(percentile(t, 50)), ms(percentile(t, 95)), ms(max(t))]
            for label, runs, t in results
        ],
    )
    facts_p50, naive_p50 = percentile(results[0][2], 50), percentile(results[3][2], 50)
    print(f"\nnaive / facts (p50, October by merchant): {naive_p50 / facts_p50:.1f}x", flush=True)
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
