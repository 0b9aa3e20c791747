"""Notifying people of what they must act on.

`notify` stores an in-app notification per recipient inside the caller's
transaction; the text is rendered from `kind` and `params` in the reader's
language when shown. E-mail copies go out when SMTP is configured: right
after the request commits is not guaranteed, so `send_pending_emails` (a
job, also called after commits) sends every notification not yet e-mailed.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterable, Mapping
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from booking.accounts.models import User
from booking.extensions import db
from booking.notifications.models import Notification

# kind -> message template; params are filled in with %(name)s.
MESSAGES: dict[str, Any] = {
    "booking.requested": _l("新的预约申请：%(instrument)s，%(when)s，来自 %(enterprise)s。"),
    "booking.confirmed": _l("您的预约已确认：%(instrument)s，%(when)s。"),
    "booking.rejected": _l("您的预约未获批准：%(instrument)s，%(when)s。理由：%(reason)s"),
    "booking.expired": _l("您的预约申请未在时限内获批，已过期：%(instrument)s，%(when)s。"),
    "booking.cancelled": _l("预约已取消：%(instrument)s，%(when)s。"),
    "booking.completed": _l("服务已完成，请确认并评价：%(instrument)s，%(when)s。"),
    "booking.no_show": _l("预约未到：%(instrument)s，%(when)s。"),
    "booking.reminder": _l("提醒：明天有预约 %(instrument)s，%(when)s。"),
    "booking.auto_closed": _l("预约已自动结单：%(instrument)s，%(when)s。"),
    "service_order.requested": _l("新的检测委托：%(item)s × %(quantity)s，来自 %(enterprise)s。"),
    "service_order.accepted": _l("您的检测委托已受理：%(item)s × %(quantity)s。"),
    "service_order.rejected": _l("您的检测委托未被受理：%(item)s。理由：%(reason)s"),
    "service_order.completed": _l("检测报告已上传，请下载并确认：%(item)s。"),
    "service_order.expired": _l("您的检测委托未在时限内被受理，已过期：%(item)s × %(quantity)s。"),
    "service_order.cancelled": _l("检测委托已取消：%(item)s × %(quantity)s，来自 %(enterprise)s。"),
    "service_order.auto_closed": _l("检测委托已自动结单：%(item)s × %(quantity)s。"),
    "suspension.started": _l("因多次预约未到，贵企业的预约资格暂停至 %(until)s。"),
    "suspension.lifted": _l("贵企业的预约资格已恢复。"),
    "organization.verified": _l("贵单位已通过认证。"),
    "organization.rejected": _l("贵单位的认证未通过：%(reason)s"),
    "voucher_claim.submitted": _l("新的兑付申请 #%(id)s：%(payee)s，%(amount)s。"),
    "voucher_claim.resubmitted": _l("兑付申请 #%(id)s 已修改后重新提交：%(payee)s，%(amount)s。"),
    "voucher_claim.approved": _l("您的兑付申请 #%(id)s 已审核通过：%(amount)s。"),
    "voucher_claim.returned": _l("您的兑付申请 #%(id)s 被退回修改。理由：%(reason)s"),
    "voucher_claim.voided": _l("您的兑付申请 #%(id)s 已作废。理由：%(reason)s"),
    "voucher_claim.clawed_back": _l("您的兑付申请 #%(id)s 已付款项将被追回。理由：%(reason)s"),
    "voucher_claim.deadline": _l(
        "您有 %(count)s 笔创新券尚未申请兑付，最早截止日期为 %(deadline)s。"
    ),
    "voucher_batch.closed": _l("结算批次 %(period)s 已生成：%(count)s 笔，合计 %(amount)s。"),
    "voucher_batch.paid": _l("结算批次 %(period)s 已付款，付款凭证号 %(reference)s。"),
    "voucher_grant.expired": _l("创新券项目已到期，您的剩余额度已失效：%(programme)s。"),
    "voucher_ledger.mismatch": _l("创新券账目核对发现 %(count)s 处余额与流水不符：%(grants)s。"),
    "voucher_grant.submitted": _l(
        "新的创新券额度申请：%(programme)s，%(enterprise)s，%(amount)s。"
    ),
    "voucher_grant.approved": _l("您的创新券额度申请已批准：%(programme)s，%(amount)s。"),
    "voucher_grant.rejected": _l("您的创新券额度申请未获批准：%(programme)s。理由：%(reason)s"),
    "voucher_grant.suspended": _l("您的创新券额度已暂停使用：%(programme)s。理由：%(reason)s"),
    "voucher_grant.resumed": _l("您的创新券额度已恢复使用：%(programme)s。"),
}


def notify(
    recipients: Iterable[User], kind: str, now: datetime, link: str = "", **params: Any
) -> list[Notification]:
    """One notification per distinct active recipient; flushed, not committed."""
    if kind not in MESSAGES:
        raise ValueError(f"unknown notification kind {kind!r}")
    seen: set[int] = set()
    made: list[Notification] = []
    for user in recipients:
        if user.id in seen or not user.active:
            continue
        seen.add(user.id)
        note = Notification(
            user_id=user.id, kind=kind, params=_plain(params), link=link, created_at=now
        )
        db.session.add(note)
        made.append(note)
    db.session.flush()
    return made


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, int | float | bool) or v is None else str(v)
        for k, v in params.items()
    }


def render(note: Notification) -> str:
    """The notification's text in the current locale."""
    template = MESSAGES.get(note.kind)
    if template is None:
        return note.kind
    try:
        return str(template) % note.params
    except (KeyError, TypeError, ValueError):
        return str(template)


def unread_count(user_id: int) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        or 0
    )


def mark_all_read(user_id: int, now: datetime) -> int:
    result = db.session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def send_pending_emails(config: Mapping[str, Any], now: datetime, limit: int = 500) -> int:
    """E-mail every notification not yet sent, in its recipient's language.
    Does nothing without MAIL_SERVER. Returns how many were sent; a failed
    connection leaves them pending for the next run."""
    if not config.get("MAIL_SERVER"):
        return 0
    pending = db.session.execute(
        select(Notification, User)
        .join(User, User.id == Notification.user_id)
        .where(Notification.emailed_at.is_(None))
        .order_by(Notification.id)
        .limit(limit)
    ).all()
    if not pending:
        return 0
    sent = 0
    with smtplib.SMTP(config["MAIL_SERVER"], int(config.get("MAIL_PORT", 25)), timeout=10) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        for note, user in pending:
            with force_locale(user.locale or "zh_Hans"):
                text = render(note)
                subject = str(_l("长三角科技资源共享平台通知"))
            message = EmailMessage()
            message["From"] = config.get("MAIL_SENDER", "noreply@localhost")
            message["To"] = user.email
            message["Subject"] = subject
            body = text
            if note.link:
                body += "\n\n" + str(config.get("PUBLIC_BASE_URL", "")).rstrip("/") + note.link
            message.set_content(body)
            smtp.send_message(message)
            note.emailed_at = now
            sent += 1
    db.session.flush()
    return sent
