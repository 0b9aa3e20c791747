"""Claims (兑付): the payee asks the issuing authority for a used voucher share.

Who the payee is follows the programme mode captured on the use (its rules
snapshot, else the programme): the provider under 通兑 (provider_redeems),
the enterprise under 通用 (firm_reimbursed). A claim is possible once the
firm has confirmed the service (use status `used`), up to the use's claim
deadline (Asia/Shanghai date), once per use, with its evidence: contract,
invoice, proof of the firm's payment (PDF uploads) and the usage record or
test report (the order's own record, attached by reference; a booking may
add a signed usage record PDF). Invoice amount = the order's final charge
(the contract amount); one invoice, one claim; the account is in the
payee's own name; related parties are refused again here (DOMAIN.md rule 2).

The authority approves, returns for correction (the payee fixes and
resubmits the same row), voids before payment (fraud: VOID used -> voided)
or claws back after payment (CLAWBACK used -> voided). Every transition is
audited ("voucher_claim") and the other side is notified.

Every check runs before anything is written, and files are stored only
after every check passed, so a refusal leaves no trace. Services flush;
the caller commits once.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Select, case, exists, func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from booking.accounts.models import Organization, OrgKind, RelatedParty, User
from booking.audit.services import record
from booking.core.uploads import read_pdf, store_pdf
from booking.db import serialize_writes
from booking.errors import DomainError, InvalidTransition, NotFound
from booking.extensions import db
from booking.i18n import money
from booking.notifications.handlers import organization_users
from booking.notifications.services import notify
from booking.orders.clock import local
from booking.orders.models import Booking, ServiceOrder
from vouchers import ledger
from vouchers.models import (
    Bucket,
    Claim,
    ClaimEvidence,
    ClaimStatus,
    EntryKind,
    EvidenceKind,
    Programme,
    RedemptionMode,
    UseStatus,
    VoucherUse,
)

OBJECT_TYPE = "voucher_claim"
EVIDENCE_FOLDER = "claims"
# Uploaded for every claim; the usage record comes from the order itself.
REQUIRED_UPLOADS = (EvidenceKind.CONTRACT, EvidenceKind.INVOICE, EvidenceKind.PAYMENT_PROOF)
UPLOAD_KINDS = (*REQUIRED_UPLOADS, EvidenceKind.USAGE_RECORD)

STATUS_LABELS = {
    ClaimStatus.SUBMITTED: _l("待审核"),
    ClaimStatus.RETURNED: _l("退回修改"),
    ClaimStatus.APPROVED: _l("已通过"),
    ClaimStatus.PAID: _l("已付款"),
    ClaimStatus.VOIDED: _l("已作废"),
    ClaimStatus.CLAWED_BACK: _l("已追回"),
}
EVIDENCE_LABELS = {
    EvidenceKind.CONTRACT: _l("合同"),
    EvidenceKind.INVOICE: _l("发票"),
    EvidenceKind.PAYMENT_PROOF: _l("企业付款凭证"),
    EvidenceKind.USAGE_RECORD: _l("使用记录或检测报告"),
}
ACTION_LABELS = {
    "claim.submit": _l("提交兑付申请"),
    "claim.resubmit": _l("修改后重新提交"),
    "claim.approve": _l("审核通过"),
    "claim.return": _l("退回修改"),
    "claim.void": _l("作废"),
    "claim.claw_back": _l("追回"),
    "claim.pay": _l("付款"),
}


@dataclass(frozen=True)
class Upload:
    """One uploaded file as the service sees it: no Flask objects."""

    stream: IO[bytes]
    filename: str


@dataclass(frozen=True)
class ClaimDetails:
    invoice_number: str
    invoice_amount_fen: int | None
    payee_account_name: str
    payee_bank: str
    payee_account_no: str


@dataclass(frozen=True)
class UsageRecord:
    """The order behind a use, as evidence: what was delivered and billed."""

    kind: str  # "booking" | "service_order"
    order_id: int
    label: str
    charge_fen: int | None
    started_at: datetime | None = None  # 上机 (bookings)
    ended_at: datetime | None = None  # 下机
    samples: int | None = None  # samples tested (service orders)
    report_name: str | None = None
    has_report: bool = False

    @property
    def recorded(self) -> bool:
        """Usage is on record: a booking's 下机 and charge, a service order's report."""
        if self.kind == "booking":
            return self.ended_at is not None and self.charge_fen is not None
        return self.has_report and self.charge_fen is not None


# --- who is paid -----------------------------------------------------------------------


def redemption_mode(use: VoucherUse) -> str:
    """The mode in force when the order was placed (its snapshot), else the programme's."""
    mode = (use.rules or {}).get("mode")
    return str(mode) if mode else use.programme.mode


def payee_id_of(use: VoucherUse) -> int:
    if redemption_mode(use) == RedemptionMode.FIRM_REIMBURSED:
        return use.enterprise_id
    return use.provider_id


def payee_sql() -> ColumnElement[int]:
    """`payee_id_of` in SQL; the query must join Programme on the use."""
    mode = func.coalesce(VoucherUse.rules["mode"].as_string(), Programme.mode)
    return case(
        (mode == RedemptionMode.FIRM_REIMBURSED.value, VoucherUse.enterprise_id),
        else_=VoucherUse.provider_id,
    )


def status_label(status: str) -> str:
    return (
        str(STATUS_LABELS.get(ClaimStatus(status), status))
        if status in set(ClaimStatus)
        else status
    )


# --- the order behind a use ---------------------------------------------------------------


def usage_record(use: VoucherUse) -> UsageRecord:
    if use.booking_id is not None:
        booking = db.session.get(Booking, use.booking_id)
        if booking is None:  # the CHECK and the FK make this impossible
            raise NotFound(_l("订单不存在。"))
        return UsageRecord(
            kind="booking",
            order_id=booking.id,
            label=f"{booking.instrument.internal_no} {booking.instrument.name_zh}",
            charge_fen=booking.charge_fen,
            started_at=booking.checked_in_at,
            ended_at=booking.checked_out_at,
        )
    order = db.session.get(ServiceOrder, use.service_order_id)
    if order is None:
        raise NotFound(_l("订单不存在。"))
    return UsageRecord(
        kind="service_order",
        order_id=order.id,
        label=f"{order.service_item.code} {order.service_item.name_zh} × {order.quantity}",
        charge_fen=order.charge_fen,
        ended_at=order.completed_at,
        samples=order.samples_tested,
        report_name=order.report_name,
        has_report=bool(order.report_path),
    )


def related(enterprise_id: int, provider_id: int) -> bool:
    """A declared link (RelatedParty) or the same 实际控制人 on both sides."""
    declared = db.session.scalar(
        select(RelatedParty.id)
        .where(RelatedParty.enterprise_id == enterprise_id, RelatedParty.provider_id == provider_id)
        .limit(1)
    )
    if declared is not None:
        return True
    names = dict(
        db.session.execute(
            select(Organization.id, Organization.controller_name).where(
                Organization.id.in_((enterprise_id, provider_id))
            )
        ).all()
    )
    enterprise_controller = (names.get(enterprise_id) or "").strip()
    return (
        bool(enterprise_controller)
        and enterprise_controller == (names.get(provider_id) or "").strip()
    )


# --- queries (scoped; no request objects) ---------------------------------------------


def _unclaimed() -> ColumnElement[bool]:
    return ~exists().where(Claim.voucher_use_id == VoucherUse.id)


def claimable_uses(payee_id: int, now: datetime) -> Select[Any]:
    """The payee's uses it may claim now: used, no claim yet, deadline not passed."""
    today = local(now).date()
    return (
        select(VoucherUse)
        .join(Programme, Programme.id == VoucherUse.programme_id)
        .where(
            VoucherUse.status == UseStatus.USED,
            payee_sql() == payee_id,
            VoucherUse.claim_deadline >= today,
            _unclaimed(),
        )
        .options(selectinload(VoucherUse.programme), selectinload(VoucherUse.enterprise))
        .order_by(VoucherUse.claim_deadline, VoucherUse.id)
    )


def claimable_use(payee_id: int, use_id: int) -> VoucherUse:
    """One of the payee's uses (any state); another payee's is NotFound."""
    use = db.session.get(VoucherUse, use_id)
    if use is None or payee_id_of(use) != payee_id:
        raise NotFound(_l("该创新券使用记录不存在。"))
    return use


def payee_claims(payee_id: int, status: str | None = None) -> Select[Any]:
    stmt = select(Claim).where(Claim.payee_id == payee_id)
    if status in set(ClaimStatus):
        stmt = stmt.where(Claim.status == status)
    return stmt.options(selectinload(Claim.programme)).order_by(
        Claim.submitted_at.desc(), Claim.id.desc()
    )


def payee_claim(payee_id: int, claim_id: int) -> Claim:
    claim = db.session.scalar(select(Claim).where(Claim.id == claim_id, Claim.payee_id == payee_id))
    if claim is None:
        raise NotFound(_l("兑付申请不存在。"))
    return claim


def authority_claim(authority_id: int, claim_id: int) -> Claim:
    claim = db.session.scalar(
        select(Claim).where(Claim.id == claim_id, Claim.authority_id == authority_id)
    )
    if claim is None:
        raise NotFound(_l("兑付申请不存在。"))
    return claim


CLAIM_SORTS: dict[str, Any] = {
    "submitted": Claim.submitted_at,
    "amount": Claim.amount_fen,
    "status": Claim.status,
    "payee": Organization.name_zh,
    "id": Claim.id,
}


@dataclass(frozen=True)
class ClaimFilter:
    status: str | None = None
    programme_id: int | None = None
    payee: str = ""
    batch_id: int | None = None


def authority_claims(
    authority_id: int, filters: ClaimFilter, sort: str = "-submitted"
) -> Select[Any]:
    """The authority's claims, filtered and sorted (the review queue and exports)."""
    stmt = (
        select(Claim)
        .join(Organization, Organization.id == Claim.payee_id)
        .where(Claim.authority_id == authority_id)
    )
    if filters.status in set(ClaimStatus):
        stmt = stmt.where(Claim.status == filters.status)
    if filters.programme_id is not None:
        stmt = stmt.where(Claim.programme_id == filters.programme_id)
    if filters.batch_id is not None:
        stmt = stmt.where(Claim.batch_id == filters.batch_id)
    if filters.payee:
        pattern = (
            "%" + filters.payee.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        stmt = stmt.where(
            or_(
                Organization.name_zh.ilike(pattern, escape="\\"),
                Claim.invoice_number.ilike(pattern, escape="\\"),
            )
        )
    key = sort.lstrip("-")
    column = CLAIM_SORTS.get(key, Claim.submitted_at)
    order = column.desc() if sort.startswith("-") else column.asc()
    return stmt.options(selectinload(Claim.payee), selectinload(Claim.programme)).order_by(
        order, Claim.id.desc()
    )


def pending_claim_count(user: Any) -> int:
    """Claims waiting for the authority's review (the navigation badge)."""
    if not getattr(user, "is_authenticated", False) or user.kind != OrgKind.AUTHORITY:
        return 0
    count = db.session.scalar(
        select(func.count())
        .select_from(Claim)
        .where(Claim.authority_id == user.organization_id, Claim.status == ClaimStatus.SUBMITTED)
    )
    return int(count or 0)


def may_read_evidence(claim: Claim, user: User) -> bool:
    """Evidence is for the payee and the issuing authority only."""
    return user.organization_id in (claim.payee_id, claim.authority_id)


# --- checks shared by filing and resubmitting -------------------------------------------


def _lock_use(use_id: int) -> VoucherUse | None:
    return db.session.scalar(
        select(VoucherUse)
        .where(VoucherUse.id == use_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _check_use(use: VoucherUse, now: datetime) -> None:
    if use.status != UseStatus.USED:
        raise InvalidTransition(_l("企业尚未确认服务完成，暂不能申请兑付。"))
    if local(now).date() > use.claim_deadline:
        raise DomainError(
            _l("已超过兑付申请截止日期（%(day)s），不予兑付。", day=use.claim_deadline.isoformat())
        )
    if related(use.enterprise_id, use.provider_id):
        raise DomainError(_l("企业与服务机构存在关联关系，不能兑付创新券。"))


def invoice_key(raw: str) -> str:
    """An invoice number as stored and compared: full-width forms folded
    (NFKC), spaces removed, upper case — one invoice cannot be claimed twice
    by writing its number differently."""
    folded = unicodedata.normalize("NFKC", raw)
    return "".join(folded.split()).upper()


def _check_details(
    use: VoucherUse,
    payee: Organization,
    details: ClaimDetails,
    record_: UsageRecord,
    claim_id: int | None,
) -> ClaimDetails:
    """The claim's fields, trimmed, or the first rule they break."""
    if not record_.recorded:
        if record_.kind == "service_order":
            raise DomainError(_l("检测报告尚未上传，不能申请兑付。"), field="usage_record")
        raise DomainError(_l("该预约尚无上机使用记录，不能申请兑付。"), field="usage_record")
    number = invoice_key(details.invoice_number)
    if not number:
        raise DomainError(_l("请填写发票号码。"), field="invoice_number")
    if db.session.get_bind().dialect.name == "postgresql":
        # Two claims for different uses may carry the same invoice at the same
        # moment; queue them on the number so the second sees the first.
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"invoice:{number}"}
        )
    taken = db.session.scalar(
        select(Claim.id).where(
            Claim.invoice_number == number, *([Claim.id != claim_id] if claim_id else [])
        )
    )
    if taken is not None:
        raise DomainError(
            _l("发票号码 %(number)s 已用于另一笔兑付申请：一张发票只能申请一次。", number=number),
            field="invoice_number",
        )
    if details.invoice_amount_fen is None or details.invoice_amount_fen != record_.charge_fen:
        raise DomainError(
            _l(
                "发票金额须等于订单结算金额（合同金额）%(amount)s。",
                amount=money(record_.charge_fen),
            ),
            field="invoice_amount",
        )
    account_name = details.payee_account_name.strip()
    if account_name != payee.name_zh.strip():
        raise DomainError(
            _l("收款账户名称须为收款单位本身的名称：%(name)s。", name=payee.name_zh),
            field="payee_account_name",
        )
    bank, account_no = details.payee_bank.strip(), details.payee_account_no.strip()
    if not bank:
        raise DomainError(_l("请填写开户银行。"), field="payee_bank")
    if not account_no:
        raise DomainError(_l("请填写银行账号。"), field="payee_account_no")
    return ClaimDetails(number, details.invoice_amount_fen, account_name, bank, account_no)


def _read_uploads(
    uploads: Mapping[str, Upload | None], have: set[str], max_bytes: int
) -> dict[str, tuple[bytes, str]]:
    """Every given file checked (PDF, size) before any is stored; the required
    kinds must be given or already on the claim (`have`)."""
    checked: dict[str, tuple[bytes, str]] = {}
    for kind in UPLOAD_KINDS:
        upload = uploads.get(kind.value)
        if upload is None or not upload.filename:
            if kind in REQUIRED_UPLOADS and kind.value not in have:
                raise DomainError(
                    _l("请上传%(what)s（PDF）。", what=EVIDENCE_LABELS[kind]), field=kind.value
                )
            continue
        checked[kind.value] = (read_pdf(upload.stream, max_bytes, kind.value), upload.filename)
    return checked


def _store(claim: Claim, files: Mapping[str, tuple[bytes, str]], root: Path, now: datetime) -> None:
    import io

    current = {e.kind: e for e in claim.evidence}
    for kind, (data, filename) in files.items():
        stored = store_pdf(
            io.BytesIO(data), filename, root, f"{EVIDENCE_FOLDER}/{claim.id}", field=kind
        )
        evidence = current.get(kind)
        if evidence is None:
            claim.evidence.append(
                ClaimEvidence(
                    kind=kind,
                    path=stored.relative_path,
                    original_name=stored.display_name,
                    uploaded_at=now,
                )
            )
        else:  # a corrected file replaces the returned one; the audit keeps the change
            evidence.path, evidence.original_name = stored.relative_path, stored.display_name
            evidence.uploaded_at = now


def _flush_unique() -> None:
    """Flush; the unique constraints (one claim per use, one per invoice) are
    the backstop for a concurrent request that passed the same checks."""
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise DomainError(
            _l("该创新券使用已提交兑付申请，或发票号码已被使用。"), field="invoice_number"
        ) from None


def _params(claim: Claim) -> dict[str, Any]:
    return {"id": claim.id, "payee": claim.payee.name_zh, "amount": money(claim.amount_fen)}


def _tell_authority(claim: Claim, kind: str, now: datetime) -> None:
    notify(
        organization_users(claim.authority_id),
        kind,
        now,
        link=f"/authority/settlement/claims/{claim.id}",
        **_params(claim),
    )


def _tell_payee(claim: Claim, kind: str, now: datetime, **extra: Any) -> None:
    notify(
        organization_users(claim.payee_id),
        kind,
        now,
        link=f"/claims/{claim.id}",
        **_params(claim),
        **extra,
    )


# --- the payee ----------------------------------------------------------------------------


def file_claim(
    use_id: int,
    actor: User,
    details: ClaimDetails,
    uploads: Mapping[str, Upload | None],
    root: Path,
    now: datetime,
    *,
    max_bytes: int = 20 * 1024 * 1024,
    idempotency_key: str | None = None,
) -> Claim:
    """File the payee's claim on one used voucher share, with its evidence.

    Refused (nothing written, no file stored) unless the actor's organization
    is the payee, the use is used and unclaimed, the deadline has not passed,
    enterprise and provider are not related, the evidence is complete and
    the fields hold (see module doc). A retried request with the same
    idempotency key returns the claim it made.
    """
    serialize_writes(db.session)
    if idempotency_key:
        done = db.session.scalar(select(Claim).where(Claim.idempotency_key == idempotency_key))
        if done is not None and done.submitted_by_id == actor.id:
            return done
    use = _lock_use(use_id)
    if use is None or payee_id_of(use) != actor.organization_id:
        raise NotFound(_l("该创新券使用记录不存在。"))
    if db.session.scalar(select(Claim.id).where(Claim.voucher_use_id == use.id)) is not None:
        raise InvalidTransition(_l("该创新券使用已提交过兑付申请。"))
    _check_use(use, now)
    amount = use.used_fen if use.used_fen is not None else use.share_fen
    if amount <= 0:
        raise DomainError(_l("该订单没有可兑付的创新券金额。"))
    payee = actor.organization
    checked = _check_details(use, payee, details, usage_record(use), None)
    files = _read_uploads(uploads, set(), max_bytes)
    programme = use.programme
    claim = Claim(
        voucher_use_id=use.id,
        programme_id=programme.id,
        authority_id=programme.authority_id,
        payee_id=payee.id,
        issuing_region_id=programme.authority.region_id,
        provider_region_id=use.provider.region_id,
        amount_fen=amount,
        status=ClaimStatus.SUBMITTED,
        invoice_number=checked.invoice_number,
        invoice_amount_fen=checked.invoice_amount_fen,
        payee_account_name=checked.payee_account_name,
        payee_bank=checked.payee_bank,
        payee_account_no=checked.payee_account_no,
        submitted_by_id=actor.id,
        submitted_at=now,
        idempotency_key=idempotency_key,
    )
    db.session.add(claim)
    _flush_unique()
    _store(claim, files, root, now)
    db.session.flush()
    record(
        actor,
        "claim.submit",
        OBJECT_TYPE,
        claim.id,
        to_state=ClaimStatus.SUBMITTED,
        now=now,
        voucher_use_id=use.id,
        amount_fen=amount,
        invoice_number=claim.invoice_number,
    )
    _tell_authority(claim, "voucher_claim.submitted", now)
    return claim


def resubmit_claim(
    claim_id: int,
    actor: User,
    details: ClaimDetails,
    uploads: Mapping[str, Upload | None],
    root: Path,
    now: datetime,
    *,
    max_bytes: int = 20 * 1024 * 1024,
) -> Claim:
    """Correct a returned claim and submit it again (the same row).

    Files given replace the returned ones; the others stay. The use, the
    deadline and the related-party rule are checked again.
    """
    serialize_writes(db.session)
    claim = _lock_claim(Claim.payee_id == actor.organization_id, claim_id)
    if claim.status != ClaimStatus.RETURNED:
        raise InvalidTransition(_l("只有退回修改的申请可以重新提交。"))
    use = _lock_use(claim.voucher_use_id)
    assert use is not None  # FK
    _check_use(use, now)
    checked = _check_details(use, actor.organization, details, usage_record(use), claim.id)
    files = _read_uploads(uploads, {e.kind for e in claim.evidence}, max_bytes)
    claim.invoice_number = checked.invoice_number
    claim.invoice_amount_fen = checked.invoice_amount_fen or 0
    claim.payee_account_name = checked.payee_account_name
    claim.payee_bank = checked.payee_bank
    claim.payee_account_no = checked.payee_account_no
    claim.status = ClaimStatus.SUBMITTED
    claim.submitted_at, claim.submitted_by_id = now, actor.id
    claim.decided_at = claim.decided_by_id = None
    _flush_unique()
    _store(claim, files, root, now)
    db.session.flush()
    record(
        actor,
        "claim.resubmit",
        OBJECT_TYPE,
        claim.id,
        from_state=ClaimStatus.RETURNED,
        to_state=ClaimStatus.SUBMITTED,
        now=now,
        replaced=sorted(files),
        invoice_number=claim.invoice_number,
    )
    _tell_authority(claim, "voucher_claim.resubmitted", now)
    return claim


# --- the issuing authority --------------------------------------------------------------


def _lock_claim(scope: ColumnElement[bool], claim_id: int) -> Claim:
    claim = db.session.scalar(
        select(Claim)
        .where(Claim.id == claim_id, scope)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if claim is None:
        raise NotFound(_l("兑付申请不存在。"))
    return claim


def _decide(
    claim_id: int, actor: User, allowed: tuple[ClaimStatus, ...], message: Any
) -> tuple[Claim, str]:
    serialize_writes(db.session)
    claim = _lock_claim(Claim.authority_id == actor.organization_id, claim_id)
    if claim.status not in allowed:
        raise InvalidTransition(message, status=claim.status)
    return claim, claim.status


def _reason(reason: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise DomainError(_l("请填写理由。"), field="reason")
    return text[:1000]


def approve_claim(claim_id: int, actor: User, now: datetime) -> Claim:
    """submitted -> approved; it joins the next settlement batch of its cycle."""
    claim, before = _decide(
        claim_id, actor, (ClaimStatus.SUBMITTED,), _l("该申请已处理，不能再审核通过。")
    )
    claim.status = ClaimStatus.APPROVED
    claim.approved_at = claim.decided_at = now
    claim.decided_by_id = actor.id
    db.session.flush()
    record(
        actor,
        "claim.approve",
        OBJECT_TYPE,
        claim.id,
        from_state=before,
        to_state=claim.status,
        now=now,
    )
    _tell_payee(claim, "voucher_claim.approved", now)
    return claim


def return_claim(claim_id: int, actor: User, reason: str, now: datetime) -> Claim:
    """submitted -> returned for correction; the reason is shown to the payee."""
    text = _reason(reason)
    claim, before = _decide(
        claim_id, actor, (ClaimStatus.SUBMITTED,), _l("只有待审核的申请可以退回修改。")
    )
    claim.status, claim.review_reason = ClaimStatus.RETURNED, text
    claim.decided_at, claim.decided_by_id = now, actor.id
    db.session.flush()
    record(
        actor,
        "claim.return",
        OBJECT_TYPE,
        claim.id,
        from_state=before,
        to_state=claim.status,
        now=now,
        reason=text,
    )
    _tell_payee(claim, "voucher_claim.returned", now, reason=text)
    return claim


def void_claim(claim_id: int, actor: User, reason: str, now: datetime) -> Claim:
    """Void a claim found fraudulent before payment: the use's used amount
    moves used -> voided (VOID) and the use is voided.

    Refused once the claim sits in a settlement batch: the batch's statements
    are issued; after payment the authority claws back instead.
    """
    text = _reason(reason)
    claim, before = _decide(
        claim_id,
        actor,
        (ClaimStatus.SUBMITTED, ClaimStatus.RETURNED, ClaimStatus.APPROVED),
        _l("该申请不能作废（已付款的请使用追回）。"),
    )
    if claim.batch_id is not None:
        raise InvalidTransition(_l("该申请已纳入结算批次，请在付款后追回。"))
    _take_back(claim, EntryKind.VOID, actor, text, now)
    claim.status = ClaimStatus.VOIDED
    claim.review_reason, claim.decided_at, claim.decided_by_id = text, now, actor.id
    db.session.flush()
    record(
        actor,
        "claim.void",
        OBJECT_TYPE,
        claim.id,
        from_state=before,
        to_state=claim.status,
        now=now,
        reason=text,
    )
    _tell_payee(claim, "voucher_claim.voided", now, reason=text)
    return claim


def claw_back_claim(claim_id: int, actor: User, reason: str, now: datetime) -> Claim:
    """paid -> clawed_back: fraud found after payment; CLAWBACK used -> voided."""
    text = _reason(reason)
    claim, before = _decide(claim_id, actor, (ClaimStatus.PAID,), _l("只有已付款的申请可以追回。"))
    _take_back(claim, EntryKind.CLAWBACK, actor, text, now)
    claim.status = ClaimStatus.CLAWED_BACK
    claim.review_reason, claim.decided_at, claim.decided_by_id = text, now, actor.id
    db.session.flush()
    record(
        actor,
        "claim.claw_back",
        OBJECT_TYPE,
        claim.id,
        from_state=before,
        to_state=claim.status,
        now=now,
        reason=text,
    )
    _tell_payee(claim, "voucher_claim.clawed_back", now, reason=text)
    return claim


def _take_back(claim: Claim, kind: EntryKind, actor: User, reason: str, now: datetime) -> None:
    use = _lock_use(claim.voucher_use_id)
    assert use is not None  # FK
    if use.status != UseStatus.USED:
        raise InvalidTransition(_l("该创新券使用已不在已核销状态。"))
    amount = use.used_fen if use.used_fen is not None else use.share_fen
    if amount > 0:
        ledger.move(
            use.grant_id,
            kind,
            amount,
            Bucket.USED,
            Bucket.VOIDED,
            now,
            actor=actor,
            voucher_use_id=use.id,
            note=reason[:255],
        )
    use.status, use.ended_at = UseStatus.VOIDED, now


def evidence_of(claim: Claim, kind: str) -> ClaimEvidence | None:
    return next((e for e in claim.evidence if e.kind == kind), None)
