"""Paying for orders with vouchers: the voucher share, and the money that
follows the order (hold → lock → use / release). Subscribes to the order
engine's events.

- The quote page asks `payment_options`: one option per grant of the firm
  (approved, and suspended or closed ones with the reason they cannot pay),
  each with its split or its refusal.
- Placing an order with `payment="grant:<id>"` re-checks every rule against
  fresh, locked data, writes a `VoucherUse` (held), earmarks the share on
  the grant and counts it against the controller group's cap. Any refusal
  raises DomainError and the order view rolls the whole placement back.
- Later order events move the money: accepted → locked; ended without
  service → released; confirmed (or auto-closed) → used for the final bill,
  the rest released.

Everything runs inside the order's own transaction and never commits. Lock
order is always order/instrument row → grant row → group row, so placements
and transitions cannot deadlock with each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import Flask
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import contains_eager

from booking.accounts.models import Organization, RelatedParty, User
from booking.audit.services import record
from booking.errors import DomainError, NotFound
from booking.extensions import db
from booking.i18n import is_english, money
from booking.orders.clock import local
from booking.orders.models import Booking, OrderStatus, ServiceOrder
from booking.orders.payment import (
    INSTRUMENT_TIME,
    TESTING_SERVICE,
    OrderDraft,
    PaymentLine,
    PaymentOption,
)
from booking.orders.signals import order_changed, payment_options, payment_summary
from vouchers import ledger
from vouchers.models import (
    Bucket,
    EntryKind,
    Grant,
    GrantStatus,
    GroupSpend,
    Programme,
    RecognisedProvider,
    RedemptionMode,
    UseStatus,
    VoucherUse,
)

KEY_PREFIX = "grant:"

# Grants the quote page lists. Submitted and rejected applications never had
# money; suspended and closed ones are shown, disabled, with their reason.
LISTED_GRANT_STATUSES = (GrantStatus.APPROVED, GrantStatus.SUSPENDED, GrantStatus.CLOSED)

# Order events that move a voucher use (action names as the order engine
# sends them: booking.orders.services, service_orders and jobs).
LOCK_ACTIONS = frozenset({"approve", "accept"})
# Ends without service. A cancellation fee is the firm's own money: the
# voucher pays only for delivered service, so the whole share is released.
RELEASE_ACTIONS = frozenset({"reject", "expire", "cancel", "no_show"})
# "auto_close" is the confirm window running out (orders.close_unconfirmed):
# the policy treats the firm's silence as acceptance of the delivered
# service, so the voucher is used exactly as if the firm had confirmed.
# Otherwise the share would stay locked forever on a closed order.
USE_ACTIONS = frozenset({"confirm", "auto_close"})

KIND_LABELS = {INSTRUMENT_TIME: _l("仪器机时"), TESTING_SERVICE: _l("检测服务")}

USE_STATUS_LABELS = {
    UseStatus.HELD: _l("待服务机构受理"),
    UseStatus.LOCKED: _l("已冻结"),
    UseStatus.RELEASED: _l("已释放"),
    UseStatus.USED: _l("已核销"),
    UseStatus.EXPIRED: _l("已逾期"),
    UseStatus.VOIDED: _l("已作废"),
}

# Refusal messages, one per rule, so the firm knows what to change.
NOT_FOUND = _l("所选的创新券额度不存在。")
GRANT_SUSPENDED = _l("该创新券额度已被主管部门暂停使用。")
GRANT_CLOSED = _l("该创新券额度已关闭，不能再使用。")
GRANT_NOT_APPROVED = _l("该创新券额度尚未获批。")
BALANCE_SHORT = _l("创新券额度余额不足，无法支付此订单。")
GROUP_CAP_REACHED = _l("同一实际控制人名下企业的创新券额度已达上限，余额不足。")
NOTHING_TO_PAY = _l("按补贴比例计算的创新券支付金额为零。")


class VoucherRefused(DomainError):
    """A voucher cannot pay for this order; the reason says which rule."""

    code = "voucher_refused"


@dataclass(frozen=True)
class OrderFacts:
    """What the voucher rules look at, for a draft or a placed order."""

    enterprise: Organization
    provider: Organization
    service_kind: str
    item_key: str
    price_fen: int


@dataclass(frozen=True)
class Verdict:
    share_fen: int
    refusal: Any = None  # a lazy message when the grant cannot pay
    balance_short: bool = False  # the refusal is about money, not a rule


# --- the rules ---------------------------------------------------------------------------


def subsidised(price_fen: int, percent: int) -> int:
    """price × ratio, floored to the fen."""
    return price_fen * percent // 100


def related(enterprise: Organization, provider: Organization) -> bool:
    """A declared link (法定代表人, shareholder, controller, affiliation), or the
    same 实际控制人 recorded on both organizations."""
    own = (enterprise.controller_name or "").strip()
    if own and own == (provider.controller_name or "").strip():
        return True
    return (
        db.session.scalar(
            select(RelatedParty.id)
            .where(
                RelatedParty.enterprise_id == enterprise.id,
                RelatedParty.provider_id == provider.id,
            )
            .limit(1)
        )
        is not None
    )


def is_recognised(programme_id: int, provider_id: int) -> bool:
    return (
        db.session.scalar(
            select(RecognisedProvider.id).where(
                RecognisedProvider.programme_id == programme_id,
                RecognisedProvider.provider_id == provider_id,
            )
        )
        is not None
    )


def controller_key(enterprise: Organization) -> str | None:
    return (enterprise.controller_name or "").strip() or None


def group_remaining(programme: Programme, key: str | None) -> int | None:
    """What the controller group may still commit in this programme (None: no cap)."""
    if programme.group_cap_fen is None or key is None:
        return None
    row = db.session.execute(
        select(GroupSpend.cap_fen, GroupSpend.committed_fen).where(
            GroupSpend.programme_id == programme.id, GroupSpend.controller_key == key
        )
    ).first()
    if row is None:
        return programme.group_cap_fen
    # The counter keeps the cap it was created with; ledger.commit_group checks that one.
    return max(0, int(row.cap_fen) - int(row.committed_fen))


def evaluate(
    grant: Grant,
    facts: OrderFacts,
    today: date,
    group_left: int | None,
    related_party: bool | None = None,
) -> Verdict:
    """Every voucher rule for one grant and one order, in the order a firm
    would fix them; the share when all pass. Reads, never writes.
    `related_party` may be given when already known for the order's two
    organizations (the quote page evaluates several grants for one order)."""
    programme = grant.programme
    if grant.status == GrantStatus.SUSPENDED:
        return Verdict(0, GRANT_SUSPENDED)
    if grant.status == GrantStatus.CLOSED:
        return Verdict(0, GRANT_CLOSED)
    if grant.status != GrantStatus.APPROVED or grant.approved_fen is None:
        return Verdict(0, GRANT_NOT_APPROVED)
    if programme.closed_at is not None:
        return Verdict(0, _l("该券种已关闭，不能再使用。"))
    if today > programme.valid_until:
        return Verdict(
            0,
            _l(
                "该券种的使用期已于 %(date)s 结束。",
                date=programme.valid_until.isoformat(),
            ),
        )
    if today < programme.applications_open_on:
        return Verdict(
            0,
            _l(
                "该券种自 %(date)s 起才能使用。",
                date=programme.applications_open_on.isoformat(),
            ),
        )
    # Strict reading: a programme pays only for the kinds it lists.
    if facts.service_kind not in (programme.eligible_kinds or []):
        return Verdict(
            0,
            _l(
                "该券种不支持%(kind)s。",
                kind=KIND_LABELS.get(facts.service_kind, facts.service_kind),
            ),
        )
    category = grant.category or facts.enterprise.enterprise_category
    if programme.eligible_categories and category not in programme.eligible_categories:
        return Verdict(0, _l("贵企业的类别不在该券种的支持范围内。"))
    # The category rests on a certificate (高新技术企业 …) checked on the order date.
    if (grant.certificate_valid_from and today < grant.certificate_valid_from) or (
        grant.certificate_valid_until and today > grant.certificate_valid_until
    ):
        return Verdict(0, _l("贵企业的资质证书在订单日期不在有效期内。"))
    if not is_recognised(programme.id, facts.provider.id):
        return Verdict(0, _l("该服务机构不在此券种认定的服务机构名单内。"))
    if related_party is None:
        related_party = related(facts.enterprise, facts.provider)
    if related_party:
        return Verdict(0, _l("贵企业与该服务机构存在关联关系，不能使用创新券。"))
    wanted = subsidised(facts.price_fen, programme.subsidy_percent)
    if wanted <= 0:
        return Verdict(0, NOTHING_TO_PAY)
    share = wanted
    if programme.order_cap_fen is not None:
        share = min(share, programme.order_cap_fen)
    spendable = grant.spendable_fen
    if spendable <= 0:
        return Verdict(0, BALANCE_SHORT, balance_short=True)
    share = min(share, spendable)
    if group_left is not None:
        if group_left <= 0:
            return Verdict(0, GROUP_CAP_REACHED, balance_short=True)
        share = min(share, group_left)
    return Verdict(share)


def grant_label(grant: Grant) -> str:
    programme = grant.programme
    name = programme.name("en" if is_english() else None)
    return str(
        _l(
            "%(programme)s · 额度 %(id)s（可用 %(left)s）",
            programme=name,
            id=grant.id,
            left=money(max(0, grant.spendable_fen)),
        )
    )


def mode_note(programme: Programme) -> str:
    if programme.mode == RedemptionMode.FIRM_REIMBURSED:
        return str(_l("通用模式：企业先全额支付，兑付申请支付后再报销创新券部分。"))
    return str(_l("通兑模式：企业只付自付部分，创新券部分由服务机构向主管部门兑付。"))


# --- the quote page ----------------------------------------------------------------------


def options(draft: OrderDraft, user: User, now: datetime) -> list[PaymentOption]:
    """One option per listed grant of the draft's enterprise, with its split
    or the reason it cannot pay. Reads only."""
    grants = db.session.scalars(
        select(Grant)
        .join(Programme, Programme.id == Grant.programme_id)
        .where(
            Grant.enterprise_id == draft.enterprise.id,
            Grant.status.in_(LISTED_GRANT_STATUSES),
            Grant.approved_fen.is_not(None),
        )
        .options(contains_eager(Grant.programme))
        .order_by(Programme.valid_until, Grant.id)
    ).all()
    facts = OrderFacts(
        draft.enterprise, draft.provider, draft.service_kind, draft.item_key, draft.price_fen
    )
    today = local(now).date()
    found: list[PaymentOption] = []
    key = controller_key(draft.enterprise)
    related_party = related(draft.enterprise, draft.provider) if grants else False
    for grant in grants:
        verdict = evaluate(
            grant, facts, today, group_remaining(grant.programme, key), related_party
        )
        share = verdict.share_fen if verdict.refusal is None else 0
        found.append(
            PaymentOption(
                key=f"{KEY_PREFIX}{grant.id}",
                label=grant_label(grant),
                share_fen=share,
                own_fen=draft.price_fen - share,
                refusal=None if verdict.refusal is None else str(verdict.refusal),
                note=mode_note(grant.programme),
            )
        )
    return found


# --- placing -----------------------------------------------------------------------------


def order_facts(order: Booking | ServiceOrder) -> OrderFacts:
    if isinstance(order, Booking):
        instrument = order.instrument
        return OrderFacts(
            order.enterprise,
            instrument.provider,
            INSTRUMENT_TIME,
            f"instrument:{instrument.id}",
            order.quote_fen,
        )
    item = order.service_item
    return OrderFacts(
        order.enterprise, item.provider, TESTING_SERVICE, f"service:{item.id}", order.quote_fen
    )


def _grant_id(payment: str) -> int:
    raw = payment.removeprefix(KEY_PREFIX) if payment.startswith(KEY_PREFIX) else ""
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise NotFound(NOT_FOUND)
    return int(raw)


def _lock_grant(grant_id: int, enterprise_id: int) -> Grant:
    """The grant re-read under a row lock (PostgreSQL; SQLite's writer is
    already serialised), so the checks and the share see fresh balances and
    no other placement changes them before this transaction ends. Another
    firm's grant is "not found": never pay from someone else's money."""
    grant = db.session.scalar(
        select(Grant)
        .where(Grant.id == grant_id, Grant.enterprise_id == enterprise_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if grant is None:
        raise NotFound(NOT_FOUND)
    return grant


def _lock_group(programme: Programme, key: str | None) -> int | None:
    """The controller group's counter, created if missing and locked, so the
    share is computed against what other firms of the group committed."""
    if programme.group_cap_fen is None or key is None:
        return None
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    db.session.execute(
        insert(GroupSpend)
        .values(programme_id=programme.id, controller_key=key, cap_fen=programme.group_cap_fen)
        .on_conflict_do_nothing(index_elements=["programme_id", "controller_key"])
    )
    row = db.session.execute(
        select(GroupSpend.cap_fen, GroupSpend.committed_fen)
        .where(GroupSpend.programme_id == programme.id, GroupSpend.controller_key == key)
        .with_for_update()
    ).one()
    return max(0, int(row.cap_fen) - int(row.committed_fen))


def rules_snapshot(programme: Programme) -> dict[str, Any]:
    """The programme rules in force when the order was placed: the order
    keeps them even if the authority changes the programme later."""
    return {
        "programme_code": programme.code,
        "authority_id": programme.authority_id,
        "subsidy_percent": programme.subsidy_percent,
        "order_cap_fen": programme.order_cap_fen,
        "enterprise_cap_fen": programme.enterprise_cap_fen,
        "group_cap_fen": programme.group_cap_fen,
        "mode": str(programme.mode),
        "valid_until": programme.valid_until.isoformat(),
        "claim_deadline": programme.claim_deadline.isoformat(),
        "settlement_cycle": str(programme.settlement_cycle),
        "split_window_days": programme.split_window_days,
    }


def place(
    order: Booking | ServiceOrder, payment: str, actor: User | None, now: datetime
) -> VoucherUse | None:
    """Pay part of a just-placed order from one of its enterprise's grants.

    Re-checks every rule against the locked grant; refused (VoucherRefused
    or NotFound, nothing written once the caller rolls back) when any fails
    or the balance is short. Holds the share and counts it against the
    controller group; an order confirmed at once is locked at once.
    """
    if not payment:
        return None
    grant = _lock_grant(_grant_id(payment), order.enterprise_id)
    programme = grant.programme
    facts = order_facts(order)
    key = controller_key(facts.enterprise)
    verdict = evaluate(grant, facts, local(now).date(), _lock_group(programme, key))
    if verdict.refusal is not None:
        if verdict.balance_short:
            raise ledger.InsufficientFunds(verdict.refusal)
        raise VoucherRefused(verdict.refusal)
    share = verdict.share_fen
    use = VoucherUse(
        grant_id=grant.id,
        programme_id=programme.id,
        enterprise_id=facts.enterprise.id,
        provider_id=facts.provider.id,
        booking_id=order.id if isinstance(order, Booking) else None,
        service_order_id=order.id if isinstance(order, ServiceOrder) else None,
        service_kind=facts.service_kind,
        item_key=facts.item_key,
        controller_key=key,
        status=UseStatus.HELD,
        price_fen=facts.price_fen,
        share_fen=share,
        rules=rules_snapshot(programme),
        claim_deadline=programme.claim_deadline,
        created_at=now,
    )
    flag_split(use, programme, now)
    db.session.add(use)
    db.session.flush()
    ledger.hold(grant.id, share)
    if programme.group_cap_fen is not None and key is not None:
        ledger.commit_group(programme.id, key, programme.group_cap_fen, share)
    _audit(
        actor,
        use,
        "hold",
        None,
        now,
        share_fen=share,
        price_fen=facts.price_fen,
        payment=payment,
    )
    if use.split_flag:
        _audit(actor, use, "split_flag", use.status, now, reason=use.split_reason)
    if order.status == OrderStatus.CONFIRMED:  # instant confirmation: accepted already
        lock(use, actor, now)
    return use


def flag_split(use: VoucherUse, programme: Programme, now: datetime) -> None:
    """Flag (never refuse) a possibly split order: other live uses of the
    same firm at the same provider for the same item within the window, each
    under the per-order cap, whose subsidised amounts together exceed it.

    The cap limits the voucher share, so the comparison is on price × ratio
    (what the cap would have cut), not on raw prices: at a 50 % ratio two
    ¥15,000 orders under a ¥20,000 cap gain nothing by being split.
    """
    cap = programme.order_cap_fen
    percent = programme.subsidy_percent
    if cap is None or subsidised(use.price_fen, percent) > cap:
        return
    since = now - timedelta(days=programme.split_window_days)
    siblings = db.session.execute(
        select(VoucherUse.id, VoucherUse.price_fen).where(
            VoucherUse.programme_id == programme.id,
            VoucherUse.enterprise_id == use.enterprise_id,
            VoucherUse.provider_id == use.provider_id,
            VoucherUse.item_key == use.item_key,
            VoucherUse.status != UseStatus.RELEASED,
            VoucherUse.created_at >= since,
        )
    ).all()
    small = [(i, p) for i, p in siblings if subsidised(p, percent) <= cap]
    if not small:
        return
    total = use.price_fen + sum(p for _i, p in small)
    if subsidised(total, percent) <= cap:
        return
    use.split_flag = True
    # Stored text (shown to reviewers), like other recorded reasons.
    use.split_reason = (
        f"{programme.split_window_days} 天内同一服务机构同一项目共 {len(small) + 1} 笔订单，"
        f"合计 {money(total)}，补贴额合计超过单笔上限 {money(cap)}"
        f"（关联使用 {', '.join(str(i) for i, _p in small)}）"
    )[:255]


# --- the money follows the order -----------------------------------------------------------


def _audit(
    actor: User | None,
    use: VoucherUse,
    verb: str,
    before: str | None,
    now: datetime,
    **detail: Any,
) -> None:
    record(
        actor,
        f"voucher_use.{verb}",
        "voucher_use",
        use.id,
        from_state=before,
        to_state=use.status,
        now=now,
        booking_id=use.booking_id,
        service_order_id=use.service_order_id,
        grant_id=use.grant_id,
        **detail,
    )


def lock(use: VoucherUse, actor: User | None, now: datetime) -> None:
    """The provider accepted: the held share becomes locked money."""
    if use.status != UseStatus.HELD:
        return
    ledger.move(
        use.grant_id,
        EntryKind.LOCK,
        use.share_fen,
        Bucket.AVAILABLE,
        Bucket.LOCKED,
        now,
        actor=actor,
        voucher_use_id=use.id,
        release_hold=True,
    )
    use.status, use.locked_at = UseStatus.LOCKED, now
    _audit(actor, use, "lock", UseStatus.HELD, now, amount_fen=use.share_fen)


def _uncommit(use: VoucherUse, amount_fen: int) -> None:
    if use.controller_key is not None and amount_fen > 0:
        ledger.uncommit_group(use.programme_id, use.controller_key, amount_fen)


def release(use: VoucherUse, actor: User | None, now: datetime, action: str) -> None:
    """The order ended without service: the whole share goes back."""
    before = use.status
    if before == UseStatus.HELD:
        ledger.unhold(use.grant_id, use.share_fen)
    elif before == UseStatus.LOCKED:
        ledger.move(
            use.grant_id,
            EntryKind.RELEASE,
            use.share_fen,
            Bucket.LOCKED,
            Bucket.AVAILABLE,
            now,
            actor=actor,
            voucher_use_id=use.id,
            note=action,
        )
    else:
        return
    _uncommit(use, use.share_fen)
    use.status, use.ended_at = UseStatus.RELEASED, now
    _audit(actor, use, "release", before, now, amount_fen=use.share_fen, order_action=action)


def use_final(
    use: VoucherUse, order: Booking | ServiceOrder, actor: User | None, now: datetime
) -> None:
    """The delivered service is accepted: use min(share, final bill × ratio
    of the snapshot) and release the rest."""
    if use.status == UseStatus.HELD:  # not reachable through the order states; be safe
        lock(use, actor, now)
    if use.status != UseStatus.LOCKED:
        return
    bill = order.charge_fen if order.charge_fen is not None else order.quote_fen
    percent = int(use.rules.get("subsidy_percent", use.programme.subsidy_percent))
    used = min(use.share_fen, subsidised(bill, percent))
    rest = use.share_fen - used
    if used > 0:
        ledger.move(
            use.grant_id,
            EntryKind.USE,
            used,
            Bucket.LOCKED,
            Bucket.USED,
            now,
            actor=actor,
            voucher_use_id=use.id,
        )
    if rest > 0:
        ledger.move(
            use.grant_id,
            EntryKind.RELEASE,
            rest,
            Bucket.LOCKED,
            Bucket.AVAILABLE,
            now,
            actor=actor,
            voucher_use_id=use.id,
            note="unused rest",
        )
        _uncommit(use, rest)
    if used > 0:
        use.status, use.used_fen, use.used_at = UseStatus.USED, used, now
    else:
        # A free bill leaves nothing to claim: the use ends like a release.
        use.status, use.used_fen, use.ended_at = UseStatus.RELEASED, 0, now
    _audit(
        actor, use, "use", UseStatus.LOCKED, now, used_fen=used, released_fen=rest, bill_fen=bill
    )


def use_of(order: Booking | ServiceOrder) -> VoucherUse | None:
    column = VoucherUse.booking_id if isinstance(order, Booking) else VoucherUse.service_order_id
    return db.session.scalar(select(VoucherUse).where(column == order.id))


def on_order_changed(sender: Any, **kwargs: Any) -> None:
    """Move the voucher money with the order. Runs inside the order's
    transaction; a DomainError refuses the whole order change."""
    if not isinstance(sender, Booking | ServiceOrder):
        return
    action = str(kwargs.get("action", ""))
    actor: User | None = kwargs.get("actor")
    now: datetime = kwargs["now"]
    if action == "place":
        place(sender, str(kwargs.get("payment") or ""), actor, now)
        return
    if action not in LOCK_ACTIONS | RELEASE_ACTIONS | USE_ACTIONS:
        return
    use = use_of(sender)
    if use is None:
        return
    if action in LOCK_ACTIONS:
        lock(use, actor, now)
    elif action in RELEASE_ACTIONS:
        release(use, actor, now, action)
    else:
        use_final(use, sender, actor, now)
    db.session.flush()


# --- detail pages ------------------------------------------------------------------------


def summary(order: Booking | ServiceOrder) -> list[PaymentLine]:
    """How a placed order is paid: the voucher share with its state, the
    firm's own part, and after use the final voucher amount."""
    use = use_of(order)
    if use is None:
        return []
    reimbursed = use.rules.get("mode") == RedemptionMode.FIRM_REIMBURSED
    status = str(USE_STATUS_LABELS.get(UseStatus(use.status), use.status))
    lines = [
        PaymentLine(
            str(_l("创新券报销（通用）") if reimbursed else _l("创新券支付（通兑）")),
            use.share_fen,
            status,
        )
    ]
    if use.status == UseStatus.USED and use.used_fen is not None:
        bill = order.charge_fen if order.charge_fen is not None else order.quote_fen
        lines.append(PaymentLine(str(_l("创新券最终核销金额")), use.used_fen))
        own = bill - use.used_fen
    elif use.status == UseStatus.HELD or use.status == UseStatus.LOCKED:
        own = use.price_fen - use.share_fen
    else:
        return lines  # released (or ended): the order's own fees are shown by the order
    lines.append(
        PaymentLine(
            str(_l("企业自付（报销后）") if reimbursed else _l("企业自付")),
            max(0, own),
        )
    )
    return lines


def _on_payment_options(sender: Any, **kwargs: Any) -> list[PaymentOption]:
    if not isinstance(sender, OrderDraft):
        return []
    return options(sender, kwargs["user"], kwargs["now"])


def _on_payment_summary(sender: Any, **kwargs: Any) -> list[PaymentLine]:
    if not isinstance(sender, Booking | ServiceOrder) or sender.id is None:
        return []
    return summary(sender)


def init_app(app: Flask) -> None:
    """Connect the order-event receivers (idempotent; signals are process-wide)."""
    order_changed.connect(on_order_changed, weak=False)
    payment_options.connect(_on_payment_options, weak=False)
    payment_summary.connect(_on_payment_summary, weak=False)
