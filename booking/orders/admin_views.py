"""Platform admin's read-only view of every order and its history."""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Blueprint, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from booking.accounts.loader import restrict_blueprint
from booking.accounts.models import OrgKind
from booking.audit.services import history_with_actors
from booking.core.pagination import paginate, parse_int
from booking.extensions import db
from booking.orders.models import Booking, OrderStatus, ServiceOrder
from booking.orders.services import ORDER_ACTION_LABELS, status_label

bp = Blueprint("orders_admin", __name__, url_prefix="/admin/orders")


def _not_found() -> NoReturn:
    abort(404)


restrict_blueprint(bp, OrgKind.PLATFORM)


def _page_context(object_type: str, object_id: int) -> dict[str, Any]:
    return {
        **history_with_actors(object_type, object_id),
        "action_labels": ORDER_ACTION_LABELS,
        "status_label": status_label,
    }


@bp.get("/bookings")
def bookings() -> ResponseReturnValue:
    """Every booking on the platform, newest first, filterable by status."""
    status = request.args.get("status", "")
    stmt = select(Booking).order_by(Booking.created_at.desc(), Booking.id.desc())
    if status in {s.value for s in OrderStatus}:
        stmt = stmt.where(Booking.status == status)
    else:
        status = ""
    page = paginate(
        stmt,
        parse_int(request.args.get("page"), 1, 1, int(current_app.config["CATALOGUE_MAX_PAGE"])),
        int(current_app.config["CATALOGUE_PAGE_SIZE"]),
    )
    return render_template(
        "orders_admin/bookings.html",
        page=page,
        status=status,
        statuses=list(OrderStatus),
        status_label=status_label,
    )


@bp.get("/bookings/<int:booking_id>")
def booking(booking_id: int) -> ResponseReturnValue:
    """One booking: snapshot, usage, charge and its full history."""
    found = db.session.get(Booking, booking_id)
    if found is None:
        _not_found()
    return render_template(
        "orders_admin/booking.html", booking=found, **_page_context("booking", found.id)
    )


@bp.get("/service/<int:order_id>")
def service_order(order_id: int) -> ResponseReturnValue:
    """One service order and its full history."""
    found = db.session.get(ServiceOrder, order_id)
    if found is None:
        _not_found()
    return render_template(
        "orders_admin/service_order.html",
        order=found,
        **_page_context("service_order", found.id),
    )
