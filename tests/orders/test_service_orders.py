"""Service orders through the services: placing against weekly capacity,
the lifecycle with its audit events and signals, the report upload rules,
and illegal transitions that change nothing."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from booking.accounts.models import Organization, OrgKind, User
from booking.audit.models import AuditEvent
from booking.errors import DomainError, InvalidTransition, NotFound
from booking.extensions import db
from booking.orders import service_orders as so
from booking.orders.models import OrderStatus, ServiceOrder, Suspension
from booking.orders.signals import order_changed
from instruments.models import ServiceItem
from tests.orders.conftest import NOW

# NOW is Tuesday 2026-12-01 08:00 in Shanghai; its week starts Monday 11-30.
THIS_WEEK = date(2026, 11, 30)
NEXT_WEEK = THIS_WEEK + timedelta(weeks=1)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def item(make_service_item: Callable[..., ServiceItem]) -> ServiceItem:
    made = make_service_item(unit_price_fen=30_000, weekly_capacity=5)
    db.session.commit()
    return made


@pytest.fixture
def staff(make_user: Callable[..., User], item: ServiceItem) -> User:
    user = make_user(org=item.provider)
    db.session.commit()
    return user


@pytest.fixture
def signals() -> Iterator[list[str]]:
    seen: list[str] = []

    def listener(sender: Any, **kw: Any) -> None:
        if isinstance(sender, ServiceOrder):
            seen.append(kw["action"])

    order_changed.connect(listener)
    yield seen
    order_changed.disconnect(listener)


def order_count() -> int:
    return db.session.scalar(select(func.count()).select_from(ServiceOrder)) or 0


def place(
    user: User, item: ServiceItem, quantity: int = 2, week: date = NEXT_WEEK, key: str | None = None
) -> ServiceOrder:
    return so.place_service_order(user, item.id, quantity, week, "强度测试", "钢板 2 块", key, NOW)


def refused(user: User, item: ServiceItem, match: str, **kw: Any) -> None:
    before = order_count()
    with pytest.raises(DomainError, match=match):
        place(user, item, **kw)
    db.session.rollback()
    assert order_count() == before


def test_placing_snapshots_price_and_respond_by(
    item: ServiceItem, firm_user: User, signals: list[str]
) -> None:
    order = place(firm_user, item, 3)
    db.session.commit()
    assert order.status == OrderStatus.REQUESTED
    assert (order.unit_price_fen, order.quote_fen) == (30_000, 90_000)
    assert order.respond_by == NOW + timedelta(hours=48)
    assert order.policy["turnaround_days"] == item.turnaround_days
    item.unit_price_fen = 99_900
    db.session.commit()
    assert order.quote_fen == 90_000
    assert signals == ["place"]
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "service_order")
    ).one()
    assert (event.action, event.to_state) == ("service_order.place", "requested")


def test_weekly_capacity_is_enforced_per_week(
    item: ServiceItem, make_firm_user: Callable[..., User]
) -> None:
    place(make_firm_user(), item, 3)
    place(make_firm_user(), item, 2)
    db.session.commit()
    refused(make_firm_user(), item, "当周只剩 0 个样品的检测能力", quantity=1)
    # Another week has its own capacity; a cancelled order gives its samples back.
    assert place(make_firm_user(), item, 5, week=NEXT_WEEK + timedelta(weeks=1)).id
    first = db.session.scalars(select(ServiceOrder).order_by(ServiceOrder.id)).first()
    assert first is not None
    so.cancel_service_order(first, first.user, "", NOW)
    db.session.commit()
    assert place(make_firm_user(), item, 3).id
    assert so.remaining_capacity(item, NEXT_WEEK) == 0


def test_quantity_above_what_is_left_names_the_remainder(
    item: ServiceItem, firm_user: User
) -> None:
    place(firm_user, item, 4)
    db.session.commit()
    refused(firm_user, item, "只剩 1 个样品", quantity=2)
    quote = so.quote_service_order(firm_user, item.id, 1, NEXT_WEEK, NOW)
    assert (quote.quote_fen, quote.remaining) == (30_000, 1)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"quantity": 0}, "样品数量须为 1 至"),
        ({"week": THIS_WEEK - timedelta(weeks=1)}, "请选择本周或之后的某一周。"),
        ({"week": NEXT_WEEK + timedelta(days=2)}, "请选择本周或之后的某一周。"),
        ({"week": THIS_WEEK + timedelta(weeks=20)}, "最多只能委托 12 周以内的检测。"),
    ],
)
def test_shape_rules(item: ServiceItem, firm_user: User, kw: dict[str, Any], match: str) -> None:
    refused(firm_user, item, match, **kw)


def test_requester_and_item_rules(
    item: ServiceItem, make_firm_user: Callable[..., User], make_user: Callable[..., User]
) -> None:
    refused(make_firm_user(status="pending"), item, "尚未通过认证")
    refused(make_user(kind=OrgKind.PROVIDER), item, "只有企业用户可以委托检测。")
    suspended = make_firm_user()
    db.session.add(
        Suspension(
            enterprise_id=suspended.organization_id,
            reason="no-shows",
            starts_at=NOW - timedelta(days=1),
            ends_at=NOW + timedelta(days=3),
        )
    )
    db.session.commit()
    refused(suspended, item, "服务资格暂停至")
    item.active = False
    db.session.commit()
    refused(make_firm_user(), item, "该服务项目目前不接受委托。")
    with pytest.raises(NotFound):
        so.place_service_order(make_firm_user(), 999_999, 1, NEXT_WEEK, "", "", None, NOW)
    db.session.rollback()


def test_the_same_key_returns_the_first_order(
    item: ServiceItem, firm_user: User, make_firm_user: Callable[..., User]
) -> None:
    first = place(firm_user, item, key="svc-key-1")
    db.session.commit()
    assert place(firm_user, item, key="svc-key-1").id == first.id
    assert order_count() == 1
    refused(make_firm_user(), item, "重复的提交标识", key="svc-key-1")


def test_lifecycle_with_report(
    item: ServiceItem, firm_user: User, staff: User, tmp_path: Path, signals: list[str]
) -> None:
    order = place(firm_user, item, 3)
    so.accept_service_order(order, staff, NOW)
    so.receive_samples(order, staff, NOW + timedelta(days=1))
    assert order.samples_received_at == NOW + timedelta(days=1)
    charge = so.complete_service_order(
        order, staff, 2, io.BytesIO(PDF), "../../报告 final.pdf", tmp_path, NOW + timedelta(days=5)
    )
    db.session.commit()
    assert charge == 60_000 == order.charge_fen
    assert order.status == OrderStatus.COMPLETED
    assert order.report_name == "final.pdf"
    stored = tmp_path / str(order.report_path)
    assert stored.parent == tmp_path / str(order.id)
    assert stored.suffix == ".pdf" and stored.read_bytes() == PDF
    so.confirm_service_order(order, firm_user, 4, "及时", NOW + timedelta(days=6))
    db.session.commit()
    assert (order.status, order.rating, order.rating_comment) == ("closed", 4, "及时")
    assert signals == ["place", "accept", "receive", "complete", "confirm"]
    actions = [
        e.action
        for e in db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_type == "service_order")
            .order_by(AuditEvent.id)
        )
    ]
    assert actions == [
        "service_order.place",
        "service_order.accept",
        "service_order.receive",
        "service_order.complete",
        "service_order.confirm",
    ]


def _in_testing(item: ServiceItem, user: User, staff: User, quantity: int = 2) -> ServiceOrder:
    order = place(user, item, quantity)
    so.accept_service_order(order, staff, NOW)
    so.receive_samples(order, staff, NOW)
    db.session.commit()
    return order


@pytest.mark.parametrize(
    ("content", "tested", "limit", "match"),
    [
        (PNG, 2, so.MAX_REPORT_BYTES, "报告须为 PDF 文件。"),
        (b"", 2, so.MAX_REPORT_BYTES, "报告须为 PDF 文件。"),
        (PDF + b"x" * 2048, 2, 1024, "报告文件不能超过"),
        (PDF, 0, so.MAX_REPORT_BYTES, "检测样品数须在 1 至 2 之间。"),
        (PDF, 3, so.MAX_REPORT_BYTES, "检测样品数须在 1 至 2 之间。"),
    ],
    ids=["png-named-pdf", "empty", "too-large", "none-tested", "more-than-ordered"],
)
def test_report_rules(
    item: ServiceItem,
    firm_user: User,
    staff: User,
    tmp_path: Path,
    content: bytes,
    tested: int,
    limit: int,
    match: str,
) -> None:
    order = _in_testing(item, firm_user, staff)
    with pytest.raises(DomainError, match=match):
        so.complete_service_order(
            order, staff, tested, io.BytesIO(content), "report.pdf", tmp_path, NOW, max_bytes=limit
        )
    db.session.rollback()
    assert order.status == OrderStatus.IN_USE
    assert order.report_path is None
    assert not any(tmp_path.iterdir())


def test_illegal_transitions_change_nothing(
    item: ServiceItem, firm_user: User, staff: User, tmp_path: Path
) -> None:
    cancelled = place(firm_user, item, 1)
    so.cancel_service_order(cancelled, firm_user, "不需要了", NOW)
    db.session.commit()
    with pytest.raises(InvalidTransition, match="当前状态（已取消）不允许此操作"):
        so.accept_service_order(cancelled, staff, NOW)
    with pytest.raises(InvalidTransition):
        so.reject_service_order(cancelled, staff, "x", NOW)
    db.session.rollback()
    assert cancelled.status == OrderStatus.CANCELLED

    order = _in_testing(item, firm_user, staff)
    with pytest.raises(InvalidTransition, match="样品已送达"):
        so.cancel_service_order(order, firm_user, "", NOW)
    so.complete_service_order(order, staff, 2, io.BytesIO(PDF), "r.pdf", tmp_path, NOW)
    db.session.commit()
    path = order.report_path
    with pytest.raises(InvalidTransition, match="待确认"):
        so.complete_service_order(order, staff, 1, io.BytesIO(PDF), "r.pdf", tmp_path, NOW)
    db.session.rollback()
    assert (order.report_path, order.samples_tested, order.charge_fen) == (path, 2, 60_000)
    with pytest.raises(DomainError, match="1 到 5"):
        so.confirm_service_order(order, firm_user, 6, "", NOW)
    with pytest.raises(InvalidTransition):
        so.receive_samples(order, staff, NOW)
    db.session.rollback()
    assert order.status == OrderStatus.COMPLETED


def test_reject_needs_a_reason(item: ServiceItem, firm_user: User, staff: User) -> None:
    order = place(firm_user, item)
    with pytest.raises(DomainError, match="请填写拒绝理由"):
        so.reject_service_order(order, staff, "  ", NOW)
    so.reject_service_order(order, staff, "超出资质范围", NOW)
    assert (order.status, order.decision_reason) == ("rejected", "超出资质范围")
    assert so.remaining_capacity(item, NEXT_WEEK) == 5


def test_scoped_lookups(
    item: ServiceItem, firm_user: User, make_org: Callable[..., Organization]
) -> None:
    order = place(firm_user, item)
    db.session.commit()
    assert so.enterprise_service_order(firm_user.organization_id, order.id) is order
    assert so.provider_service_order(item.provider_id, order.id) is order
    other = make_org(kind=OrgKind.PROVIDER)
    for call in (
        lambda: so.enterprise_service_order(other.id, order.id),
        lambda: so.provider_service_order(other.id, order.id),
        lambda: so.provider_service_order(item.provider_id, 2**40),
    ):
        with pytest.raises(NotFound):
            call()
