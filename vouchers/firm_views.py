"""Blueprint `wallet`: the firm's voucher wallet.

- every grant of the firm with its balances (approved, available net of
  shares earmarked for orders awaiting the provider, locked, used, expired);
- one grant's ledger movements, with links to the orders they paid for,
  exported as CSV or XLSX;
- the programmes the firm may apply to now, the application form (with the
  certificate PDF), and the firm's applications with their outcome.

Only enterprise users get in; another firm's grant is a 404. Views stay
thin: the form checks shape, `vouchers.programmes` applies the rules.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import NoReturn

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from booking.accounts.loader import current_actor, restrict_blueprint
from booking.accounts.models import OrgKind
from booking.core.spreadsheets import download, export_format, local_text, yuan_cell
from booking.errors import DomainError, NotFound
from booking.extensions import db, utcnow
from booking.orders.clock import local
from vouchers import programmes as svc
from vouchers.authority_views import send_certificate, voucher_labels
from vouchers.forms import ApplicationForm
from vouchers.models import Grant, GrantStatus, Programme

bp = Blueprint("wallet", __name__, url_prefix="/my/vouchers")

restrict_blueprint(bp, OrgKind.ENTERPRISE)

WALLET_STATUSES = (GrantStatus.APPROVED, GrantStatus.SUSPENDED, GrantStatus.CLOSED)


def _enterprise_id() -> int:
    return current_actor().organization_id


def _not_found() -> NoReturn:
    abort(404)


def _own_grant(grant_id: int) -> Grant:
    try:
        return svc.firm_grant(_enterprise_id(), grant_id)
    except NotFound:
        _not_found()


@bp.get("/")
def index() -> ResponseReturnValue:
    """The firm's grants and balances, open programmes, and applications."""
    org = current_actor().organization
    grants = svc.firm_grants(org.id)
    return render_template(
        "vouchers/wallet/index.html",
        grants=[g for g in grants if g.status in WALLET_STATUSES],
        applications=grants,
        programmes=svc.open_programmes(org, utcnow()),
        verified=org.is_verified,
        **voucher_labels(),
    )


@bp.get("/grants/<int:grant_id>")
def grant(grant_id: int) -> ResponseReturnValue:
    """One grant: balances and its ledger movements with the orders they paid."""
    grant = _own_grant(grant_id)
    return render_template(
        "vouchers/wallet/grant.html",
        grant=grant,
        movements=svc.movements(grant.id),
        **voucher_labels(),
    )


MOVEMENT_HEADER = (
    _l("时间"),
    _l("类型"),
    _l("金额（元）"),
    _l("转出"),
    _l("转入"),
    _l("订单"),
    _l("备注"),
)


@bp.get("/grants/<int:grant_id>/export")
def movements_export(grant_id: int) -> ResponseReturnValue:
    """A grant's movements as CSV or XLSX."""
    grant = _own_grant(grant_id)
    fmt = export_format()
    rows = _movement_rows(grant, fmt == "xlsx")
    stamp = local(utcnow()).strftime("%Y%m%d")
    return download(
        f"voucher-{grant.id}-movements-{stamp}", fmt, MOVEMENT_HEADER, rows, _("额度明细")
    )


def _movement_rows(grant: Grant, xlsx: bool) -> list[list[object]]:
    rows: list[list[object]] = []
    for m in svc.movements(grant.id):
        e = m.entry
        order = (
            _("预约 #%(id)s", id=m.booking_id)
            if m.booking_id
            else _("检测委托 #%(id)s", id=m.service_order_id)
            if m.service_order_id
            else ""
        )
        rows.append(
            [
                local_text(e.created_at),
                str(svc.ENTRY_KIND_LABELS.get(e.kind, e.kind)),
                yuan_cell(e.amount_fen, xlsx),
                e.from_bucket or "",
                e.to_bucket,
                order,
                e.note,
            ]
        )
    return rows


@bp.get("/programmes/<int:programme_id>/apply")
def apply_form(programme_id: int) -> ResponseReturnValue:
    """The application form for one open programme."""
    programme = _open_programme(programme_id)
    org = current_actor().organization
    form = ApplicationForm(
        formdata=None,
        data={"category": org.enterprise_category, "idempotency_key": uuid.uuid4().hex},
    )
    return _apply_page(programme, form)


def _open_programme(programme_id: int) -> Programme:
    """A programme of the firm's home authority; another region's is a 404."""
    programme = db.session.get(Programme, programme_id)
    if programme is None or programme.authority.region_id != current_actor().organization.region_id:
        _not_found()
    return programme


def _apply_page(
    programme: Programme, form: ApplicationForm, status: int = 200
) -> ResponseReturnValue:
    return render_template(
        "vouchers/wallet/apply.html",
        programme=programme,
        form=form,
        cap_left=svc.cap_remaining(programme, _enterprise_id()),
        is_open=svc.is_open(programme, local(utcnow()).date()),
        **voucher_labels(),
    ), status


@bp.post("/programmes/<int:programme_id>/apply")
def apply(programme_id: int) -> ResponseReturnValue:
    """Submit an application with its certificate PDF."""
    programme = _open_programme(programme_id)
    form = ApplicationForm()
    if form.validate():
        upload = form.evidence.data
        try:
            grant = svc.apply_for_grant(
                current_actor(),
                programme.id,
                form.to_application(),
                svc.Evidence(upload.stream, upload.filename or "certificate.pdf"),
                Path(current_app.config["UPLOAD_DIR"]) / "vouchers",
                utcnow(),
            )
        except NotFound:
            db.session.rollback()
            _not_found()
        except DomainError as error:
            db.session.rollback()  # the message may read the database (locale)
            form.attach_domain_error(error)
        else:
            db.session.commit()
            flash(_("已提交额度申请，请等待主管部门审核。"), "success")
            return redirect(url_for("wallet.grant", grant_id=grant.id))
    db.session.rollback()
    return _apply_page(_open_programme(programme_id), form, 422)


@bp.get("/grants/<int:grant_id>/certificate")
def certificate(grant_id: int) -> ResponseReturnValue:
    """The firm's own certificate PDF."""
    return send_certificate(_own_grant(grant_id))
