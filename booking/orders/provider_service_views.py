"""Blueprint `provider_service_orders`: provider staff work the service
orders placed on their own testing items — a queue (status filter, sortable,
paginated), a detail page with the order's history, and the actions the
order's state allows: accept, reject with a reason, receive the samples,
upload the PDF report and complete.

Only provider users get in (everyone else signed in gets 404, anonymous
visitors are sent to sign in); an order on another provider's item is a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from booking.accounts.loader import current_actor, restrict_blueprint
from booking.accounts.models import OrgKind
from booking.audit.services import actor_names, history
from booking.core.pagination import paginate, parse_int
from booking.errors import DomainError, InvalidTransition, NotFound
from booking.extensions import csrf, db, utcnow
from booking.orders import service_orders as so
from booking.orders.forms import ActionForm, CompleteServiceForm, RejectForm, attach_domain_error
from booking.orders.models import OrderStatus, ServiceOrder
from booking.orders.services import ORDER_ACTION_LABELS, status_label
from booking.orders.views import first_error

bp = Blueprint("provider_service_orders", __name__, url_prefix="/provider/service-orders")

PAGE_SIZE = 20
MAX_PAGE = 10_000
# Room for the multipart envelope around a report of the maximum size.
ENVELOPE_BYTES = 1024 * 1024


restrict_blueprint(bp, OrgKind.PROVIDER)


def _not_found() -> NoReturn:
    abort(404)


def _own_order(order_id: int) -> ServiceOrder:
    try:
        return so.provider_service_order(current_actor().organization_id, order_id)
    except NotFound:
        _not_found()


def _error_status(error: DomainError) -> int:
    return 409 if isinstance(error, InvalidTransition) else 422


@bp.get("")
def queue() -> ResponseReturnValue:
    """Service orders of the provider's items; pending requests first by default."""
    provider_id = current_actor().organization_id
    status = request.args.get("status", "")
    if status != "active" and status not in OrderStatus._value2member_map_:
        status = ""
    sort = request.args.get("sort", "created")
    if sort.lstrip("-") not in so.QUEUE_SORTS or sort.count("-") > 1:
        sort = "created"
    page = paginate(
        so.provider_queue(provider_id, status, sort),
        parse_int(request.args.get("page"), 1, 1, MAX_PAGE),
        PAGE_SIZE,
    )
    args = {k: v for k, v in {"status": status, "sort": sort}.items() if v}
    return render_template(
        "provider_service_orders/queue.html",
        page=page,
        args=args,
        status=status,
        sort=sort,
        counts=so.provider_status_counts(provider_id),
        statuses=list(OrderStatus),
        status_label=status_label,
    )


def _detail_page(
    order: ServiceOrder,
    status: int = 200,
    error: str | None = None,
    reject_form: RejectForm | None = None,
    complete_form: CompleteServiceForm | None = None,
) -> ResponseReturnValue:
    events = history("service_order", order.id)
    if complete_form is None:
        complete_form = CompleteServiceForm(formdata=None)
        complete_form.samples_tested.data = order.quantity
    return render_template(
        "provider_service_orders/detail.html",
        order=order,
        events=events,
        actor_names=actor_names(events),
        action_labels=ORDER_ACTION_LABELS,
        status_label=status_label,
        error=error,
        action_form=ActionForm(formdata=None),
        reject_form=reject_form or RejectForm(formdata=None),
        complete_form=complete_form,
        max_mb=round(so.report_limit(current_app.config) / (1024 * 1024), 1),
    ), status


@bp.get("/<int:order_id>")
def detail(order_id: int) -> ResponseReturnValue:
    """One order: the firm's request, price snapshot, samples, report, history."""
    return _detail_page(_own_order(order_id))


def _act(order: ServiceOrder, action: Callable[[], Any], done: str) -> ResponseReturnValue:
    try:
        action()
    except DomainError as error:
        db.session.rollback()
        return _detail_page(order, _error_status(error), error=str(error))
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("provider_service_orders.detail", order_id=order.id))


@bp.post("/<int:order_id>/accept")
def accept(order_id: int) -> ResponseReturnValue:
    """Take the order on."""
    order = _own_order(order_id)
    if not ActionForm().validate():
        abort(400)
    return _act(
        order,
        lambda: so.accept_service_order(order, current_actor(), utcnow()),
        _("已受理检测委托。"),
    )


@bp.post("/<int:order_id>/reject")
def reject(order_id: int) -> ResponseReturnValue:
    """Decline the order with a reason the firm will read."""
    order = _own_order(order_id)
    form = RejectForm()
    if not form.validate():
        return _detail_page(order, 422, error=first_error(form), reject_form=form)
    return _act(
        order,
        lambda: so.reject_service_order(order, current_actor(), form.reason.data or "", utcnow()),
        _("已拒绝检测委托。"),
    )


@bp.post("/<int:order_id>/receive")
def receive(order_id: int) -> ResponseReturnValue:
    """The samples have arrived; testing starts."""
    order = _own_order(order_id)
    if not ActionForm().validate():
        abort(400)
    return _act(
        order, lambda: so.receive_samples(order, current_actor(), utcnow()), _("已登记收样。")
    )


@bp.post("/<int:order_id>/complete")
def complete(order_id: int) -> ResponseReturnValue:
    """Upload the PDF report with the number of samples tested; completes
    the order and bills unit price × samples tested."""
    limit = so.report_limit(current_app.config)
    # The app-wide MAX_CONTENT_LENGTH may be lower than the report limit.
    request.max_content_length = limit + ENVELOPE_BYTES
    order = _own_order(order_id)
    form = CompleteServiceForm()
    if not form.validate():
        return _detail_page(order, 422, error=first_error(form), complete_form=form)
    upload = form.report.data
    try:
        so.complete_service_order(
            order,
            current_actor(),
            int(form.samples_tested.data),
            upload.stream,
            upload.filename or "",
            so.reports_dir(current_app.config),
            utcnow(),
            max_bytes=limit,
        )
    except DomainError as error:
        db.session.rollback()
        if attach_domain_error(form, error):
            return _detail_page(order, 422, complete_form=form)
        return _detail_page(order, _error_status(error), error=str(error))
    db.session.commit()
    flash(_("报告已上传，检测委托已完成。"), "success")
    return redirect(url_for("provider_service_orders.detail", order_id=order.id))


# The app-wide CSRF check reads the body before the view can raise the size
# limit for reports; CompleteServiceForm checks the same token itself.
csrf.exempt(complete)
