"""Blueprint `voucher_admin`: the authority's voucher pages.

- the dashboard: budget burn per programme (granted, locked, used, claimed,
  paid) as a stacked bar chart over a table, exported as CSV or XLSX;
- programmes (券种): create, edit, detail with their grants;
- the applications queue: filter by status, sort, page, export; one grant
  with its ledger movements, audit history and the decisions its state
  allows (approve — optionally for less —, reject, suspend, resume);
- split-order flags and the cross-region flow matrix.

Only authority users get in; everyone else signed in gets 404. Every
programme and grant is looked up through the authority's own programmes, so
another authority's object is a 404 for every page and action. Views stay
thin: forms check shape, `vouchers.programmes` applies the rules; the view
commits once, or rolls back and shows the refusal (409 for a decision on
something already decided, 422 otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from booking.accounts.forms import CATEGORY_LABELS
from booking.accounts.loader import current_actor, restrict_blueprint
from booking.accounts.models import OrgKind
from booking.audit.services import history_with_actors
from booking.core.navigation import BADGE_COUNTERS, badge_value
from booking.core.pagination import paginate, parse_int, parse_sort
from booking.core.spreadsheets import download, export_format, local_text, yuan_cell
from booking.core.uploads import resolve
from booking.errors import DomainError, InvalidTransition, NotFound
from booking.extensions import db, utcnow
from booking.i18n import current_locale
from booking.orders.clock import local
from vouchers import programmes as svc
from vouchers.forms import (
    ActionForm,
    ApproveGrantForm,
    ProgrammeForm,
    RejectGrantForm,
    SuspendGrantForm,
    VoucherForm,
)
from vouchers.models import Grant, GrantStatus, Programme

bp = Blueprint("voucher_admin", __name__, url_prefix="/authority/vouchers")

restrict_blueprint(bp, OrgKind.AUTHORITY)
BADGE_COUNTERS["pending_voucher_applications"] = svc.pending_application_count

PAGE_SIZE = 20
MAX_PAGE = 10_000
EXPORT_MAX_ROWS = 20_000

STATUS_BADGES = {
    GrantStatus.SUBMITTED: "bg-warning text-dark",
    GrantStatus.APPROVED: "bg-success",
    GrantStatus.REJECTED: "bg-light text-dark border",
    GrantStatus.SUSPENDED: "bg-danger",
    GrantStatus.CLOSED: "bg-secondary",
}


@bp.app_template_global()
def voucher_grant_badge(status: str) -> str:
    return (
        STATUS_BADGES.get(GrantStatus(status), "bg-secondary")
        if status in set(GrantStatus)
        else "bg-secondary"
    )


@bp.app_template_global()
def voucher_grant_status(status: str) -> str:
    return svc.grant_status_label(status)


def voucher_labels() -> dict[str, Any]:
    """Label maps every voucher template uses."""
    return {
        "mode_labels": svc.MODE_LABELS,
        "cycle_labels": svc.CYCLE_LABELS,
        "kind_labels": svc.SERVICE_KIND_LABELS,
        "category_labels": CATEGORY_LABELS,
        "entry_labels": svc.ENTRY_KIND_LABELS,
        "action_labels": svc.GRANT_ACTION_LABELS,
        "status_label": svc.grant_status_label,
    }


# --- helpers -------------------------------------------------------------------------------


def _authority_id() -> int:
    return current_actor().organization_id


def _not_found() -> NoReturn:
    abort(404)


def _own_programme(programme_id: int) -> Programme:
    try:
        return svc.authority_programme(_authority_id(), programme_id)
    except NotFound:
        _not_found()


def _own_grant(grant_id: int) -> Grant:
    try:
        return svc.authority_grant(_authority_id(), grant_id)
    except NotFound:
        _not_found()


def _pageyuan_cell() -> int:
    return parse_int(request.args.get("page"), 1, 1, MAX_PAGE)


def _sort_key(allowed: dict[str, Any], default: str) -> str:
    return parse_sort(request.args.get("sort"), allowed, default)


def _status_arg() -> str:
    status = request.args.get("status", "")
    return status if status in set(GrantStatus) else ""


def _stamp() -> str:
    return local(utcnow()).strftime("%Y%m%d")


def _provider_choices() -> list[tuple[int, str]]:
    """Verified providers of every region, each with its region's name."""
    locale = current_locale()
    english = locale.startswith("en")
    choices = []
    for p in svc.recognisable_providers():
        region = p.region.name_en if english else p.region.name_zh
        choices.append((p.id, f"{p.display_name(locale)}（{region}）"))
    return choices


# --- dashboard ------------------------------------------------------------------------------


def _chart(burns: list[svc.Burn]) -> dict[str, Any]:
    stacks = [b.stack() for b in burns]
    parts = ("paid", "claimed", "used", "locked", "granted", "free")
    return {
        "labels": [b.programme.code for b in burns],
        "series": {key: [s[key] / 100 for s in stacks] for key in parts},
        "text": {
            "paid": _("已支付"),
            "claimed": _("已申请兑付未支付"),
            "used": _("已核销未申请兑付"),
            "locked": _("订单冻结中"),
            "granted": _("已发放未使用"),
            "free": _("未发放预算"),
            "yuan": _("元"),
        },
    }


@bp.get("/")
def dashboard() -> ResponseReturnValue:
    """Budget burn per programme (chart and table), and what needs the authority."""
    authority_id = _authority_id()
    burns = svc.budget_burn(authority_id)
    return render_template(
        "vouchers/authority/dashboard.html",
        burns=burns,
        chart=_chart(burns),
        pending=badge_value("pending_voucher_applications"),
        **voucher_labels(),
    )


BURN_HEADER = (
    _l("券种编号"),
    _l("券种名称"),
    _l("年度"),
    _l("兑付方式"),
    _l("总预算（元）"),
    _l("已批准额度（元）"),
    _l("冻结（元）"),
    _l("已核销（元）"),
    _l("已申请兑付（元）"),
    _l("已支付（元）"),
    _l("申请期"),
    _l("有效期至"),
    _l("兑付截止"),
)


@bp.get("/export")
def programmes_export() -> ResponseReturnValue:
    """The programme list with its budget burn, as CSV or XLSX."""
    fmt = export_format()
    xlsx = fmt == "xlsx"
    locale = current_locale()
    rows = [
        [
            b.programme.code,
            b.programme.name(locale),
            b.programme.fiscal_year,
            str(svc.MODE_LABELS.get(b.programme.mode, b.programme.mode)),
            yuan_cell(b.budget_fen, xlsx),
            yuan_cell(b.granted_fen, xlsx),
            yuan_cell(b.locked_fen, xlsx),
            yuan_cell(b.used_fen, xlsx),
            yuan_cell(b.claimed_fen, xlsx),
            yuan_cell(b.paid_fen, xlsx),
            f"{b.programme.applications_open_on} – {b.programme.applications_close_on}",
            b.programme.valid_until.isoformat(),
            b.programme.claim_deadline.isoformat(),
        ]
        for b in svc.budget_burn(_authority_id())
    ]
    return download(f"voucher-programmes-{_stamp()}", fmt, BURN_HEADER, rows, _("券种"))


# --- programmes ------------------------------------------------------------------------------


def _programme_form_page(
    form: ProgrammeForm, programme: Programme | None, status: int = 200
) -> ResponseReturnValue:
    return render_template(
        "vouchers/authority/programme_form.html",
        form=form,
        programme=programme,
        **voucher_labels(),
    ), status


@bp.route("/programmes/new", methods=["GET", "POST"])
def programme_new() -> ResponseReturnValue:
    """Create a programme of the authority."""
    year = local(utcnow()).year
    form = ProgrammeForm(providers=_provider_choices(), data={"fiscal_year": year})
    if not form.is_submitted():
        return _programme_form_page(form, None)
    if form.validate():
        try:
            programme = svc.create_programme(current_actor(), form.to_input(), utcnow())
        except DomainError as error:
            db.session.rollback()  # the message may read the database (locale)
            form.attach_domain_error(error)
        else:
            db.session.commit()
            flash(_("已创建券种 %(code)s。", code=programme.code), "success")
            return redirect(url_for("voucher_admin.programme", programme_id=programme.id))
    db.session.rollback()
    return _programme_form_page(form, None, 422)


@bp.route("/programmes/<int:programme_id>/edit", methods=["GET", "POST"])
def programme_edit(programme_id: int) -> ResponseReturnValue:
    """Edit a programme; the budget cannot go below what is already granted."""
    programme = _own_programme(programme_id)
    if request.method == "GET":
        form = ProgrammeForm(
            formdata=None, providers=_provider_choices(), data=ProgrammeForm.data_of(programme)
        )
        return _programme_form_page(form, programme)
    form = ProgrammeForm(providers=_provider_choices())
    if form.validate():
        try:
            svc.update_programme(current_actor(), programme.id, form.to_input(), utcnow())
        except DomainError as error:
            db.session.rollback()  # the message may read the database (locale)
            form.attach_domain_error(error)
        else:
            db.session.commit()
            flash(_("已保存券种 %(code)s。", code=form.code.data), "success")
            return redirect(url_for("voucher_admin.programme", programme_id=programme_id))
    db.session.rollback()
    return _programme_form_page(form, _own_programme(programme_id), 422)


@bp.get("/programmes/<int:programme_id>")
def programme(programme_id: int) -> ResponseReturnValue:
    """One programme: its settings, budget burn, recognised providers and grants."""
    programme = _own_programme(programme_id)
    authority_id = _authority_id()
    burn = next((b for b in svc.budget_burn(authority_id) if b.programme.id == programme.id), None)
    grants = list(
        db.session.scalars(
            svc.authority_grants(authority_id, sort="-submitted", programme_id=programme.id)
        )
    )
    return render_template(
        "vouchers/authority/programme.html",
        programme=programme,
        burn=burn,
        grants=grants,
        history=history_with_actors("voucher_programme", programme.id),
        today=local(utcnow()).date(),
        is_open=svc.is_open,
        **voucher_labels(),
    )


# --- applications and grants ---------------------------------------------------------------


def _applications_args() -> tuple[str, str, dict[str, str]]:
    status = _status_arg()
    sort = _sort_key(svc.GRANT_SORTS, "submitted")
    args = {"status": status, "sort": sort}
    return status, sort, {k: v for k, v in args.items() if v}


@bp.get("/applications")
def applications() -> ResponseReturnValue:
    """Applications and grants of the authority's programmes: filter by
    status (undecided first by default), sort, page."""
    raw_status = request.args.get("status")
    status, sort, args = _applications_args()
    if raw_status is None:  # the queue opens on what waits for a decision
        status = GrantStatus.SUBMITTED
        args["status"] = status
    stmt = svc.authority_grants(_authority_id(), status, sort)
    page = paginate(stmt, _pageyuan_cell(), PAGE_SIZE)
    return render_template(
        "vouchers/authority/applications.html",
        page=page,
        status=status,
        sort=sort,
        args=args,
        statuses=list(GrantStatus),
        reject_form=RejectGrantForm(formdata=None),
        approve_form=ApproveGrantForm(formdata=None),
        **voucher_labels(),
    )


GRANT_HEADER = (
    _l("编号"),
    _l("券种编号"),
    _l("企业"),
    _l("统一社会信用代码"),
    _l("状态"),
    _l("申请金额（元）"),
    _l("批准金额（元）"),
    _l("可用（元）"),
    _l("冻结（元）"),
    _l("已核销（元）"),
    _l("已过期（元）"),
    _l("企业类别"),
    _l("证书编号"),
    _l("证书有效期至"),
    _l("提交时间"),
    _l("处理时间"),
    _l("理由"),
)


@bp.get("/applications/export")
def applications_export() -> ResponseReturnValue:
    """The filtered applications and grants as CSV or XLSX."""
    fmt = export_format()
    xlsx = fmt == "xlsx"
    status, sort, _args = _applications_args()
    locale = current_locale()
    stmt = svc.authority_grants(_authority_id(), status, sort).limit(EXPORT_MAX_ROWS)
    rows = [
        [
            g.id,
            g.programme.code,
            g.enterprise.display_name(locale),
            g.enterprise.uscc or "",
            svc.grant_status_label(g.status),
            yuan_cell(g.requested_fen, xlsx),
            "" if g.approved_fen is None else yuan_cell(g.approved_fen, xlsx),
            yuan_cell(g.spendable_fen, xlsx),
            yuan_cell(g.locked_fen, xlsx),
            yuan_cell(g.used_fen, xlsx),
            yuan_cell(g.expired_fen, xlsx),
            str(CATEGORY_LABELS.get(g.category or "", g.category or "")),
            g.certificate_no,
            g.certificate_valid_until.isoformat() if g.certificate_valid_until else "",
            local_text(g.submitted_at),
            local_text(g.decided_at),
            g.decision_reason or "",
        ]
        for g in db.session.scalars(stmt)
    ]
    return download(f"voucher-grants-{_stamp()}", fmt, GRANT_HEADER, rows, _("额度申请"))


def _grant_page(grant_id: int, status: int = 200, **forms: VoucherForm) -> ResponseReturnValue:
    grant = _own_grant(grant_id)
    defaults: dict[str, Callable[[], VoucherForm]] = {
        "approve_form": lambda: ApproveGrantForm(formdata=None),
        "reject_form": lambda: RejectGrantForm(formdata=None),
        "suspend_form": lambda: SuspendGrantForm(formdata=None),
        "resume_form": lambda: ActionForm(formdata=None),
    }
    for name, make in defaults.items():
        forms.setdefault(name, make())
    return render_template(
        "vouchers/authority/grant.html",
        grant=grant,
        movements=svc.movements(grant.id),
        history=history_with_actors("voucher_grant", grant.id),
        cap_left=svc.approvable_fen(grant),
        **voucher_labels(),
        **forms,
    ), status


@bp.get("/grants/<int:grant_id>")
def grant(grant_id: int) -> ResponseReturnValue:
    """One application or grant: evidence, balances, ledger, history, actions."""
    return _grant_page(grant_id)


def _decide(
    grant_id: int,
    form: VoucherForm,
    form_name: str,
    apply: Callable[[datetime], str],
) -> ResponseReturnValue:
    """Run one decision: scoped lookup, shape check, the service's rules;
    commit and go back, or roll back and show why."""
    _own_grant(grant_id)
    status = 422
    if form.validate_on_submit():
        try:
            message = apply(utcnow())
        except NotFound:
            db.session.rollback()
            _not_found()
        except InvalidTransition as error:
            db.session.rollback()  # the message may read the database (locale)
            form.attach_domain_error(error)
            status = 409
        except DomainError as error:
            db.session.rollback()  # the message may read the database (locale)
            form.attach_domain_error(error)
        else:
            db.session.commit()
            flash(message, "success")
            if request.form.get("return_to") == "applications":
                return redirect(url_for("voucher_admin.applications"))
            return redirect(url_for("voucher_admin.grant", grant_id=grant_id))
    db.session.rollback()
    return _grant_page(grant_id, status, **{form_name: form})


@bp.post("/grants/<int:grant_id>/approve")
def approve(grant_id: int) -> ResponseReturnValue:
    """Approve an application, for the requested amount or a lower one."""
    form = ApproveGrantForm()

    def apply(now: datetime) -> str:
        grant = svc.approve_grant(current_actor(), grant_id, now, form.amount_fen())
        return str(_("已批准额度申请 #%(id)s。", id=grant.id))

    return _decide(grant_id, form, "approve_form", apply)


@bp.post("/grants/<int:grant_id>/reject")
def reject(grant_id: int) -> ResponseReturnValue:
    """Reject an application; the reason is required and shown to the firm."""
    form = RejectGrantForm()

    def apply(now: datetime) -> str:
        svc.reject_grant(current_actor(), grant_id, form.reason.data or "", now)
        return str(_("已驳回额度申请 #%(id)s。", id=grant_id))

    return _decide(grant_id, form, "reject_form", apply)


@bp.post("/grants/<int:grant_id>/suspend")
def suspend(grant_id: int) -> ResponseReturnValue:
    """Suspend an approved grant, with a reason."""
    form = SuspendGrantForm()

    def apply(now: datetime) -> str:
        svc.suspend_grant(current_actor(), grant_id, form.reason.data or "", now)
        return str(_("已暂停额度 #%(id)s。", id=grant_id))

    return _decide(grant_id, form, "suspend_form", apply)


@bp.post("/grants/<int:grant_id>/resume")
def resume(grant_id: int) -> ResponseReturnValue:
    """Resume a suspended grant."""
    form = ActionForm()

    def apply(now: datetime) -> str:
        svc.resume_grant(current_actor(), grant_id, now)
        return str(_("已恢复额度 #%(id)s。", id=grant_id))

    return _decide(grant_id, form, "resume_form", apply)


def send_certificate(grant: Grant) -> ResponseReturnValue:
    """The grant's certificate PDF, if the signed-in user may have it."""
    if not grant.evidence_path or not svc.may_download_certificate(grant, current_actor()):
        _not_found()
    root = Path(current_app.config["UPLOAD_DIR"]) / "vouchers"
    path = resolve(root, grant.evidence_path)
    if path is None or not path.is_file():
        _not_found()
    return send_file(
        path,
        mimetype="application/pdf",
        as_attachment=True,
        download_name=grant.evidence_name or "certificate.pdf",
    )


@bp.get("/grants/<int:grant_id>/certificate")
def certificate(grant_id: int) -> ResponseReturnValue:
    """The applicant's certificate, for the programme's authority."""
    return send_certificate(_own_grant(grant_id))


# --- split-order flags and cross-region flows ------------------------------------------------


@bp.get("/flags")
def flags() -> ResponseReturnValue:
    """Voucher uses flagged as possibly split orders in the authority's programmes."""
    page = paginate(svc.split_flags(_authority_id()), _pageyuan_cell(), PAGE_SIZE)
    return render_template(
        "vouchers/authority/flags.html",
        page=page,
        args={},
        items=svc.item_names(page.items, current_locale()),
        **voucher_labels(),
    )


FLAG_HEADER = (
    _l("编号"),
    _l("券种编号"),
    _l("企业"),
    _l("服务机构"),
    _l("仪器或服务"),
    _l("订单"),
    _l("订单金额（元）"),
    _l("创新券金额（元）"),
    _l("状态"),
    _l("标记原因"),
    _l("下单时间"),
)


@bp.get("/flags/export")
def flags_export() -> ResponseReturnValue:
    """The split-order flags as CSV or XLSX."""
    fmt = export_format()
    xlsx = fmt == "xlsx"
    locale = current_locale()
    uses = list(db.session.scalars(svc.split_flags(_authority_id()).limit(EXPORT_MAX_ROWS)))
    items = svc.item_names(uses, locale)
    rows = [
        [
            u.id,
            u.programme.code,
            u.enterprise.display_name(locale),
            u.provider.display_name(locale),
            items.get(u.item_key, u.item_key),
            f"B{u.booking_id}" if u.booking_id else f"S{u.service_order_id}",
            yuan_cell(u.price_fen, xlsx),
            yuan_cell(u.used_fen if u.used_fen is not None else u.share_fen, xlsx),
            u.status,
            u.split_reason or "",
            local_text(u.created_at),
        ]
        for u in uses
    ]
    return download(f"voucher-split-flags-{_stamp()}", fmt, FLAG_HEADER, rows, _("疑似拆单"))


@bp.get("/flows")
def flows() -> ResponseReturnValue:
    """Used voucher money between regions: issuing region × provider region."""
    region_id = current_actor().organization.region_id
    return render_template(
        "vouchers/authority/flows.html",
        matrix=svc.region_flows(region_id),
        own_region_id=region_id,
    )
