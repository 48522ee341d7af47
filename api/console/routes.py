"""The console's pages (/console). Thin: each reads or acts through the API's own routes in-process
(api.console.web.api), so the roles, scoping (a merchant sees its own cases only) and validation are
the API's; the pages only arrange what it answers."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.auth import identity_of_key
from api.console import forms
from api.console.i18n import LANGUAGES, PLATFORM_TZ
from api.console.web import (
    HERE,
    LANG_COOKIE,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    Visitor,
    api,
    context,
    csrf_ok,
    form_of,
    render,
    set_cookie,
    sign_in_redirect,
    translator,
    visitor,
)
from domain.enums import Action, Actor, Step
from store import console_sessions

audit = logging.getLogger("audit.console")
router = APIRouter(prefix="/console", include_in_schema=False)
static = StaticFiles(directory=HERE / "static")
DISPUTE_STEPS = (Step.DISPUTE_EVIDENCE, Step.DISPUTE)
MESSAGE_ROLES = frozenset({Actor.AGENT, Actor.SUPERVISOR, Actor.DISPUTE, Actor.MERCHANT})
ADMINS = frozenset({Actor.SUPERVISOR, Actor.SYSTEM})
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _home(who: Visitor) -> str:
    role = who.identity.role
    if role == Actor.SUPERVISOR:
        return "/console/inbox"
    if role == Actor.DISPUTE:
        return "/console/disputes"
    if role == Actor.OPS:
        return "/console/dashboard"
    return "/console/queues"


def _safe_next(target: str) -> str:
    return (
        target if target.startswith("/console") and "//" not in target and "\\" not in target else "/console"
    )


# --- sign-in, sign-out, language ---------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    who = await visitor(request)
    if who is None:
        return sign_in_redirect(request)
    return RedirectResponse(_home(who), status_code=303, headers=SECURITY_HEADERS)


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, m: str = "") -> Response:
    return render(request, "sign_in.html", None, message=m if m in ("expired", "signed_out") else "")


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    """Exchange the person's API key (a form field, never the URL) for a session cookie."""
    ctx = context(request)
    key = (await form_of(request)).get("api_key", "")[:200]
    identity = await identity_of_key(ctx, key, cached=False) if key else None
    if identity is None:
        return render(request, "sign_in.html", None, status=401, message="bad_key")

    def start() -> str:
        with ctx.sessions.begin() as session:
            return console_sessions.create_console_session(session, identity.key_id)

    token = await run_in_threadpool(start)
    audit.info("console sign-in by %s", identity.actor)
    response = RedirectResponse(_home(Visitor(identity, token)), status_code=303, headers=SECURITY_HEADERS)
    set_cookie(response, ctx.settings, SESSION_COOKIE, token)
    return response


@router.post("/sign-out", response_class=HTMLResponse)
async def sign_out(request: Request) -> Response:
    who = await visitor(request)
    form = await form_of(request)
    if who is not None and csrf_ok(request, who, form):
        ctx = context(request)

        def end() -> None:
            with ctx.sessions.begin() as session:
                console_sessions.end_console_session(session, who.token)

        await run_in_threadpool(end)
        audit.info("console sign-out by %s", who.identity.actor)
    elif who is not None:
        return _csrf_refused(request, who)
    response = sign_in_redirect(request, "signed_out")
    response.delete_cookie(SESSION_COOKIE, path="/console", httponly=True, samesite="strict")
    return response


@router.post("/lang", response_class=HTMLResponse)
async def switch_language(request: Request) -> Response:
    """Remember the chosen language (a cookie) and go back to the page."""
    form = await form_of(request)
    who = await visitor(request)
    if who is not None and not csrf_ok(request, who, form):
        return _csrf_refused(request, who)
    chosen = form.get("lang", "")
    response = RedirectResponse(
        _safe_next(form.get("next", "/console")), status_code=303, headers=SECURITY_HEADERS
    )
    if chosen in LANGUAGES:
        set_cookie(response, context(request).settings, LANG_COOKIE, chosen, http_only=False)
    return response


async def _signed_form(request: Request) -> tuple[Visitor, dict[str, str]] | Response:
    """The visitor and the form of an action's POST; else the answer: to sign in, or 403 (CSRF)."""
    who = await visitor(request)
    if who is None:
        return sign_in_redirect(request, "expired")
    form = await form_of(request)
    if not csrf_ok(request, who, form):
        return _csrf_refused(request, who)
    return who, form


def _csrf_refused(request: Request, who: Visitor) -> HTMLResponse:
    t = translator(request)
    problem = {"status": "403", "title": t("error.403"), "detail": t("error.csrf")}
    return render(request, "_problem.html", who, status=403, problem=problem)


# --- the approval inbox --------------------------------------------------------------------------


def _due(case: dict[str, Any], step: str) -> str | None:
    for clock in case.get("sla") or []:
        if clock.get("step") == step and clock.get("due_at"):
            return str(clock["due_at"])
    return (case.get("deadlines") or {}).get(step)


def _inbox_order(case: dict[str, Any]) -> tuple[int, str, str]:
    due = _due(case, Step.AWAITING_APPROVAL) or "9999"
    return (0 if case.get("sla_breached") else 1, due, case["case_id"])


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(request: Request) -> Response:
    who = await visitor(request)
    if who is None:
        return sign_in_redirect(request, "expired" if request.cookies.get(SESSION_COOKIE) else "")
    answer = await api(
        request, who, "GET", "/v1/cases", params={"step": Step.AWAITING_APPROVAL, "limit": 200}
    )
    cases = sorted(answer.body["items"], key=_inbox_order) if answer.ok else []
    problem = None if answer.ok else translator(request).problem(answer.problem)
    may_decide = who.identity.role in forms.ACTION_ROLES[Action.APPROVAL]
    return render(
        request,
        "inbox.html",
        who,
        cases=cases,
        problem=problem,
        may_decide=may_decide,
        due=_due,
        fingerprint=_inbox_fingerprint(cases),
        case_id="",
    )


async def _awaiting_approval(request: Request, who: Visitor) -> list[dict[str, Any]] | None:
    answer = await api(
        request, who, "GET", "/v1/cases", params={"step": Step.AWAITING_APPROVAL, "limit": 200}
    )
    return list(answer.body["items"]) if answer.ok else None


def _inbox_fingerprint(cases: list[dict[str, Any]]) -> str:
    return hashlib.sha256(",".join(sorted(c["case_id"] for c in cases)).encode()).hexdigest()[:16]


@router.get("/inbox/changes", response_class=HTMLResponse)
async def inbox_changes(request: Request, v: str = "", gone: str = "") -> Response:
    """Polled by the inbox every few seconds: 204 while the cases awaiting approval are those shown
    (less `gone`, the one just decided here); else a notice with a link to reload (cards are not
    redrawn under a supervisor typing a comment)."""
    who = await visitor(request, touch=False)
    if who is None:
        return sign_in_redirect(request, "expired")
    found = await _awaiting_approval(request, who)
    waiting = [c for c in found or [] if c["case_id"] != gone]
    if found is None or _inbox_fingerprint(waiting) == v:
        return Response(status_code=204, headers=SECURITY_HEADERS)
    return render(request, "_inbox_changed.html", who, count=len(waiting))


@router.post("/inbox/{case_id}/decision", response_class=HTMLResponse)
async def decide(request: Request, case_id: str) -> Response:
    """Approve or reject from the inbox: on success the case's card is removed (htmx swap)."""
    signed = await _signed_form(request)
    if isinstance(signed, Response):
        return signed
    who, form = signed
    body = forms.body_of(Action.APPROVAL, form)
    answer = await api(request, who, "POST", f"/v1/cases/{case_id}/{Action.APPROVAL.path}", body=body)
    t = translator(request)
    if not answer.ok:
        shown = render(request, "_problem.html", who, problem=t.problem(answer.problem))
        shown.headers["HX-Retarget"] = f"#result-{case_id}"
        shown.headers["HX-Reswap"] = "innerHTML"
        return shown
    audit.info("console %s of case %s by %s", body["decision"], case_id, who.identity.actor)
    done = t("inbox.approved") if body["decision"] == "approve" else t("inbox.rejected")
    # The inbox's change poll goes on from the set left, this case excluded even before the store has
    # recorded its next step.
    rest = [c for c in await _awaiting_approval(request, who) or [] if c["case_id"] != case_id]
    return render(
        request, "_decided.html", who, case_id=case_id, done=done, fingerprint=_inbox_fingerprint(rest)
    )


# --- the case page -------------------------------------------------------------------------------


def _fingerprint(case: dict[str, Any], messages: list[dict[str, Any]]) -> str:
    last = messages[-1]["message_id"] if messages else ""
    seen = f"{case.get('updated_at')}|{len(messages)}|{last}|{len(case.get('timeline') or [])}"
    return hashlib.sha256(seen.encode()).hexdigest()[:16]


def _evidence(events: list[dict[str, Any]], case: dict[str, Any]) -> list[dict[str, Any]]:
    """Every evidence link: the customer's with the claim, then those in the case's events, with who
    gave it."""
    found: list[dict[str, Any]] = [
        {**e, "at": case.get("created_at"), "actor": "customer", "party": "customer"}
        for e in case.get("evidence") or []
    ]

    def walk(node: Any, event: dict[str, Any], party: str | None) -> None:
        if isinstance(node, dict):
            party = node.get("party", party) if isinstance(node.get("party"), str) else party
            if isinstance(node.get("url"), str) and node.get("kind"):
                found.append({**node, "at": event["at"], "actor": event["actor"], "party": party})
            for value in node.values():
                walk(value, event, party)
        elif isinstance(node, list):
            for value in node:
                walk(value, event, party)

    for event in events:
        payload = event.get("payload") or {}
        # Dispute evidence is recorded as the party and its links.
        for url in payload.get("evidence") or []:
            if isinstance(url, str):
                found.append(
                    {
                        "kind": "link",
                        "url": url,
                        "at": event["at"],
                        "actor": event["actor"],
                        "party": payload.get("party"),
                    }
                )
        walk(payload, event, None)
    return found


async def _holds_delegation(request: Request, who: Visitor) -> bool:
    """Whether the signed-in person holds an away approver's delegation today (as the API judges it)."""
    if who.identity.person_id is None:
        return False
    mine = await api(request, who, "GET", "/v1/me/delegations")
    today = datetime.now(UTC).date()
    return mine.ok and any(
        d["delegate_id"] == who.identity.person_id
        and date.fromisoformat(d["starts_on"]) <= today <= date.fromisoformat(d["ends_on"])
        for d in mine.body.get("items", [])
    )


async def _case_data(request: Request, who: Visitor, case_id: str) -> dict[str, Any] | Response:
    case = await api(request, who, "GET", f"/v1/cases/{case_id}")
    if not case.ok:
        t = translator(request)
        return render(request, "problem_page.html", who, status=case.status, problem=t.problem(case.problem))
    messages = await api(request, who, "GET", f"/v1/cases/{case_id}/messages", params={"limit": 200})
    events = await api(request, who, "GET", f"/v1/cases/{case_id}/events")
    items = messages.body.get("items", []) if messages.ok else []
    event_list = events.body.get("events", []) if events.ok else []
    view = case.body
    role = who.identity.role
    step = Step(view["step"])
    delegate = step == Step.AWAITING_APPROVAL and await _holds_delegation(request, who)
    return {
        "case": view,
        "messages": items,
        "evidence": _evidence(event_list, view),
        "fingerprint": _fingerprint(view, items),
        "actions": forms.actions_for(step, role, delegate=delegate),
        "may_message": role in MESSAGE_ROLES and view["step"] != Step.CLOSED,
        "forms": forms.FORMS,
        "amount_pattern": forms.AMOUNT_PATTERN,
    }


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(request: Request, case_id: str) -> Response:
    who = await visitor(request)
    if who is None:
        return sign_in_redirect(request, "expired" if request.cookies.get(SESSION_COOKIE) else "")
    data = await _case_data(request, who, case_id)
    if isinstance(data, Response):
        return data
    return render(request, "case.html", who, **data)


@router.get("/cases/{case_id}/live", response_class=HTMLResponse)
async def case_live(request: Request, case_id: str, v: str = "", step: str = "") -> Response:
    """Polled every second by the case page: 204 (nothing to swap) while the case and its messages are
    unchanged; else the case's new state, and its action forms too when the step moved."""
    who = await visitor(request, touch=False)
    if who is None:
        return sign_in_redirect(request, "expired")
    case = await api(request, who, "GET", f"/v1/cases/{case_id}")
    messages = await api(request, who, "GET", f"/v1/cases/{case_id}/messages", params={"limit": 200})
    if case.ok and messages.ok and _fingerprint(case.body, messages.body.get("items", [])) == v:
        return Response(status_code=204, headers=SECURITY_HEADERS)
    data = await _case_data(request, who, case_id)
    if isinstance(data, Response):
        return data
    return render(request, "_case_live.html", who, oob_actions=data["case"]["step"] != step, **data)


@router.post("/cases/{case_id}/act/{action}", response_class=HTMLResponse)
async def act(request: Request, case_id: str, action: str) -> Response:
    """Send one action of the case page; the answer is the API's problem detail or the new state."""
    signed = await _signed_form(request)
    if isinstance(signed, Response):
        return signed
    who, form = signed
    t = translator(request)
    if action == "message":
        body: dict[str, Any] = {
            "text": form.get("text", ""),
            "visibility": form.get("visibility", "internal"),
        }
        answer = await api(request, who, "POST", f"/v1/cases/{case_id}/messages", body=body)
    else:
        try:
            chosen = Action(action)
        except ValueError:
            return render(
                request,
                "_problem.html",
                who,
                problem={"status": "404", "title": t("error.404"), "detail": action},
            )
        body = forms.body_of(chosen, form)
        answer = await api(request, who, "POST", f"/v1/cases/{case_id}/{chosen.path}", body=body)
    if not answer.ok:
        return render(request, "_problem.html", who, problem=t.problem(answer.problem))
    audit.info("console %s on case %s by %s", action, case_id, who.identity.actor)
    data = await _case_data(request, who, case_id)
    if isinstance(data, Response):
        return data
    return render(request, "_acted.html", who, oob_live=True, oob_actions=True, **data)


# --- queues, my cases, disputes ------------------------------------------------------------------


@router.get("/queues", response_class=HTMLResponse)
async def queues(request: Request, queue: str = "") -> Response:
    who = await visitor(request)
    if who is None:
        return sign_in_redirect(request, "expired" if request.cookies.get(SESSION_COOKIE) else "")
    role = who.identity.role
    listed: list[dict[str, Any]] = []
    mine: list[dict[str, Any]] = []
    cases: list[dict[str, Any]] = []
    problem = None
    if role == Actor.MERCHANT:
        answer = await api(request, who, "GET", "/v1/cases", params={"limit": 100})
        cases = answer.body["items"] if answer.ok else []
    else:
        answer = await api(request, who, "GET", "/v1/queues")
        listed = answer.body["queues"] if answer.ok else []
        if who.identity.person_id:
            own = await api(request, who, "GET", "/v1/me/cases", params={"limit": 100})
            mine = own.body["items"] if own.ok else []
        if queue:
            picked = await api(request, who, "GET", f"/v1/queues/{queue}/cases", params={"limit": 100})
            cases = picked.body["items"] if picked.ok else []
            if not picked.ok:
                answer = picked
    if not answer.ok:
        problem = translator(request).problem(answer.problem)
    return render(
        request,
        "queues.html",
        who,
        queues=listed,
        mine=mine,
        cases=cases,
        queue=queue,
        problem=problem,
        due=_earliest_due,
    )


def _earliest_due(case: dict[str, Any]) -> str | None:
    dues = [c["due_at"] for c in case.get("sla") or [] if c.get("due_at") and not c.get("breached_at")]
    return min(dues) if dues else None


@router.get("/disputes", response_class=HTMLResponse)
async def disputes(request: Request) -> Response:
    who = await visitor(request)
    if who is None:
        return sign_in_redirect(request, "expired" if request.cookies.get(SESSION_COOKIE) else "")
    found: list[dict[str, Any]] = []
    problem = None
    for step in DISPUTE_STEPS:
        answer = await api(request, who, "GET", "/v1/cases", params={"step": step, "limit": 100})
        if not answer.ok:
            problem = translator(request).problem(answer.problem)
            continue
        for listed in answer.body["items"]:
            detail = await api(request, who, "GET", f"/v1/cases/{listed['case_id']}")
            case = detail.body if detail.ok else listed
            events = await api(request, who, "GET", f"/v1/cases/{listed['case_id']}/events")
            evidence = _evidence(events.body.get("events", []) if events.ok else [], case)
            found.append({"case": case, "evidence": evidence, "window": _due(case, Step.DISPUTE_EVIDENCE)})
    found.sort(key=lambda d: (d["window"] or "9999", d["case"]["case_id"]))
    may_rule = who.identity.role in forms.ACTION_ROLES[Action.DISPUTE_RULING]
    return render(
        request,
        "disputes.html",
        who,
        disputes=found,
        problem=problem,
        may_rule=may_rule,
        ruling=forms.FORMS[Action.DISPUTE_RULING],
        amount_pattern=forms.AMOUNT_PATTERN,
    )


# --- dashboard -----------------------------------------------------------------------------------


def _today() -> date:
    return datetime.now(UTC).astimezone(PLATFORM_TZ).date()


def _parse_day(text: str, default: date) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return default


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(request: Request, start: str = "", end: str = "") -> Response:
    who = await visitor(request)
    if who is None:
        return sign_in_redirect(request, "expired" if request.cookies.get(SESSION_COOKIE) else "")
    last = _parse_day(end, _today())
    first = _parse_day(start, last - timedelta(days=29))
    answer = await api(
        request, who, "GET", "/v1/reports/kpis", params={"from": first.isoformat(), "to": last.isoformat()}
    )
    kpis: dict[str, Any] = {}
    problem = None
    if answer.ok and answer.body.get("groups"):
        kpis = answer.body["groups"][0].get("kpis", {})
    elif not answer.ok:
        problem = translator(request).problem(answer.problem)
    return render(
        request,
        "dashboard.html",
        who,
        start=first.isoformat(),
        end=last.isoformat(),
        kpis=kpis,
        bars=_bars(kpis),
        problem=problem,
    )


def _bars(kpis: dict[str, Any]) -> dict[str, list[tuple[str, float, str]]]:
    """Per-step SLA attainment and breaches as (step, bar width %, figure) for plain CSS bars."""
    per_step = kpis.get("sla_by_step") or {}
    attainment: list[tuple[str, float, str]] = []
    counts: dict[str, int] = {}
    for step, figure in per_step.items():
        share = figure.get("attainment")
        if isinstance(share, int | float):
            attainment.append((step, max(0.0, min(share * 100, 100.0)), f"{share * 100:.1f}%"))
        counts[step] = int(figure.get("breaches") or 0)
    top = max(counts.values(), default=0) or 1
    breaches = [(step, n * 100.0 / top, str(n)) for step, n in counts.items()]
    return {"attainment": attainment, "breaches": breaches}


# --- calendar and freezes ------------------------------------------------------------------------


@router.get("/ops", response_class=HTMLResponse)
async def ops(request: Request, done: str = "") -> Response:
    who = await visitor(request)
    if who is None:
        return sign_in_redirect(request, "expired" if request.cookies.get(SESSION_COOKIE) else "")
    return await _ops_page(request, who)


async def _ops_page(
    request: Request, who: Visitor, result: str = "", problem: dict[str, str] | None = None
) -> Response:
    hours = {}
    for name in ("business", "service_desk"):
        answer = await api(request, who, "GET", f"/v1/calendars/{name}/hours")
        hours[name] = answer.body if answer.ok else None
    freezes = await api(request, who, "GET", "/v1/admin/freezes")
    return render(
        request,
        "ops.html",
        who,
        hours=hours,
        freezes=freezes.body if freezes.ok else [],
        may_admin=who.identity.role in ADMINS,
        result=result,
        problem=problem,
    )


@router.post("/ops/{change}", response_class=HTMLResponse)
async def ops_change(request: Request, change: str) -> Response:
    """A holiday or working day, a freeze or a thaw; the page says how many cases it signalled."""
    signed = await _signed_form(request)
    if isinstance(signed, Response):
        return signed
    who, form = signed
    scope = {k: form[k] for k in ("merchant_id", "region") if form.get(k)}
    if change == "override":
        calendar = form.get("calendar", "business")
        body: dict[str, Any] = {
            "date": form.get("date", ""),
            "kind": form.get("kind", "closed"),
            "note": form.get("note", ""),
            **scope,
        }
        answer = await api(request, who, "POST", f"/v1/admin/calendars/{calendar}/overrides", body=body)
    elif change == "hours":
        weekly = {
            day: [p.strip() for p in form[day].split(",") if p.strip()] for day in DAYS if form.get(day)
        }
        body = {"weekly": weekly, "note": form.get("note", ""), **scope}
        calendar = form.get("calendar", "business")
        answer = await api(request, who, "PUT", f"/v1/admin/calendars/{calendar}/hours", body=body)
    elif change == "clear_hours":
        calendar = form.get("calendar", "business")
        answer = await api(
            request, who, "DELETE", f"/v1/admin/calendars/{calendar}/hours", params=scope or None
        )
    elif change in ("freeze", "thaw"):
        body = {**scope, **({"reason": form["reason"]} if form.get("reason") else {})}
        answer = await api(request, who, "POST", f"/v1/admin/{change}", body=body)
    else:
        return Response(status_code=404, headers=SECURITY_HEADERS)
    t = translator(request)
    if not answer.ok:
        return await _ops_page(request, who, problem=t.problem(answer.problem))
    audit.info("console %s by %s: %s", change, who.identity.actor, answer.body)
    signalled = answer.body.get("signalled", (answer.body.get("cases") or {}).get("signalled", 0))
    return await _ops_page(request, who, result=t("ops.signalled", n=signalled))
