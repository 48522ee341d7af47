"""Screenshots of every console page in zh-CN, for docs/console/: `python -m devstack.screenshots`
while `make run` is going (it walks a few demo cases over the API first, as the README's walk-through).

Needs the dev extras (Playwright) and Debian's Chromium (`apt-get install chromium fonts-noto-cjk`).
The keys are read from .local/dev-api-keys.json; none is put in a URL or printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def _case_body(merchant: str, price: str, order: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "order": {
            "order_id": order,
            "merchant_id": merchant,
            "customer_id": "C-42",
            "paid_at": (now - timedelta(days=4)).isoformat(),
            "delivered_at": (now - timedelta(days=2)).isoformat(),
            "payment_method": "alipay",
            "lines": [
                {
                    "line_id": "L1",
                    "sku": "SKU-1",
                    "name": "电热水壶",
                    "category": "appliances",
                    "quantity": 1,
                    "unit_price": {"amount": price, "currency": "CNY"},
                }
            ],
        },
        "line_ids": ["L1"],
        "issue_type": "return_and_refund",
        "reason": "quality_issue",
        "description": "水壶底部漏水。",
        "evidence": [{"kind": "image", "url": "https://cdn.example.com/e/1.jpg"}],
        "contact": {"name": "张三", "phone": "+86 138 0000 0000", "address": "上海市浦东新区"},
        "channel": "app",
    }


class Demo:
    def __init__(self, api: str, keys: dict[str, str]) -> None:
        self.client = httpx.Client(base_url=api, timeout=30)
        self.keys = keys

    def call(self, role: str, method: str, path: str, body: Any = None) -> dict[str, Any]:
        answer = self.client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {self.keys[role]}"}
        )
        answer.raise_for_status()
        return dict(answer.json())

    def wait(self, case_id: str, step: str) -> None:
        deadline = time.monotonic() + 20
        while (
            self.call("system", "GET", f"/v1/cases/{case_id}")["step"] != step and time.monotonic() < deadline
        ):
            time.sleep(0.3)

    def case(self, price: str, merchant: str = "M-100") -> str:
        order = f"O-{datetime.now():%Y%m%d-%H%M%S%f}"
        case_id = str(self.call("system", "POST", "/v1/cases", _case_body(merchant, price, order))["case_id"])
        self.wait(case_id, "merchant_verification")
        return case_id

    def proposal(self, case_id: str, amount: str) -> None:
        self.call(
            "merchant",
            "POST",
            f"/v1/cases/{case_id}/merchant-response",
            {"accepts_claim": True, "comment": "确认漏水"},
        )
        self.wait(case_id, "liability_and_proposal")
        option = {
            "resolution": "refund_only",
            "refund": {"amount": amount, "currency": "CNY"},
            "note": "全额退款",
        }
        self.call(
            "agent", "POST", f"/v1/cases/{case_id}/proposal", {"liability": "merchant", "options": [option]}
        )

    def seed(self) -> str:
        """Two cases awaiting approval (one with a thread), one in dispute, one closed; the first's id."""
        first = self.case("1299.00")
        self.proposal(first, "1299.00")
        self.call(
            "system",
            "POST",
            f"/v1/cases/{first}/messages",
            {"text": "退款什么时候到账？", "visibility": "customer"},
        )
        self.call(
            "agent",
            "POST",
            f"/v1/cases/{first}/messages",
            {"text": "已提交主管审批，请耐心等待。", "visibility": "customer"},
        )
        self.call(
            "agent",
            "POST",
            f"/v1/cases/{first}/messages",
            {"text": "客户来电两次，注意安抚。", "visibility": "internal"},
        )
        second = self.case("899.00")
        self.proposal(second, "600.00")
        disputed = self.case("459.00")
        self.call(
            "merchant", "POST", f"/v1/cases/{disputed}/escalation", {"reason": "商品出库时完好，怀疑人为损坏"}
        )
        self.call(
            "merchant",
            "POST",
            f"/v1/cases/{disputed}/dispute-evidence",
            {
                "party": "merchant",
                "statement": "出库质检记录完好",
                "evidence": [{"kind": "image", "url": "https://cdn.example.com/e/packed.jpg"}],
            },
        )
        closed = self.case("129.00")
        self.proposal(closed, "129.00")
        for role, path, body in (
            ("system", "customer-decision", {"accept_option": 0}),
            ("system", "return-shipment", {"carrier": "顺丰速运", "tracking_no": "SF1234567890"}),
            ("merchant", "return-delivered", {}),
            ("merchant", "inspection", {"passed": True, "note": "漏水复现"}),
            ("system", "survey", {"csat": 5, "nps": 9, "comment": "处理很快"}),
        ):
            time.sleep(1)
            try:
                self.call(role, "POST", f"/v1/cases/{closed}/{path}", body)
            except httpx.HTTPStatusError as err:
                print(f"demo case {closed}: {path} answered {err.response.status_code}")
        return first


async def shoot(api: str, keys: dict[str, str], case_id: str, out: Path, chromium: str) -> list[Path]:
    from playwright.async_api import async_playwright

    shots: list[Path] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = await browser.new_context(
            base_url=api, locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1280, "height": 860}
        )
        page = await context.new_page()
        await page.goto("/console/sign-in")
        shots.append(out / "sign-in.png")
        await page.screenshot(path=str(shots[-1]), full_page=True)
        for role, pages in (
            (
                "supervisor",
                [
                    ("inbox", "/console/inbox"),
                    ("case", f"/console/cases/{case_id}"),
                    ("queues", "/console/queues?queue=general"),
                    ("dashboard", "/console/dashboard"),
                    ("ops", "/console/ops"),
                ],
            ),
            ("dispute", [("disputes", "/console/disputes")]),
        ):
            await context.clear_cookies()
            await page.goto("/console/sign-in")
            await page.get_by_label("API 密钥").fill(keys[role])
            await page.get_by_role("button", name="登录").click()
            await page.wait_for_selector("#sign-out")
            for name, path in pages:
                await page.goto(path)
                if name == "case":
                    await page.locator("#case-live .clock summary").first.click()
                shots.append(out / f"{name}.png")
                await page.screenshot(path=str(shots[-1]), full_page=True)
        await browser.close()
    return shots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--keys", type=Path, default=ROOT / ".local" / "dev-api-keys.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    keys = json.loads(args.keys.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    case_id = Demo(args.api, keys).seed()
    for shot in asyncio.run(shoot(args.api, keys, case_id, args.out, args.chromium)):
        print(shot.relative_to(ROOT) if shot.is_relative_to(ROOT) else shot)


if __name__ == "__main__":
    main()
