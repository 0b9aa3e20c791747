"""Service orders through the web, firm and provider side: order form,
quote, idempotent confirm, the provider's queue and actions, the PDF upload
rules, report download, confirm-and-rate, and 404 for every other tenant."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from booking.accounts.models import OrgKind, User
from booking.extensions import db, utcnow
from booking.orders import service_orders as so
from booking.orders.models import OrderStatus, ServiceOrder
from instruments.models import ServiceItem
from tests.orders.test_views_booking import key_of, signed_in

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 128


@dataclass
class World:
    item: ServiceItem
    firm: User
    colleague: User  # same enterprise as firm
    other_firm: User
    staff: User  # of the item's provider
    other_staff: User  # of another provider


@pytest.fixture
def world(
    make_service_item: Callable[..., ServiceItem],
    make_user: Callable[..., User],
    make_firm_user: Callable[..., User],
) -> World:
    item = make_service_item(unit_price_fen=25_000, weekly_capacity=5)
    firm = make_firm_user()
    made = World(
        item=item,
        firm=firm,
        colleague=make_user(org=firm.organization),
        other_firm=make_firm_user(),
        staff=make_user(org=item.provider),
        other_staff=make_user(kind=OrgKind.PROVIDER),
    )
    db.session.commit()
    return made


def this_week() -> str:
    return so.current_week(utcnow()).isoformat()


def order_form(quantity: int = 2, **extra: str) -> dict[str, str]:
    return {
        "quantity": str(quantity),
        "week_start": this_week(),
        "purpose": "拉伸强度",
        "sample_notes": "Q235 钢板",
        **extra,
    }


def order_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(ServiceOrder)) or 0


def place_via_web(client: FlaskClient, item: ServiceItem, quantity: int = 2) -> ServiceOrder:
    quote = client.post(f"/services/{item.id}/order", data=order_form(quantity))
    assert quote.status_code == 200, quote.text
    done = client.post(
        f"/services/{item.id}/order/confirm",
        data=order_form(quantity, idempotency_key=key_of(quote)),
    )
    assert done.status_code == 302, done.text
    order_id = int(done.headers["Location"].rsplit("/", 1)[1])
    db.session.rollback()
    order = db.session.get(ServiceOrder, order_id)
    assert order is not None
    return order


def upload(
    client: FlaskClient,
    order: ServiceOrder,
    content: bytes,
    name: str = "报告.pdf",
    tested: int = 2,
) -> object:
    return client.post(
        f"/provider/service-orders/{order.id}/complete",
        data={"samples_tested": str(tested), "report": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def test_order_page_quote_and_double_confirm(app: Flask, world: World) -> None:
    client = signed_in(app, world.firm)
    page = client.get(f"/services/{world.item.id}/order")
    assert page.status_code == 200
    assert "剩余 5 个样品" in page.text
    quote = client.post(f"/services/{world.item.id}/order", data=order_form(3))
    assert 'id="quote"' in quote.text and "¥750.00" in quote.text
    assert order_count() == 0
    data = order_form(3, idempotency_key=key_of(quote))
    first = client.post(f"/services/{world.item.id}/order/confirm", data=data)
    second = client.post(f"/services/{world.item.id}/order/confirm", data=data)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert order_count() == 1
    detail = client.get(first.headers["Location"])
    assert "待审核" in detail.text and 'id="cancel-button"' in detail.text


def test_capacity_exhaustion_and_bad_input(
    app: Flask, world: World, make_firm_user: Callable[..., User]
) -> None:
    place_via_web(signed_in(app, world.firm), world.item, 4)
    client = signed_in(app, make_firm_user())
    for data, message in [
        (order_form(2), "当周只剩 1 个样品的检测能力，请减少数量或选择其他周。"),
        (order_form(0), "样品数量须为 1 至 10000 之间的整数。"),
        (order_form(1, week_start="2020-01-06"), "请选择本周或之后的某一周。"),
        (order_form(1, week_start="someday"), "请选择检测周。"),
    ]:
        for url in (f"/services/{world.item.id}/order", f"/services/{world.item.id}/order/confirm"):
            response = client.post(url, data={**data, "idempotency_key": "e" * 32})
            assert response.status_code == 422, (url, data)
            assert message in response.text, (url, message)
    assert order_count() == 1


def test_unverified_firm_and_provider_users_cannot_order(
    app: Flask, world: World, make_firm_user: Callable[..., User]
) -> None:
    pending = signed_in(app, make_firm_user(status="pending"))
    response = pending.post(f"/services/{world.item.id}/order", data=order_form())
    assert response.status_code == 422 and "尚未通过认证" in response.text
    staff = signed_in(app, world.staff)
    assert 'id="service-order-form"' not in staff.get(f"/services/{world.item.id}/order").text
    assert staff.post(f"/services/{world.item.id}/order", data=order_form()).status_code == 422
    assert order_count() == 0
    assert staff.get("/services/999999/order").status_code == 404


def test_end_to_end_with_report(app: Flask, world: World, tmp_path: object) -> None:
    firm = signed_in(app, world.firm)
    order = place_via_web(firm, world.item, 2)
    staff = signed_in(app, world.staff)

    queue = staff.get("/provider/service-orders?status=requested")
    assert queue.status_code == 200 and f'data-service-order-id="{order.id}"' in queue.text
    detail = staff.get(f"/provider/service-orders/{order.id}")
    assert 'id="accept-button"' in detail.text and "提交委托" in detail.text

    assert staff.post(f"/provider/service-orders/{order.id}/accept").status_code == 302
    assert staff.post(f"/provider/service-orders/{order.id}/receive").status_code == 302
    # A PNG renamed .pdf, and a PDF over the limit, are refused; nothing changes.
    refused = upload(staff, order, PNG, "scan.pdf")
    assert refused.status_code == 422 and "报告须为 PDF 文件。" in refused.text
    app.config["MAX_REPORT_BYTES"] = 1024
    try:
        too_big = upload(staff, order, PDF + b"0" * 4096)
    finally:
        app.config.pop("MAX_REPORT_BYTES")
    assert too_big.status_code == 422 and "报告文件不能超过" in too_big.text
    missing = staff.post(
        f"/provider/service-orders/{order.id}/complete",
        data={"samples_tested": "2"},
        content_type="multipart/form-data",
    )
    assert missing.status_code == 422 and "请上传检测报告。" in missing.text
    db.session.rollback()
    assert db.session.get(ServiceOrder, order.id).status == OrderStatus.IN_USE  # type: ignore[union-attr]

    done = upload(staff, order, PDF, "../检测报告 2026.pdf", tested=1)
    assert done.status_code == 302
    db.session.rollback()
    order = db.session.get(ServiceOrder, order.id)  # type: ignore[assignment]
    assert order.status == OrderStatus.COMPLETED
    assert order.charge_fen == 25_000  # one sample tested
    # Completing twice is an illegal transition.
    again = upload(staff, order, PDF)
    assert again.status_code == 409 and "不允许此操作" in again.text

    # The firm (and a colleague) and the provider download; nobody else.
    for client in (firm, signed_in(app, world.colleague), staff):
        with client.get(f"/my/orders/service/{order.id}/report") as report:
            assert report.status_code == 200
            assert report.data == PDF
            assert report.mimetype == "application/pdf"
            assert "attachment" in report.headers["Content-Disposition"]
            assert "2026.pdf" in report.headers["Content-Disposition"]
    for outsider in (world.other_firm, world.other_staff):
        assert (
            signed_in(app, outsider).get(f"/my/orders/service/{order.id}/report").status_code == 404
        )

    page = firm.get(f"/my/orders/service/{order.id}")
    assert 'id="confirm-service-form"' in page.text and 'id="rating"' in page.text
    assert 'id="download-report"' in page.text
    rated = firm.post(
        f"/my/orders/service/{order.id}/confirm", data={"rating": "5", "comment": "报告规范"}
    )
    assert rated.status_code == 302
    db.session.rollback()
    order = db.session.get(ServiceOrder, order.id)  # type: ignore[assignment]
    assert (order.status, order.rating) == (OrderStatus.CLOSED, 5)


def test_illegal_transitions_over_http(app: Flask, world: World) -> None:
    firm = signed_in(app, world.firm)
    order = place_via_web(firm, world.item)
    assert (
        firm.post(f"/my/orders/service/{order.id}/cancel", data={"reason": "计划变更"}).status_code
        == 302
    )
    staff = signed_in(app, world.staff)
    response = staff.post(f"/provider/service-orders/{order.id}/accept")
    assert response.status_code == 409
    assert "该检测委托当前状态（已取消）不允许此操作。" in response.text
    again = firm.post(f"/my/orders/service/{order.id}/cancel", data={})
    assert again.status_code == 409
    rate = firm.post(f"/my/orders/service/{order.id}/confirm", data={"rating": "5"})
    assert rate.status_code == 409
    reject = staff.post(f"/provider/service-orders/{order.id}/reject", data={"reason": ""})
    assert reject.status_code == 422 and "请填写拒绝理由。" in reject.text
    db.session.rollback()
    assert db.session.get(ServiceOrder, order.id).status == OrderStatus.CANCELLED  # type: ignore[union-attr]


def test_provider_rejects_with_a_reason(app: Flask, world: World) -> None:
    order = place_via_web(signed_in(app, world.firm), world.item)
    staff = signed_in(app, world.staff)
    response = staff.post(
        f"/provider/service-orders/{order.id}/reject", data={"reason": "超出 CMA 范围"}
    )
    assert response.status_code == 302
    page = signed_in(app, world.firm).get(f"/my/orders/service/{order.id}")
    assert "已拒绝" in page.text and "超出 CMA 范围" in page.text


def test_other_tenants_get_404_everywhere(app: Flask, world: World) -> None:
    order = place_via_web(signed_in(app, world.firm), world.item)
    other_firm = signed_in(app, world.other_firm)
    for url in (f"/my/orders/service/{order.id}", f"/my/orders/service/{order.id}/report"):
        assert other_firm.get(url).status_code == 404, url
    for url in (f"/my/orders/service/{order.id}/cancel", f"/my/orders/service/{order.id}/confirm"):
        assert other_firm.post(url, data={"rating": "5"}).status_code == 404, url
    other_staff = signed_in(app, world.other_staff)
    assert (
        f'data-service-order-id="{order.id}"'
        not in other_staff.get("/provider/service-orders").text
    )
    assert other_staff.get(f"/provider/service-orders/{order.id}").status_code == 404
    for action in ("accept", "reject", "receive", "complete"):
        response = other_staff.post(
            f"/provider/service-orders/{order.id}/{action}", data={"reason": "x"}
        )
        assert response.status_code == 404, action
    # Enterprise users do not get the provider pages at all; providers not the firm's.
    assert other_firm.get("/provider/service-orders").status_code == 404
    assert signed_in(app, world.staff).get(f"/my/orders/service/{order.id}").status_code == 404
    db.session.rollback()
    assert db.session.get(ServiceOrder, order.id).status == OrderStatus.REQUESTED  # type: ignore[union-attr]


def test_queue_filters_sorts_and_pages_without_failing(
    app: Flask,
    world: World,
    make_firm_user: Callable[..., User],
) -> None:
    for n in range(1, 4):
        so.place_service_order(
            make_firm_user(),
            world.item.id,
            1,
            so.current_week(utcnow()) + timedelta(weeks=n),
            "",
            "",
            None,
            utcnow(),
        )
    db.session.commit()
    staff = signed_in(app, world.staff)
    for query in (
        "",
        "?status=requested&sort=-week",
        "?status=bogus&sort=drop&page=-4",
        "?sort=--week&page=99999999999999",
        "?status=active&sort=quantity",
    ):
        response = staff.get(f"/provider/service-orders{query}")
        assert response.status_code == 200, query
    rows = re.findall(
        r'data-service-order-id="(\d+)"', staff.get("/provider/service-orders?sort=-week").text
    )
    assert len(rows) == 3 and rows == sorted(rows, key=int, reverse=True)
