"""Innovation vouchers (双创券): programmes, grants, the ledger, voucher uses,
claims and settlement batches.

Money moves only through `LedgerEntry` rows, which are never updated or
deleted. Each grant caches its balance per bucket (available, locked, used,
expired, voided) for cheap reads and conditional UPDATEs; CHECK constraints
keep every bucket non-negative and their sum equal to the granted amount, and
the `vouchers.verify_balances` job compares the cache with the ledger sums.

Buckets and the entries that move money between them::

    issue     (none)    -> available   grant approved
    lock      available -> locked      provider accepts the order
    release   locked    -> available   order ends without service
    use       locked    -> used        firm confirms the delivered service
    expire    available -> expired     programme end (also locked -> expired
              used      -> expired     and unclaimed uses past the deadline)
    void      used      -> voided      fraud found before payment
    clawback  used      -> voided      fraud found after payment

Invariant (DESIGN.md §3.2): approved = available + locked + used + expired + voided.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.accounts.models import Organization, User
from booking.extensions import Model, Money, utcnow


class RedemptionMode(StrEnum):
    PROVIDER_REDEEMS = "provider_redeems"  # 通兑: the provider claims the voucher share
    FIRM_REIMBURSED = "firm_reimbursed"  # 通用: the firm pays in full and claims it back


class SettlementCycle(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


class ServiceKind(StrEnum):
    """What a voucher may pay for: instrument time or testing by sample."""

    INSTRUMENT_TIME = "instrument_time"
    TESTING_SERVICE = "testing_service"


class GrantStatus(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class Bucket(StrEnum):
    AVAILABLE = "available"
    LOCKED = "locked"
    USED = "used"
    EXPIRED = "expired"
    VOIDED = "voided"


class EntryKind(StrEnum):
    ISSUE = "issue"
    LOCK = "lock"
    RELEASE = "release"
    USE = "use"
    EXPIRE = "expire"
    VOID = "void"
    CLAWBACK = "clawback"


class UseStatus(StrEnum):
    """A voucher use follows its order. `held` earmarks the share while the
    provider decides (no money moves); the ledger starts at `locked`."""

    HELD = "held"
    LOCKED = "locked"
    RELEASED = "released"
    USED = "used"
    EXPIRED = "expired"
    VOIDED = "voided"


class ClaimStatus(StrEnum):
    SUBMITTED = "submitted"
    RETURNED = "returned"  # sent back for correction; the payee may resubmit
    APPROVED = "approved"
    PAID = "paid"
    VOIDED = "voided"
    CLAWED_BACK = "clawed_back"


class EvidenceKind(StrEnum):
    CONTRACT = "contract"
    INVOICE = "invoice"
    PAYMENT_PROOF = "payment_proof"  # proof of the firm's own payment
    USAGE_RECORD = "usage_record"  # usage record or test report


class BatchStatus(StrEnum):
    CLOSED = "closed"  # claims grouped, statements ready, awaiting payment
    PAID = "paid"  # the authority recorded the payment reference


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v.value}'" for v in values) + ")"


class Programme(Model):
    """券种: one authority's voucher programme for one fiscal year."""

    __tablename__ = "voucher_programme"
    __table_args__ = (
        UniqueConstraint("authority_id", "code"),
        CheckConstraint("budget_fen > 0", name="budget_positive"),
        CheckConstraint("granted_fen >= 0 AND granted_fen <= budget_fen", name="within_budget"),
        CheckConstraint("subsidy_percent BETWEEN 1 AND 100", name="ratio_range"),
        CheckConstraint(
            "enterprise_cap_fen > 0 AND (order_cap_fen IS NULL OR order_cap_fen > 0)"
            " AND (group_cap_fen IS NULL OR group_cap_fen > 0)",
            name="caps_positive",
        ),
        CheckConstraint(
            "applications_open_on <= applications_close_on"
            " AND applications_close_on <= valid_until AND valid_until <= claim_deadline",
            name="dates_order",
        ),
        CheckConstraint(_in("mode", RedemptionMode), name="mode_known"),
        CheckConstraint(_in("settlement_cycle", SettlementCycle), name="cycle_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    fiscal_year: Mapped[int] = mapped_column(Integer)
    budget_fen: Mapped[int] = mapped_column(Money)
    # Sum of approved grants, kept by conditional UPDATE; the CHECK above is the backstop.
    granted_fen: Mapped[int] = mapped_column(Money, default=0)
    subsidy_percent: Mapped[int] = mapped_column(Integer)
    enterprise_cap_fen: Mapped[int] = mapped_column(Money)  # per enterprise per year
    order_cap_fen: Mapped[int | None] = mapped_column(Money)
    group_cap_fen: Mapped[int | None] = mapped_column(Money)  # per controller group (实际控制人)
    mode: Mapped[str] = mapped_column(String(20), default=RedemptionMode.PROVIDER_REDEEMS)
    eligible_categories: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: all
    eligible_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)  # ServiceKind values
    applications_open_on: Mapped[date] = mapped_column(Date)
    applications_close_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)  # last day vouchers may be spent
    claim_deadline: Mapped[date] = mapped_column(Date)  # last day a claim may be filed
    settlement_cycle: Mapped[str] = mapped_column(String(16), default=SettlementCycle.QUARTERLY)
    # Orders by one firm at one provider for one item within this many days
    # that together exceed the per-order cap are flagged as possibly split.
    split_window_days: Mapped[int] = mapped_column(Integer, default=30)
    closed_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    authority: Mapped[Organization] = relationship()
    recognised: Mapped[list[RecognisedProvider]] = relationship(
        back_populates="programme", cascade="all, delete-orphan"
    )

    def name(self, locale: str | None = None) -> str:
        return self.name_en if locale == "en" and self.name_en else self.name_zh


class RecognisedProvider(Model):
    """A provider whose services a programme pays for, in any region."""

    __tablename__ = "voucher_recognised_provider"
    __table_args__ = (UniqueConstraint("programme_id", "provider_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programme.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)

    programme: Mapped[Programme] = relationship(back_populates="recognised")
    provider: Mapped[Organization] = relationship()


class Grant(Model):
    """额度: an enterprise's application to a programme and, once approved,
    its grant. Bucket columns are a cache of the ledger (see module doc)."""

    __tablename__ = "voucher_grant"
    __table_args__ = (
        CheckConstraint("requested_fen > 0", name="requested_positive"),
        CheckConstraint(
            "available_fen >= 0 AND locked_fen >= 0 AND used_fen >= 0"
            " AND expired_fen >= 0 AND voided_fen >= 0 AND held_fen >= 0",
            name="buckets_nonnegative",
        ),
        # Held shares are earmarked out of the available bucket.
        CheckConstraint("held_fen <= available_fen", name="held_within_available"),
        CheckConstraint(
            "available_fen + locked_fen + used_fen + expired_fen + voided_fen"
            " = COALESCE(approved_fen, 0)",
            name="buckets_sum_to_grant",
        ),
        CheckConstraint(
            "approved_fen IS NULL OR (approved_fen > 0 AND approved_fen <= requested_fen)",
            name="approved_within_request",
        ),
        CheckConstraint(_in("status", GrantStatus), name="status_known"),
        Index("ix_voucher_grant_programme_status", "programme_id", "status"),
        Index("ix_voucher_grant_enterprise", "enterprise_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programme.id"))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    applicant_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    status: Mapped[str] = mapped_column(String(16), default=GrantStatus.SUBMITTED)
    requested_fen: Mapped[int] = mapped_column(Money)
    approved_fen: Mapped[int | None] = mapped_column(Money)
    purpose: Mapped[str] = mapped_column(String(500), default="")
    # The enterprise's category claim and its certificate, checked on the order date.
    category: Mapped[str | None] = mapped_column(String(32))
    certificate_no: Mapped[str] = mapped_column(String(64), default="")
    certificate_valid_from: Mapped[date | None] = mapped_column(Date)
    certificate_valid_until: Mapped[date | None] = mapped_column(Date)
    evidence_path: Mapped[str | None] = mapped_column(String(255))
    evidence_name: Mapped[str | None] = mapped_column(String(255))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)

    available_fen: Mapped[int] = mapped_column(Money, default=0)
    held_fen: Mapped[int] = mapped_column(Money, default=0)
    locked_fen: Mapped[int] = mapped_column(Money, default=0)
    used_fen: Mapped[int] = mapped_column(Money, default=0)
    expired_fen: Mapped[int] = mapped_column(Money, default=0)
    voided_fen: Mapped[int] = mapped_column(Money, default=0)

    programme: Mapped[Programme] = relationship()
    enterprise: Mapped[Organization] = relationship()
    applicant: Mapped[User | None] = relationship(foreign_keys=[applicant_id])

    @property
    def spendable_fen(self) -> int:
        """What a new order may still draw: available minus earmarked shares."""
        return self.available_fen - self.held_fen


class GroupSpend(Model):
    """The running total of voucher shares held, locked or used by one
    controller group (实际控制人) within one programme, so the group cap holds
    across firms: raised by conditional UPDATE, CHECK as the backstop."""

    __tablename__ = "voucher_group_spend"
    __table_args__ = (
        UniqueConstraint("programme_id", "controller_key"),
        CheckConstraint("committed_fen >= 0 AND committed_fen <= cap_fen", name="within_cap"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programme.id"))
    controller_key: Mapped[str] = mapped_column(String(128))
    cap_fen: Mapped[int] = mapped_column(Money)
    committed_fen: Mapped[int] = mapped_column(Money, default=0)


class VoucherUse(Model):
    """The voucher share of one order (booking or service order), with the
    programme rules in force when the order was placed."""

    __tablename__ = "voucher_use"
    __table_args__ = (
        CheckConstraint(
            "(booking_id IS NULL) <> (service_order_id IS NULL)", name="exactly_one_order"
        ),
        CheckConstraint("share_fen > 0 AND share_fen <= price_fen", name="share_within_price"),
        CheckConstraint(
            "used_fen IS NULL OR (used_fen >= 0 AND used_fen <= share_fen)",
            name="used_within_share",
        ),
        CheckConstraint(_in("status", UseStatus), name="status_known"),
        Index("ix_voucher_use_grant_status", "grant_id", "status"),
        Index("ix_voucher_use_programme_status", "programme_id", "status"),
        Index("ix_voucher_use_enterprise_item", "enterprise_id", "provider_id", "item_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("voucher_grant.id"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programme.id"))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("booking.id"), unique=True)
    service_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_order.id"), unique=True
    )
    service_kind: Mapped[str] = mapped_column(String(20))
    item_key: Mapped[str] = mapped_column(String(40))  # "instrument:12" / "service:7"
    controller_key: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default=UseStatus.HELD)
    price_fen: Mapped[int] = mapped_column(Money)  # the order's quote when placed
    share_fen: Mapped[int] = mapped_column(Money)  # voucher share shown to the firm
    used_fen: Mapped[int | None] = mapped_column(Money)  # final share after billing
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)  # programme rules snapshot
    split_flag: Mapped[bool] = mapped_column(default=False)
    split_reason: Mapped[str | None] = mapped_column(String(255))
    claim_deadline: Mapped[date] = mapped_column(Date)
    deadline_reminded_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_at: Mapped[datetime | None]
    used_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]  # released, expired or voided

    grant: Mapped[Grant] = relationship()
    programme: Mapped[Programme] = relationship()
    enterprise: Mapped[Organization] = relationship(foreign_keys=[enterprise_id])
    provider: Mapped[Organization] = relationship(foreign_keys=[provider_id])


class LedgerEntry(Model):
    """One movement of money between a grant's buckets. Append-only."""

    __tablename__ = "voucher_ledger_entry"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(_in("kind", EntryKind), name="kind_known"),
        CheckConstraint(
            "(from_bucket IS NULL OR " + _in("from_bucket", Bucket) + ")"
            " AND " + _in("to_bucket", Bucket),
            name="buckets_known",
        ),
        # Each kind of movement happens once per voucher use, and a grant is
        # issued once: re-run jobs and retried requests cannot move money twice.
        Index(
            "uq_voucher_ledger_entry_use_kind",
            "voucher_use_id",
            "kind",
            unique=True,
            sqlite_where=text("voucher_use_id IS NOT NULL"),
            postgresql_where=text("voucher_use_id IS NOT NULL"),
        ),
        Index(
            "uq_voucher_ledger_entry_grant_issue",
            "grant_id",
            unique=True,
            sqlite_where=text("kind = 'issue'"),
            postgresql_where=text("kind = 'issue'"),
        ),
        Index("ix_voucher_ledger_entry_grant", "grant_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("voucher_grant.id"))
    voucher_use_id: Mapped[int | None] = mapped_column(ForeignKey("voucher_use.id"))
    kind: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int] = mapped_column(Money)
    from_bucket: Mapped[str | None] = mapped_column(String(16))
    to_bucket: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    note: Mapped[str] = mapped_column(String(255), default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SettlementBatch(Model):
    """One authority's settlement of one period: its approved claims grouped
    by payee. Unique per (authority, period), so a re-run finds it."""

    __tablename__ = "voucher_settlement_batch"
    __table_args__ = (
        UniqueConstraint("authority_id", "period"),
        CheckConstraint(_in("status", BatchStatus), name="status_known"),
        CheckConstraint("total_fen >= 0 AND claim_count >= 0", name="totals_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    period: Mapped[str] = mapped_column(String(8))  # "2026-10" (monthly) or "2026-Q4"
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # exclusive
    status: Mapped[str] = mapped_column(String(16), default=BatchStatus.CLOSED)
    total_fen: Mapped[int] = mapped_column(Money, default=0)
    claim_count: Mapped[int] = mapped_column(Integer, default=0)
    payment_reference: Mapped[str | None] = mapped_column(String(128))
    paid_at: Mapped[datetime | None]
    paid_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    authority: Mapped[Organization] = relationship()


class Claim(Model):
    """兑付申请: the payee's claim on one voucher use, to the issuing authority."""

    __tablename__ = "voucher_claim"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(_in("status", ClaimStatus), name="status_known"),
        Index("ix_voucher_claim_authority_status", "authority_id", "status"),
        Index("ix_voucher_claim_batch", "batch_id"),
        Index("ix_voucher_claim_payee", "payee_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # One claim per voucher use; a returned claim is corrected in place.
    voucher_use_id: Mapped[int] = mapped_column(ForeignKey("voucher_use.id"), unique=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programme.id"))
    authority_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    payee_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    issuing_region_id: Mapped[int] = mapped_column(ForeignKey("region.id"))
    provider_region_id: Mapped[int] = mapped_column(ForeignKey("region.id"))
    amount_fen: Mapped[int] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(16), default=ClaimStatus.SUBMITTED)
    # One invoice, one claim.
    invoice_number: Mapped[str] = mapped_column(String(64), unique=True)
    invoice_amount_fen: Mapped[int] = mapped_column(Money)
    payee_account_name: Mapped[str] = mapped_column(String(128))
    payee_bank: Mapped[str] = mapped_column(String(128))
    payee_account_no: Mapped[str] = mapped_column(String(64))
    review_reason: Mapped[str | None] = mapped_column(Text)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[datetime | None]
    approved_at: Mapped[datetime | None]
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("voucher_settlement_batch.id"))
    paid_at: Mapped[datetime | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)

    use: Mapped[VoucherUse] = relationship()
    programme: Mapped[Programme] = relationship()
    payee: Mapped[Organization] = relationship(foreign_keys=[payee_id])
    batch: Mapped[SettlementBatch | None] = relationship()
    evidence: Mapped[list[ClaimEvidence]] = relationship(
        back_populates="claim", cascade="all, delete-orphan"
    )


class ClaimEvidence(Model):
    __tablename__ = "voucher_claim_evidence"
    __table_args__ = (
        UniqueConstraint("claim_id", "kind"),
        CheckConstraint(_in("kind", EvidenceKind), name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("voucher_claim.id"))
    kind: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(255))  # stored name under the upload folder
    original_name: Mapped[str] = mapped_column(String(255))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)

    claim: Mapped[Claim] = relationship(back_populates="evidence")


class StatementLine(Model):
    """A batch's statement: one line per payee, written with the batch by one
    INSERT … SELECT … GROUP BY."""

    __tablename__ = "voucher_statement_line"
    __table_args__ = (UniqueConstraint("batch_id", "payee_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("voucher_settlement_batch.id"))
    payee_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    amount_fen: Mapped[int] = mapped_column(Money)
    claim_count: Mapped[int] = mapped_column(Integer)

    payee: Mapped[Organization] = relationship()


class RegionFlow(Model):
    """A batch's cross-region matrix cell: issuing region × provider region."""

    __tablename__ = "voucher_region_flow"
    __table_args__ = (UniqueConstraint("batch_id", "issuing_region_id", "provider_region_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("voucher_settlement_batch.id"))
    issuing_region_id: Mapped[int] = mapped_column(ForeignKey("region.id"))
    provider_region_id: Mapped[int] = mapped_column(ForeignKey("region.id"))
    amount_fen: Mapped[int] = mapped_column(Money)
    claim_count: Mapped[int] = mapped_column(Integer)
