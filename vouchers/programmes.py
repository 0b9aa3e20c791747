"""Programmes (券种), applications and grants (额度): the use cases and the
queries behind the authority's voucher pages and the firm's wallet.

Every use case takes `now` and the acting user, raises a DomainError with a
user-safe message when a rule refuses (nothing written), records an audit
event and notifies whoever must hear of it, flushes and never commits.

Money rules that span rows are decided under locks: approving a grant
re-reads the grant under a row lock (SQLite: BEGIN IMMEDIATE) and the
enterprise row is locked while its other grants are summed for the cap; the
budget itself is drawn by `ledger.draw_budget`'s conditional UPDATE, so two
approvals can never both take the last yuan of a programme.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, case, func, or_, select, update
from sqlalchemy.orm import aliased, contains_eager, joinedload

from booking.accounts.models import (
    EnterpriseCategory,
    Organization,
    OrgKind,
    Region,
    User,
    VerificationStatus,
)
from booking.audit.services import record
from booking.core.uploads import store_pdf
from booking.db import serialize_writes
from booking.errors import DomainError, InvalidTransition, NotFound
from booking.extensions import db
from booking.i18n import money
from booking.notifications.services import notify
from booking.orders.clock import local
from instruments.models import Instrument, ServiceItem
from vouchers import ledger
from vouchers.models import (
    Claim,
    ClaimStatus,
    EntryKind,
    Grant,
    GrantStatus,
    LedgerEntry,
    Programme,
    RecognisedProvider,
    RedemptionMode,
    ServiceKind,
    SettlementCycle,
    UseStatus,
    VoucherUse,
)

# --- labels for stored values ------------------------------------------------------

GRANT_STATUS_LABELS: dict[str, Any] = {
    GrantStatus.SUBMITTED: _l("待审核"),
    GrantStatus.APPROVED: _l("已批准"),
    GrantStatus.REJECTED: _l("未批准"),
    GrantStatus.SUSPENDED: _l("已暂停"),
    GrantStatus.CLOSED: _l("已结束"),
}
MODE_LABELS: dict[str, Any] = {
    RedemptionMode.PROVIDER_REDEEMS: _l("通兑（服务机构兑付）"),
    RedemptionMode.FIRM_REIMBURSED: _l("通用（企业报销）"),
}
CYCLE_LABELS: dict[str, Any] = {
    SettlementCycle.MONTHLY: _l("按月"),
    SettlementCycle.QUARTERLY: _l("按季度"),
}
SERVICE_KIND_LABELS: dict[str, Any] = {
    ServiceKind.INSTRUMENT_TIME: _l("仪器机时"),
    ServiceKind.TESTING_SERVICE: _l("检验检测服务"),
}
ENTRY_KIND_LABELS: dict[str, Any] = {
    EntryKind.ISSUE: _l("发放"),
    EntryKind.LOCK: _l("冻结"),
    EntryKind.RELEASE: _l("解冻"),
    EntryKind.USE: _l("核销"),
    EntryKind.EXPIRE: _l("过期"),
    EntryKind.VOID: _l("作废"),
    EntryKind.CLAWBACK: _l("追回"),
}
GRANT_ACTION_LABELS: dict[str, Any] = {
    "voucher_grant.apply": _l("提交申请"),
    "voucher_grant.approve": _l("批准"),
    "voucher_grant.reject": _l("驳回"),
    "voucher_grant.suspend": _l("暂停"),
    "voucher_grant.resume": _l("恢复"),
    "voucher_programme.create": _l("创建券种"),
    "voucher_programme.update": _l("修改券种"),
}

# A grant's money has been committed by the programme in these states.
ISSUED_STATUSES = (GrantStatus.APPROVED, GrantStatus.SUSPENDED, GrantStatus.CLOSED)
# Claims that count as "claimed" on the budget-burn view.
CLAIMED_STATUSES = (ClaimStatus.SUBMITTED, ClaimStatus.APPROVED, ClaimStatus.PAID)

MAX_SPLIT_WINDOW_DAYS = 366


def grant_status_label(status: str) -> str:
    return str(GRANT_STATUS_LABELS.get(status, status))


# --- programmes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgrammeInput:
    """A programme's settings as the authority entered them (money in fen)."""

    code: str
    name_zh: str
    name_en: str
    fiscal_year: int
    budget_fen: int
    subsidy_percent: int
    enterprise_cap_fen: int
    order_cap_fen: int | None
    group_cap_fen: int | None
    mode: str
    eligible_categories: list[str]
    eligible_kinds: list[str]
    provider_ids: list[int]
    applications_open_on: date
    applications_close_on: date
    valid_until: date
    claim_deadline: date
    settlement_cycle: str
    split_window_days: int

    def columns(self) -> dict[str, Any]:
        """The programme's column values (everything but the providers)."""
        values = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "provider_ids"}
        values["eligible_categories"] = sorted(set(self.eligible_categories))
        values["eligible_kinds"] = sorted(set(self.eligible_kinds))
        return values


def _authority_of(actor: User) -> int:
    """Only authority users run programmes; anyone else finds nothing."""
    if actor.kind != OrgKind.AUTHORITY:
        raise NotFound(_l("券种不存在。"))
    return actor.organization_id


def _check_programme(data: ProgrammeInput, authority_id: int, programme_id: int | None) -> None:
    """The rules across fields and rows; the form has checked each field's shape."""
    if data.budget_fen <= 0:
        raise DomainError(_l("总预算必须大于零。"), field="budget")
    if data.enterprise_cap_fen <= 0:
        raise DomainError(_l("每家企业年度上限必须大于零。"), field="enterprise_cap")
    if data.enterprise_cap_fen > data.budget_fen:
        raise DomainError(_l("每家企业年度上限不能超过总预算。"), field="enterprise_cap")
    if data.order_cap_fen is not None and not 0 < data.order_cap_fen <= data.enterprise_cap_fen:
        raise DomainError(_l("单笔订单上限应大于零且不超过每家企业年度上限。"), field="order_cap")
    if data.group_cap_fen is not None and data.group_cap_fen <= 0:
        raise DomainError(_l("同一实际控制人上限必须大于零。"), field="group_cap")
    if not 1 <= data.subsidy_percent <= 100:
        raise DomainError(_l("补贴比例应在 1% 到 100% 之间。"), field="subsidy_percent")
    if data.mode not in set(RedemptionMode):
        raise DomainError(_l("请选择兑付方式。"), field="mode")
    if data.settlement_cycle not in set(SettlementCycle):
        raise DomainError(_l("请选择结算周期。"), field="settlement_cycle")
    if not set(data.eligible_categories) <= set(EnterpriseCategory):
        raise DomainError(_l("请从列表中选择企业类别。"), field="eligible_categories")
    if not data.eligible_kinds or not set(data.eligible_kinds) <= set(ServiceKind):
        raise DomainError(_l("请至少选择一种可支付的服务类型。"), field="eligible_kinds")
    if not 1 <= data.split_window_days <= MAX_SPLIT_WINDOW_DAYS:
        raise DomainError(_l("拆单识别期应为 1 到 366 天。"), field="split_window_days")
    if data.applications_close_on < data.applications_open_on:
        raise DomainError(_l("申请截止日期不能早于申请开始日期。"), field="applications_close_on")
    if data.valid_until < data.applications_close_on:
        raise DomainError(_l("券种有效期不能早于申请截止日期。"), field="valid_until")
    if data.claim_deadline < data.valid_until:
        raise DomainError(_l("兑付申请截止日期不能早于券种有效期。"), field="claim_deadline")
    clash = select(Programme.id).where(
        Programme.authority_id == authority_id, Programme.code == data.code
    )
    if programme_id is not None:
        clash = clash.where(Programme.id != programme_id)
    if db.session.scalar(clash.limit(1)) is not None:
        raise DomainError(_l("本部门已有编号为 %(code)s 的券种。", code=data.code), field="code")
    ids = set(data.provider_ids)
    if ids:
        found = db.session.scalar(
            select(func.count())
            .select_from(Organization)
            .where(
                Organization.id.in_(ids),
                Organization.kind == OrgKind.PROVIDER,
                Organization.status == VerificationStatus.VERIFIED,
            )
        )
        if found != len(ids):
            raise DomainError(_l("只能选择已认证的服务机构。"), field="providers")


def recognisable_providers() -> list[Organization]:
    """Verified providers of every region, the choices for recognition."""
    return list(
        db.session.scalars(
            select(Organization)
            .join(Region, Region.id == Organization.region_id)
            .where(
                Organization.kind == OrgKind.PROVIDER,
                Organization.status == VerificationStatus.VERIFIED,
            )
            .options(contains_eager(Organization.region))
            .order_by(Region.code, Organization.name_zh, Organization.id)
        )
    )


def _set_providers(programme: Programme, provider_ids: Iterable[int]) -> None:
    wanted = set(provider_ids)
    for link in list(programme.recognised):
        if link.provider_id not in wanted:
            programme.recognised.remove(link)
    present = {link.provider_id for link in programme.recognised}
    for provider_id in sorted(wanted - present):
        programme.recognised.append(RecognisedProvider(provider_id=provider_id))


def create_programme(actor: User, data: ProgrammeInput, now: datetime) -> Programme:
    """A new programme of the actor's authority."""
    authority_id = _authority_of(actor)
    _check_programme(data, authority_id, None)
    programme = Programme(
        authority_id=authority_id, created_by_id=actor.id, created_at=now, **data.columns()
    )
    _set_providers(programme, data.provider_ids)
    db.session.add(programme)
    db.session.flush()
    record(
        actor,
        "voucher_programme.create",
        "voucher_programme",
        programme.id,
        now=now,
        budget_fen=data.budget_fen,
    )
    return programme


def update_programme(
    actor: User, programme_id: int, data: ProgrammeInput, now: datetime
) -> Programme:
    """Change a programme of the actor's authority. The budget may not fall
    below what is already granted: checked by the UPDATE itself, so an
    approval committing meanwhile cannot slip under the new budget."""
    programme = authority_programme(_authority_of(actor), programme_id)
    _check_programme(data, programme.authority_id, programme.id)
    columns = data.columns()
    new_budget = columns.pop("budget_fen")
    changed = [k for k, v in columns.items() if getattr(programme, k) != v]
    if new_budget != programme.budget_fen:
        rows = db.session.execute(
            update(Programme)
            .where(Programme.id == programme.id, Programme.granted_fen <= new_budget)
            .values(budget_fen=new_budget),
            execution_options={"synchronize_session": False},
        )
        db.session.expire(programme)
        if getattr(rows, "rowcount", 0) != 1:
            raise DomainError(
                _l(
                    "总预算不能低于已批准发放的额度（%(granted)s）。",
                    granted=money(programme.granted_fen),
                ),
                field="budget",
            )
        changed.append("budget_fen")
    for key, value in columns.items():
        setattr(programme, key, value)
    before = {link.provider_id for link in programme.recognised}
    _set_providers(programme, data.provider_ids)
    if before != set(data.provider_ids):
        changed.append("recognised_providers")
    db.session.flush()
    record(
        actor,
        "voucher_programme.update",
        "voucher_programme",
        programme.id,
        now=now,
        changed=sorted(changed),
        budget_fen=new_budget,
    )
    return programme


def authority_programme(authority_id: int, programme_id: int) -> Programme:
    """One programme of this authority; another authority's is NotFound."""
    programme = db.session.get(Programme, programme_id)
    if programme is None or programme.authority_id != authority_id:
        raise NotFound(_l("券种不存在。"))
    return programme


def authority_programmes(authority_id: int) -> list[Programme]:
    return list(
        db.session.scalars(
            select(Programme)
            .where(Programme.authority_id == authority_id)
            .order_by(Programme.fiscal_year.desc(), Programme.code)
        )
    )


def is_open(programme: Programme, today: date) -> bool:
    return (
        programme.closed_at is None
        and programme.applications_open_on <= today <= programme.applications_close_on
    )


def category_eligible(programme: Programme, category: str | None) -> bool:
    return not programme.eligible_categories or category in programme.eligible_categories


def open_programmes(enterprise: Organization, now: datetime) -> list[Programme]:
    """Programmes the enterprise may apply to today: its home authority's
    (the issuing region pays), within the application window, its category
    eligible."""
    today = local(now).date()
    candidates = db.session.scalars(
        select(Programme)
        .join(Organization, Organization.id == Programme.authority_id)
        .where(
            Organization.region_id == enterprise.region_id,
            Programme.closed_at.is_(None),
            Programme.applications_open_on <= today,
            Programme.applications_close_on >= today,
        )
        .order_by(Programme.applications_close_on, Programme.id)
    )
    return [p for p in candidates if category_eligible(p, enterprise.enterprise_category)]


# --- applications and grants ------------------------------------------------------------------


@dataclass(frozen=True)
class Application:
    """What the firm enters when applying (money in fen)."""

    amount_fen: int
    category: str
    certificate_no: str
    certificate_valid_from: date
    certificate_valid_until: date
    purpose: str = ""
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Evidence:
    """The uploaded certificate: its stream and the name it was uploaded as."""

    stream: IO[bytes]
    filename: str


def _lock_enterprise(enterprise_id: int) -> None:
    """Serialise the enterprise's own applications and approvals, so its grants
    are summed against the cap by one transaction at a time."""
    serialize_writes(db.session)
    db.session.execute(
        select(Organization.id).where(Organization.id == enterprise_id).with_for_update()
    )


def _committed_fen(
    programme_id: int, enterprise_id: int, *, include_submitted: bool, exclude: int | None = None
) -> int:
    """What the enterprise's other grants in the programme already take from
    its cap: approved amounts, and requested ones still undecided if asked."""
    statuses: list[str] = list(ISSUED_STATUSES)
    if include_submitted:
        statuses.append(GrantStatus.SUBMITTED)
    amount = case(
        (Grant.status == GrantStatus.SUBMITTED, Grant.requested_fen),
        else_=func.coalesce(Grant.approved_fen, 0),
    )
    stmt = select(func.coalesce(func.sum(amount), 0)).where(
        Grant.programme_id == programme_id,
        Grant.enterprise_id == enterprise_id,
        Grant.status.in_(statuses),
    )
    if exclude is not None:
        stmt = stmt.where(Grant.id != exclude)
    return int(db.session.scalar(stmt) or 0)


def cap_remaining(programme: Programme, enterprise_id: int) -> int:
    """How much more the enterprise may apply for in this programme."""
    taken = _committed_fen(programme.id, enterprise_id, include_submitted=True)
    return max(0, programme.enterprise_cap_fen - taken)


def approvable_fen(grant: Grant) -> int:
    """The most this application may be approved for: what the enterprise's
    cap leaves beside its other issued grants (undecided ones do not count:
    they may yet be rejected)."""
    taken = _committed_fen(
        grant.programme_id, grant.enterprise_id, include_submitted=False, exclude=grant.id
    )
    return max(0, min(grant.requested_fen, grant.programme.enterprise_cap_fen - taken))


def _users_of(org_id: int) -> list[User]:
    return list(db.session.scalars(select(User).where(User.organization_id == org_id, User.active)))


def firm_link(grant: Grant) -> str:
    return f"/my/vouchers/grants/{grant.id}"


def authority_link(grant: Grant) -> str:
    return f"/authority/vouchers/grants/{grant.id}"


def apply_for_grant(
    actor: User,
    programme_id: int,
    application: Application,
    evidence: Evidence,
    upload_root: Path,
    now: datetime,
) -> Grant:
    """Submit the actor's enterprise's application to an open programme of
    its home authority, with the certificate PDF (stored under
    `upload_root/<enterprise id>/` once every rule has passed). A retried
    submission with the same idempotency key returns the first grant."""
    org = actor.organization
    if org.kind != OrgKind.ENTERPRISE:
        raise NotFound(_l("券种不存在。"))
    programme = db.session.get(Programme, programme_id)
    if programme is None or programme.authority.region_id != org.region_id:
        raise NotFound(_l("券种不存在。"))
    if application.idempotency_key:
        earlier = db.session.scalar(
            select(Grant).where(
                Grant.idempotency_key == application.idempotency_key,
                Grant.enterprise_id == org.id,
            )
        )
        if earlier is not None:
            return earlier
    if not org.is_verified:
        raise DomainError(_l("贵企业尚未通过认证，认证通过后才能申请创新券。"))
    today = local(now).date()
    if not is_open(programme, today):
        raise DomainError(
            _l(
                "该券种的申请时间为 %(start)s 至 %(end)s，当前不在申请期内。",
                start=programme.applications_open_on.isoformat(),
                end=programme.applications_close_on.isoformat(),
            )
        )
    if not category_eligible(programme, org.enterprise_category):
        raise DomainError(_l("贵企业的类别不在该券种的支持范围内。"))
    if application.category not in set(EnterpriseCategory):
        raise DomainError(_l("请从列表中选择企业类别。"), field="category")
    if not category_eligible(programme, application.category):
        raise DomainError(_l("所选类别不在该券种的支持范围内。"), field="category")
    if not application.certificate_no.strip():
        raise DomainError(_l("请填写证书编号。"), field="certificate_no")
    if application.certificate_valid_until < application.certificate_valid_from:
        raise DomainError(
            _l("证书有效期截止日期不能早于起始日期。"), field="certificate_valid_until"
        )
    if application.certificate_valid_from > today:
        raise DomainError(_l("证书尚未生效。"), field="certificate_valid_from")
    if application.certificate_valid_until < today:
        raise DomainError(_l("证书已过有效期。"), field="certificate_valid_until")
    if application.amount_fen <= 0:
        raise DomainError(_l("金额必须大于零。"), field="amount")
    _lock_enterprise(org.id)
    remaining = cap_remaining(programme, org.id)
    if application.amount_fen > remaining:
        raise DomainError(
            _l("申请金额超过本券种对每家企业的剩余上限（%(left)s）。", left=money(remaining)),
            field="amount",
        )
    stored = store_pdf(
        evidence.stream,
        evidence.filename,
        upload_root,
        str(org.id),
        field="evidence",
    )
    grant = Grant(
        programme_id=programme.id,
        enterprise_id=org.id,
        applicant_id=actor.id,
        status=GrantStatus.SUBMITTED,
        requested_fen=application.amount_fen,
        purpose=application.purpose.strip(),
        category=application.category,
        certificate_no=application.certificate_no.strip(),
        certificate_valid_from=application.certificate_valid_from,
        certificate_valid_until=application.certificate_valid_until,
        evidence_path=stored.relative_path,
        evidence_name=stored.display_name,
        submitted_at=now,
        idempotency_key=application.idempotency_key or None,
    )
    db.session.add(grant)
    db.session.flush()
    record(
        actor,
        "voucher_grant.apply",
        "voucher_grant",
        grant.id,
        to_state=GrantStatus.SUBMITTED,
        now=now,
        amount_fen=application.amount_fen,
    )
    notify(
        _users_of(programme.authority_id),
        "voucher_grant.submitted",
        now,
        link=authority_link(grant),
        programme=programme.name_zh,
        enterprise=org.name_zh,
        amount=money(application.amount_fen),
    )
    return grant


def authority_grant(authority_id: int, grant_id: int) -> Grant:
    """One grant of a programme of this authority; anything else is NotFound."""
    grant = db.session.scalar(
        select(Grant)
        .join(Programme, Programme.id == Grant.programme_id)
        .where(Grant.id == grant_id, Programme.authority_id == authority_id)
    )
    if grant is None:
        raise NotFound(_l("额度申请不存在。"))
    return grant


def firm_grant(enterprise_id: int, grant_id: int) -> Grant:
    """One grant of this enterprise; another firm's is NotFound."""
    grant = db.session.get(Grant, grant_id)
    if grant is None or grant.enterprise_id != enterprise_id:
        raise NotFound(_l("额度不存在。"))
    return grant


def may_download_certificate(grant: Grant, user: User) -> bool:
    """The applicant firm and the programme's authority only."""
    if user.kind == OrgKind.ENTERPRISE:
        return grant.enterprise_id == user.organization_id
    if user.kind == OrgKind.AUTHORITY:
        return grant.programme.authority_id == user.organization_id
    return False


def _lock_grant(grant: Grant) -> None:
    """Re-read the grant under a row lock before deciding on its status, so
    two decisions on one application cannot both win."""
    serialize_writes(db.session)
    db.session.flush()
    db.session.refresh(grant, with_for_update=True)


def _decide(
    actor: User,
    grant_id: int,
    allowed_from: tuple[GrantStatus, ...],
) -> tuple[Grant, str]:
    """The authority's grant, re-read under a lock, if its status allows the action."""
    grant = authority_grant(_authority_of(actor), grant_id)
    _lock_grant(grant)
    if grant.status not in allowed_from:
        raise InvalidTransition(
            _l(
                "该额度当前状态为“%(status)s”，不能执行此操作。",
                status=grant_status_label(grant.status),
            )
        )
    return grant, grant.status


def approve_grant(
    actor: User, grant_id: int, now: datetime, amount_fen: int | None = None
) -> Grant:
    """Approve a submitted application, for the requested amount or less:
    within the enterprise's remaining cap and the programme's budget, then
    issued through the ledger."""
    grant, before = _decide(actor, grant_id, (GrantStatus.SUBMITTED,))
    amount = grant.requested_fen if amount_fen is None else amount_fen
    if amount <= 0:
        raise DomainError(_l("金额必须大于零。"), field="approved_amount")
    if amount > grant.requested_fen:
        raise DomainError(
            _l("批准金额不能超过申请金额（%(requested)s）。", requested=money(grant.requested_fen)),
            field="approved_amount",
        )
    programme = grant.programme
    if local(now).date() > programme.valid_until:
        # Money issued now could only expire at once, yet would still count
        # against the budget: an ended programme approves nothing.
        raise DomainError(
            _l("券种已于 %(day)s 结束，不能再批准额度。", day=programme.valid_until.isoformat())
        )
    _lock_enterprise(grant.enterprise_id)
    left = approvable_fen(grant)
    if amount > left:
        raise DomainError(
            _l("批准金额超过该企业在本券种的剩余上限（%(left)s）。", left=money(left)),
            field="approved_amount",
        )
    ledger.draw_budget(programme.id, amount)
    ledger.issue(grant.id, amount, now, actor=actor)
    grant.status = GrantStatus.APPROVED
    grant.decided_by_id = actor.id
    grant.decided_at = now
    grant.decision_reason = None
    db.session.flush()
    record(
        actor,
        "voucher_grant.approve",
        "voucher_grant",
        grant.id,
        from_state=before,
        to_state=GrantStatus.APPROVED,
        now=now,
        amount_fen=amount,
    )
    notify(
        _users_of(grant.enterprise_id),
        "voucher_grant.approved",
        now,
        link=firm_link(grant),
        programme=programme.name_zh,
        amount=money(amount),
    )
    return grant


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise DomainError(_l("请填写理由。"), field="reason")
    return reason


def reject_grant(actor: User, grant_id: int, reason: str, now: datetime) -> Grant:
    """Reject a submitted application; the reason is required and shown to the firm."""
    reason = _reason(reason)
    grant, before = _decide(actor, grant_id, (GrantStatus.SUBMITTED,))
    grant.status = GrantStatus.REJECTED
    grant.decided_by_id = actor.id
    grant.decided_at = now
    grant.decision_reason = reason
    db.session.flush()
    record(
        actor,
        "voucher_grant.reject",
        "voucher_grant",
        grant.id,
        from_state=before,
        to_state=GrantStatus.REJECTED,
        now=now,
        reason=reason,
    )
    notify(
        _users_of(grant.enterprise_id),
        "voucher_grant.rejected",
        now,
        link=firm_link(grant),
        programme=grant.programme.name_zh,
        reason=reason,
    )
    return grant


def suspend_grant(actor: User, grant_id: int, reason: str, now: datetime) -> Grant:
    """Stop an approved grant from paying for new orders (money already
    locked on orders follows those orders); the reason is required."""
    reason = _reason(reason)
    grant, before = _decide(actor, grant_id, (GrantStatus.APPROVED,))
    grant.status = GrantStatus.SUSPENDED
    grant.decision_reason = reason
    db.session.flush()
    record(
        actor,
        "voucher_grant.suspend",
        "voucher_grant",
        grant.id,
        from_state=before,
        to_state=GrantStatus.SUSPENDED,
        now=now,
        reason=reason,
    )
    notify(
        _users_of(grant.enterprise_id),
        "voucher_grant.suspended",
        now,
        link=firm_link(grant),
        programme=grant.programme.name_zh,
        reason=reason,
    )
    return grant


def resume_grant(actor: User, grant_id: int, now: datetime) -> Grant:
    """Let a suspended grant pay again."""
    grant, before = _decide(actor, grant_id, (GrantStatus.SUSPENDED,))
    grant.status = GrantStatus.APPROVED
    grant.decision_reason = None
    db.session.flush()
    record(
        actor,
        "voucher_grant.resume",
        "voucher_grant",
        grant.id,
        from_state=before,
        to_state=GrantStatus.APPROVED,
        now=now,
    )
    notify(
        _users_of(grant.enterprise_id),
        "voucher_grant.resumed",
        now,
        link=firm_link(grant),
        programme=grant.programme.name_zh,
    )
    return grant


# --- queries for the pages -------------------------------------------------------------------

GRANT_SORTS: dict[str, Any] = {
    "submitted": Grant.submitted_at,
    "decided": Grant.decided_at,
    "requested": Grant.requested_fen,
    "approved": Grant.approved_fen,
    "firm": Organization.name_zh,
    "programme": Programme.code,
    "status": Grant.status,
    "id": Grant.id,
}


def authority_grants(
    authority_id: int, status: str = "", sort: str = "submitted", programme_id: int | None = None
) -> Select[Any]:
    """Grants of the authority's programmes (programme and firm loaded);
    `sort` is a key of GRANT_SORTS, '-' first for descending."""
    stmt = (
        select(Grant)
        .join(Programme, Programme.id == Grant.programme_id)
        .join(Organization, Organization.id == Grant.enterprise_id)
        .where(Programme.authority_id == authority_id)
        .options(contains_eager(Grant.programme), contains_eager(Grant.enterprise))
    )
    if status:
        stmt = stmt.where(Grant.status == status)
    if programme_id is not None:
        stmt = stmt.where(Grant.programme_id == programme_id)
    column = GRANT_SORTS[sort.lstrip("-")]
    ordered = column.desc() if sort.startswith("-") else column.asc()
    return stmt.order_by(ordered.nulls_last(), Grant.id)


def firm_grants(enterprise_id: int) -> list[Grant]:
    """Every grant and application of the enterprise, newest first."""
    return list(
        db.session.scalars(
            select(Grant)
            .where(Grant.enterprise_id == enterprise_id)
            .options(joinedload(Grant.programme))
            .order_by(Grant.submitted_at.desc(), Grant.id.desc())
        )
    )


def pending_application_count(user: Any) -> int:
    """Applications waiting for the user's authority (the navigation badge)."""
    if not getattr(user, "is_authenticated", False) or user.kind != OrgKind.AUTHORITY:
        return 0
    count = db.session.scalar(
        select(func.count())
        .select_from(Grant)
        .join(Programme, Programme.id == Grant.programme_id)
        .where(
            Programme.authority_id == user.organization_id,
            Grant.status == GrantStatus.SUBMITTED,
        )
    )
    return int(count or 0)


@dataclass(frozen=True)
class Movement:
    """One ledger entry, with the order its voucher use paid for (if any)."""

    entry: LedgerEntry
    booking_id: int | None
    service_order_id: int | None


def movements(grant_id: int) -> list[Movement]:
    """A grant's ledger entries, oldest first."""
    rows = db.session.execute(
        select(LedgerEntry, VoucherUse.booking_id, VoucherUse.service_order_id)
        .outerjoin(VoucherUse, VoucherUse.id == LedgerEntry.voucher_use_id)
        .where(LedgerEntry.grant_id == grant_id)
        .order_by(LedgerEntry.created_at, LedgerEntry.id)
    ).all()
    return [Movement(entry, booking_id, order_id) for entry, booking_id, order_id in rows]


@dataclass(frozen=True)
class Burn:
    """A programme's budget and where its money stands."""

    programme: Programme
    granted_fen: int
    locked_fen: int
    used_fen: int
    claimed_fen: int
    paid_fen: int

    @property
    def budget_fen(self) -> int:
        return self.programme.budget_fen

    def stack(self) -> dict[str, int]:
        """The budget cut into parts that add up to it, for a stacked bar:
        paid, claimed and unpaid, used and unclaimed, locked on orders,
        granted and not spent, not granted."""
        paid = self.paid_fen
        claimed = max(0, self.claimed_fen - paid)
        used = max(0, self.used_fen - self.claimed_fen)
        spent = self.locked_fen + max(self.used_fen, self.claimed_fen)
        return {
            "paid": paid,
            "claimed": claimed,
            "used": used,
            "locked": self.locked_fen,
            "granted": max(0, self.granted_fen - spent),
            "free": max(0, self.budget_fen - self.granted_fen),
        }


def budget_burn(authority_id: int) -> list[Burn]:
    """Per programme of the authority: granted, locked, used, claimed and paid
    (set-based: one grouped query per table)."""
    grants = (
        select(
            Grant.programme_id.label("programme_id"),
            func.sum(Grant.locked_fen).label("locked"),
            func.sum(Grant.used_fen).label("used"),
        )
        .group_by(Grant.programme_id)
        .subquery()
    )
    claims = (
        select(
            Claim.programme_id.label("programme_id"),
            func.sum(case((Claim.status.in_(CLAIMED_STATUSES), Claim.amount_fen), else_=0)).label(
                "claimed"
            ),
            func.sum(case((Claim.status == ClaimStatus.PAID, Claim.amount_fen), else_=0)).label(
                "paid"
            ),
        )
        .where(Claim.authority_id == authority_id)
        .group_by(Claim.programme_id)
        .subquery()
    )
    rows = db.session.execute(
        select(
            Programme,
            func.coalesce(grants.c.locked, 0),
            func.coalesce(grants.c.used, 0),
            func.coalesce(claims.c.claimed, 0),
            func.coalesce(claims.c.paid, 0),
        )
        .outerjoin(grants, grants.c.programme_id == Programme.id)
        .outerjoin(claims, claims.c.programme_id == Programme.id)
        .where(Programme.authority_id == authority_id)
        .order_by(Programme.fiscal_year.desc(), Programme.code)
    ).all()
    return [
        Burn(p, p.granted_fen, int(locked), int(used), int(claimed), int(paid))
        for p, locked, used, claimed, paid in rows
    ]


def split_flags(authority_id: int) -> Select[Any]:
    """Voucher uses flagged as possibly split orders, in the authority's
    programmes (firm, provider and programme loaded), newest first."""
    firm = aliased(Organization)
    return (
        select(VoucherUse)
        .join(Programme, Programme.id == VoucherUse.programme_id)
        .join(firm, firm.id == VoucherUse.enterprise_id)
        .where(Programme.authority_id == authority_id, VoucherUse.split_flag.is_(True))
        .options(
            contains_eager(VoucherUse.programme),
            contains_eager(VoucherUse.enterprise.of_type(firm)),
            joinedload(VoucherUse.provider),
        )
        .order_by(VoucherUse.created_at.desc(), VoucherUse.id.desc())
    )


def item_names(uses: Sequence[VoucherUse], locale: str) -> dict[str, str]:
    """Display names of the uses' items ("instrument:12" -> its number and name)."""
    wanted: dict[str, set[int]] = {"instrument": set(), "service": set()}
    for use in uses:
        kind, _, raw = use.item_key.partition(":")
        if kind in wanted and raw.isdigit():
            wanted[kind].add(int(raw))
    names: dict[str, str] = {}
    if wanted["instrument"]:
        for instrument in db.session.scalars(
            select(Instrument).where(Instrument.id.in_(wanted["instrument"]))
        ):
            names[f"instrument:{instrument.id}"] = (
                f"{instrument.internal_no} {instrument.name(locale)}"
            )
    if wanted["service"]:
        for item in db.session.scalars(
            select(ServiceItem).where(ServiceItem.id.in_(wanted["service"]))
        ):
            names[f"service:{item.id}"] = f"{item.code} {item.name(locale)}"
    return names


@dataclass
class FlowMatrix:
    """Used voucher money by issuing region (rows) × provider region (columns)."""

    regions: list[Region]
    cells: dict[tuple[int, int], int] = field(default_factory=dict)
    counts: dict[tuple[int, int], int] = field(default_factory=dict)

    def row_total(self, issuing_id: int) -> int:
        return sum(v for (i, _), v in self.cells.items() if i == issuing_id)

    def column_total(self, provider_id: int) -> int:
        return sum(v for (_, p), v in self.cells.items() if p == provider_id)

    @property
    def total(self) -> int:
        return sum(self.cells.values())


def region_flows(region_id: int) -> FlowMatrix:
    """Used voucher money touching one region: paid by its authority's
    programmes to any region's providers, and paid to its providers by any
    region's programmes (the provider's region sees statistics only)."""
    authority, provider = aliased(Organization), aliased(Organization)
    rows = db.session.execute(
        select(
            authority.region_id,
            provider.region_id,
            func.coalesce(func.sum(VoucherUse.used_fen), 0),
            func.count(),
        )
        .join(Programme, Programme.id == VoucherUse.programme_id)
        .join(authority, authority.id == Programme.authority_id)
        .join(provider, provider.id == VoucherUse.provider_id)
        .where(
            VoucherUse.status == UseStatus.USED,
            or_(authority.region_id == region_id, provider.region_id == region_id),
        )
        .group_by(authority.region_id, provider.region_id)
    ).all()
    matrix = FlowMatrix(regions=[])
    ids = {region_id}
    for issuing_id, provider_id, total, count in rows:
        matrix.cells[(issuing_id, provider_id)] = int(total or 0)
        matrix.counts[(issuing_id, provider_id)] = int(count or 0)
        ids |= {issuing_id, provider_id}
    matrix.regions = list(
        db.session.scalars(select(Region).where(Region.id.in_(ids)).order_by(Region.code))
    )
    return matrix
