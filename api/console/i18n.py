"""The console's message catalogue (zh-CN, the default, and English) and locale formatting.

Every key has both languages (tests/test_console_i18n.py checks it, and that every step, status,
action, liability, resolution, issue type, reason and close reason has a label). Times are shown in
the platform time zone; money with the locale's currency format (babel).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_currency, format_decimal

from domain.calendar import DEFAULT_TIMEZONE

ZH, EN = "zh-CN", "en"
LANGUAGES = (ZH, EN)
DEFAULT_LANGUAGE = ZH
PLATFORM_TZ = ZoneInfo(DEFAULT_TIMEZONE)
_BABEL = {ZH: "zh_CN", EN: "en_US"}

ENUMS: dict[str, dict[str, tuple[str, str]]] = {
    "step": {
        "submitted": ("已提交", "Submitted"),
        "preliminary_review": ("初审", "Preliminary review"),
        "awaiting_customer_info": ("待买家补充资料", "Awaiting customer info"),
        "merchant_verification": ("商家核实", "Merchant verification"),
        "liability_and_proposal": ("定责与方案", "Liability and proposal"),
        "awaiting_approval": ("待审批", "Awaiting approval"),
        "awaiting_customer_decision": ("待买家确认方案", "Awaiting customer decision"),
        "dispute_evidence": ("纠纷举证", "Dispute evidence"),
        "dispute": ("纠纷裁决", "Dispute"),
        "awaiting_return_shipment": ("待买家退货", "Awaiting return shipment"),
        "return_in_transit": ("退货运输中", "Return in transit"),
        "awaiting_inspection": ("待商家验货", "Awaiting inspection"),
        "refunding": ("退款中", "Refunding"),
        "shipping_replacement": ("换货发出中", "Shipping replacement"),
        "repairing": ("维修中", "Repairing"),
        "resending": ("补发中", "Resending"),
        "outbound_in_transit": ("商家发货运输中", "Outbound in transit"),
        "compensating": ("补偿中", "Compensating"),
        "follow_up": ("回访", "Follow-up"),
        "closed": ("已关闭", "Closed"),
    },
    "status": {
        "pending": ("待处理", "Pending"),
        "processing": ("处理中", "Processing"),
        "awaiting_customer": ("待买家操作", "Awaiting customer"),
        "completed": ("已完成", "Completed"),
        "closed": ("已关闭", "Closed"),
    },
    "action": {
        "customer_info": ("补充资料", "Customer info"),
        "merchant_response": ("商家答复", "Merchant response"),
        "proposal": ("提交方案", "Proposal"),
        "approval": ("审批", "Approval"),
        "customer_decision": ("买家决定", "Customer decision"),
        "return_shipment": ("退货寄出", "Return shipment"),
        "return_delivered": ("退货签收", "Return delivered"),
        "inspection": ("验货", "Inspection"),
        "replacement_shipment": ("换货寄出", "Replacement shipment"),
        "outbound_delivered": ("商家发货签收", "Outbound delivered"),
        "escalation": ("升级", "Escalation"),
        "dispute_evidence": ("提交举证", "Dispute evidence"),
        "dispute_ruling": ("纠纷裁决", "Dispute ruling"),
        "withdrawal": ("撤销申请", "Withdrawal"),
        "appeal": ("申诉", "Appeal"),
        "survey": ("满意度调查", "Survey"),
        "notes": ("备注", "Note"),
        "second_remedy": ("二次处理", "Second remedy"),
        "claim": ("领取", "Claim"),
        "assign": ("分派", "Assign"),
        "release": ("释放", "Release"),
    },
    "liability": {
        "merchant": ("商家责任", "Merchant"),
        "logistics": ("物流责任", "Logistics"),
        "customer": ("买家责任", "Customer"),
        "force_majeure": ("不可抗力", "Force majeure"),
    },
    "resolution": {
        "return_and_refund": ("退货退款", "Return and refund"),
        "refund_only": ("仅退款", "Refund only"),
        "exchange": ("换货", "Exchange"),
        "repair": ("维修", "Repair"),
        "resend": ("补发", "Resend"),
        "partial_refund": ("部分退款", "Partial refund"),
        "compensation": ("补偿", "Compensation"),
        "reject": ("驳回", "Reject"),
    },
    "issue": {
        "return_and_refund": ("退货退款", "Return and refund"),
        "refund_only": ("仅退款", "Refund only"),
        "exchange": ("换货", "Exchange"),
        "repair": ("维修", "Repair"),
        "resend": ("补发", "Resend"),
        "compensation": ("补偿", "Compensation"),
        "complaint": ("投诉", "Complaint"),
    },
    "reason": {
        "quality_issue": ("质量问题", "Quality issue"),
        "not_as_described": ("与描述不符", "Not as described"),
        "wrong_item": ("发错货", "Wrong item"),
        "missing_item": ("少件/漏发", "Missing item"),
        "damaged_in_transit": ("运输损坏", "Damaged in transit"),
        "not_delivered": ("未收到货", "Not delivered"),
        "changed_mind": ("不想要了", "Changed mind"),
        "other": ("其他", "Other"),
    },
    "close": {
        "resolved": ("已解决", "Resolved"),
        "rejected": ("已驳回", "Rejected"),
        "withdrawn": ("已撤销", "Withdrawn"),
        "expired": ("已超时关闭", "Expired"),
        "duplicate": ("重复申请", "Duplicate"),
    },
    "role": {
        "system": ("系统", "System"),
        "agent": ("客服", "Agent"),
        "supervisor": ("主管", "Supervisor"),
        "manager": ("经理", "Manager"),
        "dispute": ("纠纷组", "Dispute team"),
        "merchant": ("商家", "Merchant"),
        "ops": ("运维", "Ops"),
        "customer": ("买家", "Customer"),
    },
    "kpi": {
        "cases_closed": ("已关闭工单", "Closed cases"),
        "frt_avg_seconds": ("首次响应时长（平均）", "First response time, average"),
        "frt_p90_seconds": ("首次响应时长（P90）", "First response time, 90th percentile"),
        "frt_answered": ("已回复的买家消息", "Customer messages answered"),
        "frt_unanswered": ("未回复的买家消息", "Customer messages not answered"),
        "frt_breaches": ("首次响应超时", "Late first responses"),
        "aht_avg_seconds": ("平均处理时长", "Average handling time"),
        "fcr_rate": ("一次解决率", "First-contact resolution"),
        "csat_avg": ("满意度（平均）", "CSAT, mean"),
        "csat_satisfied_share": ("满意占比", "CSAT, share satisfied"),
        "nps": ("净推荐值", "Net promoter score"),
        "survey_response_rate": ("调查回复率", "Survey response rate"),
        "complaint_rate_per_100": ("投诉率（每百单）", "Complaint rate"),
        "complaint_rate_per_1000_orders": ("投诉率（每千订单）", "Complaint rate per orders"),
        "sla_limits": ("计时时限数", "Limits run"),
        "sla_attainment": ("时效达成率", "SLA attainment"),
        "sla_attainment_platform": ("平台时效达成率", "SLA attainment, platform"),
        "sla_attainment_merchant": ("商家时效达成率", "SLA attainment, merchant"),
        "sla_breaches": ("超时次数", "SLA breaches"),
        "sla_by_step": ("各环节时效", "SLA per step"),
        "auto_decisions": ("自动决策", "Automatic decisions by reason code"),
        "refunds_count": ("退款笔数", "Refunds"),
        "refunds_amount": ("退款金额", "Refunded amount"),
        "refund_time_avg_seconds": ("决定到退款时长", "Decision to refund"),
        "withdrawal_rate": ("撤销率", "Withdrawal rate"),
        "appeal_rate": ("申诉率", "Appeal rate"),
        "dispute_outcomes": ("纠纷裁决结果", "Dispute outcomes"),
    },
    # Timeline entries by kind: every audit EventKind, and the kinds the workflow writes by name.
    "event": {
        "intake": ("受理", "Case received"),
        "step": ("进入环节", "Step entered"),
        "review_passed": ("初审通过", "Review passed"),
        "review_out_of_scope": ("不在售后范围", "Out of scope"),
        "info_requested": ("要求补充资料", "Information requested"),
        "info_supplied": ("已补充资料", "Information supplied"),
        "merchant_responded": ("商家已回应", "Merchant responded"),
        "auto_accepted": ("超时自动同意", "Accepted on timeout"),
        "proposed": ("已提出方案", "Proposal made"),
        "approved": ("已审批通过", "Approved"),
        "approval_rejected": ("审批退回", "Approval sent back"),
        "rejection_overruled": ("驳回被推翻", "Rejection overruled"),
        "option_accepted": ("买家已选方案", "Option accepted"),
        "declined": ("买家已拒绝", "Declined"),
        "escalated": ("已升级", "Escalated"),
        "dispute_evidence": ("纠纷举证", "Dispute evidence"),
        "dispute_evidence_complete": ("举证完成", "Evidence complete"),
        "dispute_evidence_closed": ("举证期结束", "Evidence window closed"),
        "auto_judged": ("自动判定", "Judged automatically"),
        "ruled": ("纠纷已裁决", "Ruled"),
        "return_shipped": ("退货已寄出", "Return shipped"),
        "return_delivered": ("退货已签收", "Return delivered"),
        "inspected": ("已验货", "Inspected"),
        "auto_passed": ("超时自动验货通过", "Passed on timeout"),
        "refunded": ("已退款", "Refunded"),
        "refund_failed": ("退款失败", "Refund failed"),
        "compensated": ("已补偿", "Compensated"),
        "replacement_shipped": ("换货已发出", "Replacement shipped"),
        "repair_return_shipped": ("维修件已寄回", "Repaired item shipped"),
        "resend_shipped": ("补发已发出", "Resend shipped"),
        "outbound_delivered": ("发出商品已签收", "Shipment delivered"),
        "survey_answered": ("买家已评价", "Survey answered"),
        "survey_closed": ("评价期结束", "Survey closed"),
        "callback_scheduled": ("已安排回访", "Callback scheduled"),
        "second_remedy": ("二次处理", "Second remedy"),
        "withdrawn": ("买家已撤销", "Withdrawn"),
        "appealed": ("已申诉", "Appealed"),
        "closed": ("已关闭", "Closed"),
        "note": ("备注", "Note"),
        "sla_warning": ("时限预警", "Limit warning"),
        "reminder": ("提醒", "Reminder"),
        "sla_breached": ("已超时", "Limit breached"),
        "sla_escalated": ("超时升级", "Breach escalated"),
        "limit_reached": ("时限已到", "Limit reached"),
        "undelivered": ("通知未送达", "Notice undelivered"),
        "merchant_overdue": ("商家逾期", "Merchant overdue"),
        "deadline_moved": ("截止时间已调整", "Deadline moved"),
        "clock_frozen": ("计时冻结", "Clock frozen"),
        "clock_thawed": ("计时解冻", "Clock thawed"),
        "signal_ignored": ("操作被忽略", "Action ignored"),
        "notification_failed": ("通知发送失败", "Notification failed"),
        "claimed": ("已认领", "Claimed"),
        "assigned": ("已指派", "Assigned"),
        "released": ("已释放", "Released"),
        "carrier_scan": ("物流扫描", "Carrier scan"),
        "carrier_scan_ignored": ("物流扫描已忽略", "Carrier scan ignored"),
        "return_tracking_updated": ("退货单号已更新", "Return tracking updated"),
        "outbound_tracking_updated": ("发货单号已更新", "Shipment tracking updated"),
        "parcel_lost": ("包裹丢失", "Parcel lost"),
        "carrier_claim_opened": ("已发起物流索赔", "Carrier claim opened"),
        "carrier_claim_failed": ("物流索赔未能发起", "Carrier claim failed"),
    },
    "visibility": {
        "internal": ("内部备注", "Internal note"),
        "customer": ("买家可见", "To the customer"),
        "merchant": ("商家可见", "To the merchant"),
    },
}

MESSAGES: dict[str, tuple[str, str]] = {
    "app.title": ("售后工作台", "After-sales console"),
    "nav.inbox": ("审批收件箱", "Approval inbox"),
    "nav.queues": ("队列与我的工单", "Queues and my cases"),
    "nav.disputes": ("纠纷队列", "Dispute queue"),
    "nav.dashboard": ("数据看板", "Dashboard"),
    "nav.ops": ("日历与冻结", "Calendar and freezes"),
    "nav.main": ("主导航", "Main navigation"),
    "signin.title": ("登录", "Sign in"),
    "signin.key": ("API 密钥", "API key"),
    "signin.help": (
        "使用您本人的 API 密钥登录。密钥不会保存在浏览器中。",
        "Sign in with your own API key. The key is not kept in the browser.",
    ),
    "signin.submit": ("登录", "Sign in"),
    "signin.bad_key": ("密钥无效或已吊销。", "Unknown or revoked API key."),
    "signin.expired": ("会话已过期，请重新登录。", "Your session has expired; please sign in again."),
    "signin.signed_out": ("您已退出登录。", "You have signed out."),
    "signout": ("退出登录", "Sign out"),
    "signed_in_as": ("当前用户", "Signed in as"),
    "lang.switch": ("English", "中文"),
    "lang.label": ("语言", "Language"),
    "inbox.title": ("审批收件箱", "Approval inbox"),
    "inbox.empty": ("没有待审批的工单。", "No cases await approval."),
    "inbox.hint": (
        "超时的排在前面，其余按到期时间排序。",
        "Breached cases first, then by due time.",
    ),
    "inbox.approved": ("已批准", "Approved"),
    "inbox.changed": (
        "收件箱有变化：现有 {n} 个待审批工单。点击刷新",
        "The inbox changed: {n} case(s) now await approval. Reload",
    ),
    "skip": ("跳到主要内容", "Skip to main content"),
    "tz.note": ("时间均为平台时区（{tz}）。", "Times are in the platform time zone ({tz})."),
    "inbox.rejected": ("已驳回", "Rejected"),
    "case": ("工单", "Case"),
    "case.title": ("工单 {case_id}", "Case {case_id}"),
    "case.order": ("订单", "Order"),
    "case.merchant": ("商家", "Merchant"),
    "case.step": ("当前环节", "Step"),
    "case.status": ("状态", "Status"),
    "case.issue": ("售后类型", "Issue"),
    "case.reason": ("原因", "Reason"),
    "case.liability": ("责任方", "Liability"),
    "case.options": ("方案", "Options"),
    "case.amount": ("金额", "Amount"),
    "case.due": ("到期", "Due"),
    "case.assigned": ("处理人", "Assigned to"),
    "case.queue": ("队列", "Queue"),
    "case.priority": ("优先级", "Priority"),
    "case.breached": ("已超时", "Breached"),
    "case.closed_reason": ("关闭原因", "Close reason"),
    "case.timeline": ("时间线", "Timeline"),
    "case.messages": ("消息与备注", "Messages and notes"),
    "case.no_messages": ("暂无消息。", "No messages yet."),
    "case.money": ("金额", "Money"),
    "case.paid": ("实付", "Paid"),
    "case.refunded": ("已退款", "Refunded"),
    "case.remaining": ("剩余可退", "Remaining"),
    "case.compensated": ("已补偿", "Compensated"),
    "case.per_line": ("按订单行", "Per order line"),
    "case.line": ("订单行", "Line"),
    "case.evidence": ("证据", "Evidence"),
    "case.no_evidence": ("暂无证据。", "No evidence."),
    "case.clocks": ("时限", "Clocks"),
    "case.no_clocks": ("没有正在计时的时限。", "No clock is running."),
    "case.actions": ("可执行操作", "Actions"),
    "case.no_actions": ("当前环节您没有可执行的操作。", "You have no action at this step."),
    "case.tracking": ("运单号", "Tracking no."),
    "case.updated": ("最后更新", "Last updated"),
    "case.live": ("本页每秒自动刷新。", "This page updates every second."),
    "case.open": ("打开", "Open"),
    "clock.remaining": ("剩余", "Remaining"),
    "clock.overdue": ("已超时", "Overdue by"),
    "clock.day": ("天", "d"),
    "clock.why": ("为何此时到期", "Why due then"),
    "clock.limit": ("时限", "Limit"),
    "clock.calendar": ("日历", "Calendar"),
    "clock.started": ("开始于", "Started"),
    "clock.used": ("已用", "Used"),
    "clock.paused": ("暂停", "Paused"),
    "clock.frozen": ("冻结自", "Frozen since"),
    "clock.policy": ("规则版本", "Policy version"),
    "clock.platform": ("平台总时限", "Platform limit"),
    "form.comment": ("意见", "Comment"),
    "form.approve": ("批准", "Approve"),
    "form.reject": ("驳回", "Reject"),
    "form.send": ("提交", "Send"),
    "form.required": ("此项必填。", "This field is required."),
    "form.bad_amount": (
        "金额格式不正确：请输入正数，最多两位小数，例如 129.00。",
        "Invalid amount: enter a positive number with at most two decimals, e.g. 129.00.",
    ),
    "form.bad_value": ("此项的值无效。", "This value is not valid."),
    "form.sending": ("提交中…", "Sending…"),
    "form.done": ("已提交。", "Sent."),
    "field.accepts_claim": ("认可买家诉求", "Accepts the claim"),
    "field.passed": ("验货通过", "Inspection passed"),
    "field.carrier": ("承运商", "Carrier"),
    "field.tracking_no": ("运单号", "Tracking number"),
    "field.note": ("说明", "Note"),
    "field.reason": ("理由", "Reason"),
    "field.liability": ("责任方", "Liability"),
    "field.resolution": ("处理方式", "Resolution"),
    "field.refund": ("退款金额 (CNY)", "Refund (CNY)"),
    "field.compensation": ("补偿金额 (CNY)", "Compensation (CNY)"),
    "field.statement": ("陈述", "Statement"),
    "field.evidence_url": ("证据链接", "Evidence link"),
    "field.party": ("举证方", "Party"),
    "field.person_id": ("人员编号", "Person id"),
    "field.text": ("内容", "Text"),
    "field.visibility": ("可见范围", "Visibility"),
    "field.description": ("描述", "Description"),
    "field.accept_option": ("接受的方案序号", "Option to accept"),
    "queues.title": ("队列", "Queues"),
    "queues.depth": ("未结工单", "Open cases"),
    "queues.oldest": ("最早创建", "Oldest opened"),
    "queues.breached": ("超时", "Breached"),
    "queues.mine": ("我的工单", "My cases"),
    "queues.none": ("没有工单。", "No cases."),
    "queues.merchant_cases": ("本店工单", "Our cases"),
    "disputes.title": ("纠纷队列", "Dispute queue"),
    "disputes.empty": ("没有纠纷工单。", "No cases in dispute."),
    "disputes.window": ("举证期", "Evidence window"),
    "disputes.customer": ("买家举证", "Customer's evidence"),
    "disputes.merchant": ("商家举证", "Merchant's evidence"),
    "disputes.ruling": ("裁决", "Ruling"),
    "disputes.appealed": ("已申诉", "Appealed"),
    "dashboard.title": ("数据看板", "Dashboard"),
    "dashboard.from": ("开始日期", "From"),
    "dashboard.to": ("结束日期", "To"),
    "dashboard.show": ("查看", "Show"),
    "dashboard.sla": ("各环节时效达成率", "SLA attainment per step"),
    "dashboard.breaches": ("各环节超时数", "Breaches per step"),
    "dashboard.unavailable": ("无数据", "no data"),
    "dashboard.kpis": ("指标", "KPIs"),
    "ops.title": ("日历与冻结", "Calendar and freezes"),
    "ops.read_only": ("您的角色只能查看。", "Your role can only read this page."),
    "ops.calendar": ("日历", "Calendar"),
    "ops.override": ("节假日 / 调休", "Holiday or working day"),
    "ops.date": ("日期", "Date"),
    "ops.kind": ("类型", "Kind"),
    "ops.kind.closed": ("休息日", "Closed"),
    "ops.kind.working": ("工作日", "Working"),
    "ops.hours": ("工作时间", "Working hours"),
    "ops.freezes": ("冻结中", "Freezes in force"),
    "ops.no_freezes": ("当前没有冻结。", "No freeze in force."),
    "ops.freeze": ("冻结", "Freeze"),
    "ops.thaw": ("解冻", "Thaw"),
    "ops.merchant": ("商家编号（可选）", "Merchant id (optional)"),
    "ops.region": ("地区（可选）", "Region (optional)"),
    "ops.signalled": ("已通知 {n} 个工单。", "{n} case(s) signalled."),
    "ops.started_by": ("发起人", "Started by"),
    "ops.apply": ("保存", "Apply"),
    "ops.clear_hours": ("恢复标准工作时间", "Back to the standard hours"),
    "ops.hours_help": (
        "每天填写时段，如 09:00-12:00, 13:30-18:00；留空表示休息。",
        "Periods per day, e.g. 09:00-12:00, 13:30-18:00; leave a day empty to close it.",
    ),
    "ops.source": ("来源", "Source"),
    "ops.standard": ("标准", "Standard"),
    "ops.stored": ("已设置", "Stored"),
    "day.mon": ("周一", "Mon"),
    "day.tue": ("周二", "Tue"),
    "day.wed": ("周三", "Wed"),
    "day.thu": ("周四", "Thu"),
    "day.fri": ("周五", "Fri"),
    "day.sat": ("周六", "Sat"),
    "day.sun": ("周日", "Sun"),
    "error.title": ("出错了", "Something went wrong"),
    "error.400": ("请求有误", "Bad request"),
    "error.401": ("未登录", "Not signed in"),
    "error.403": ("无权执行此操作", "You may not do this"),
    "error.404": ("找不到该工单", "Not found"),
    "error.409": ("当前环节不能执行此操作", "Not possible at this step"),
    "error.413": ("内容过长", "Too large"),
    "error.422": ("填写的内容有误", "Some values are not valid"),
    "error.429": ("请求过于频繁", "Too many requests"),
    "error.500": ("服务器内部错误", "Internal server error"),
    "error.503": ("服务暂不可用，请稍后再试", "Service unavailable; retry shortly"),
    "error.504": ("服务超时，请稍后再试", "The service timed out; retry shortly"),
    "error.csrf": ("表单已过期，请刷新页面后重试。", "The form has expired; reload the page and try again."),
    "error.detail": ("详情", "Detail"),
    "problem.wrong_step": (
        "工单当前处于「{v0}」环节，不能执行「{v1}」。",
        "The case is at {v0}, which does not take {v1}.",
    ),
    "problem.closed": ("工单已关闭（{v0}）。", "The case is closed ({v0})."),
    "problem.no_case": ("找不到工单 {v0}。", "No case {v0}."),
    "problem.role": (
        "角色「{v0}」无权执行此操作；允许的角色：{v1}。",
        "Role {v0} may not do this; allowed: {v1}.",
    ),
    "yes": ("是", "Yes"),
    "no": ("否", "No"),
    "none": ("无", "none"),
}


def catalogue_keys() -> list[str]:
    return list(MESSAGES) + [f"{kind}.{value}" for kind, values in ENUMS.items() for value in values]


def pick(lang: str) -> str:
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


class Translator:
    """The strings, enum labels, times and money of one language."""

    def __init__(self, lang: str) -> None:
        self.lang = pick(lang)
        self._i = LANGUAGES.index(self.lang)

    def __call__(self, key: str, **values: Any) -> str:
        pair = MESSAGES.get(key)
        text = pair[self._i] if pair else key
        return text.format(**values) if values else text

    def label(self, kind: str, value: Any) -> str:
        if value is None:
            return self("none")
        pair = ENUMS.get(kind, {}).get(str(value))
        return pair[self._i] if pair else str(value)

    def time(self, value: datetime | str | None) -> str:
        at = _as_datetime(value)
        return at.astimezone(PLATFORM_TZ).strftime("%Y-%m-%d %H:%M") if at else "—"

    def iso(self, value: datetime | str | None) -> str:
        at = _as_datetime(value)
        return at.isoformat() if at else ""

    def money(self, value: dict[str, Any] | None) -> str:
        if not value:
            return "—"
        try:
            amount = Decimal(str(value.get("amount")))
        except InvalidOperation:
            return str(value.get("amount"))
        return format_currency(amount, str(value.get("currency") or "CNY"), locale=_BABEL[self.lang])

    def number(self, value: Any, digits: int = 1) -> str:
        if value is None:
            return "—"
        return format_decimal(round(float(value), digits), locale=_BABEL[self.lang])

    def _detail(self, detail: str) -> str:
        for pattern, key, kinds in DETAILS:
            found = pattern.fullmatch(detail)
            if found:
                values = [self.label(k, v) if k else v for k, v in zip(kinds, found.groups(), strict=True)]
                return self(key, **{f"v{i}": v for i, v in enumerate(values)})
        return detail

    def duration(self, value: str | None) -> str:
        """An ISO 8601 duration of the API (P1DT20H0M4S) in words of this language."""
        found = _DURATION.fullmatch(value or "")
        if not found:
            return value or "—"
        units = ("天", "小时", "分", "秒") if self.lang == ZH else (" d", " h", " min", " s")
        parts = [f"{int(n)}{unit}" for n, unit in zip(found.groups(), units, strict=True) if n and int(n)]
        return (" " if self.lang == EN else "").join(parts) or ("0秒" if self.lang == ZH else "0 s")

    def kpi(self, key: str, value: Any) -> str:
        """A KPI's figure: shares as percentages, seconds as durations, the rest as numbers."""
        if value is None:
            return "—"
        if key.endswith(("_rate", "_share")) or key.startswith("sla_attainment") or key == "fcr_rate":
            return f"{float(value) * 100:.1f}%"
        if key.endswith("_seconds"):
            return (
                self.duration(f"PT{int(float(value))}S") if float(value) < 60 else _span(float(value), self)
            )
        if key == "refunds_amount":
            return self.money({"amount": value, "currency": "CNY"})
        return self.number(value, 2)

    def problem(self, problem: dict[str, Any]) -> dict[str, str]:
        """The API's problem detail in this language: a title by status, and the detail in words of
        this language where the catalogue knows its form (else the API's own words)."""
        status = int(problem.get("status") or 500)
        title = MESSAGES.get(f"error.{status}")
        detail = str(problem.get("detail") or "")
        errors = problem.get("errors") or []
        if errors and isinstance(errors, list):
            detail = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict))
        detail = self._detail(detail)
        return {
            "status": str(status),
            "title": title[self._i] if title else self("error.title"),
            "detail": detail,
        }


# Problem details of the API whose form the console knows: (pattern, message key, enum kind per group).
DETAILS: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    (
        re.compile(r"case is at step (\w+), which does not take (\w+)"),
        "problem.wrong_step",
        ("step", "action"),
    ),
    (re.compile(r"case is closed \((\w+)\)"), "problem.closed", ("close",)),
    (re.compile(r"no case (\S+)"), "problem.no_case", ("",)),
    (re.compile(r"role (\w+) may not do this; allowed: (.+)"), "problem.role", ("role", "")),
)
_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")


def _span(seconds: float, t: Translator) -> str:
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    return t.duration(f"P{days}DT{rest // 3600}H{rest % 3600 // 60}M{rest % 60}S")


def _as_datetime(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
