"""Blueprint `provider_catalogue`: provider staff keep their own catalogue —
instruments (fields, status, prices, booking policy, downtime), testing
service items, and bulk import/export as CSV or XLSX.

Only users of a provider organization get in; everyone else signed in gets
404 (the pages do not exist for them) and anonymous visitors are sent to
sign in. Every object is looked up scoped to the user's organization, so
another provider's instrument, service item or downtime is also a 404.
Views stay thin: forms check shape, `instruments.services` applies the
rules and audits, the view commits once or rolls back.
"""

from __future__ import annotations

import io
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

from booking.accounts.loader import current_actor, restrict_blueprint
from booking.accounts.models import Organization, OrgKind
from booking.core.pagination import paginate, parse_int, parse_sort
from booking.core.validators import strip_control_characters
from booking.errors import DomainError, NotFound
from booking.extensions import db, utcnow
from booking.i18n import SHANGHAI
from instruments import importer
from instruments import services as catalogue
from instruments.classification import (
    INSTRUMENT_STATUS_LABELS,
    SERVICE_MODE_LABELS,
    SHARING_MODE_LABELS,
    category_name,
    service_category_name,
)
from instruments.forms import (
    DOWNTIME_KIND_LABELS,
    IMPORT_KINDS,
    DowntimeForm,
    ImportForm,
    InstrumentForm,
    ServiceItemForm,
)
from instruments.models import Downtime, Instrument, ServiceItem, ServiceMode

bp = Blueprint("provider_catalogue", __name__, url_prefix="/provider")

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


restrict_blueprint(bp, OrgKind.PROVIDER)


# --- helpers ---------------------------------------------------------------------


def _provider() -> Organization:
    return current_actor().organization


def _not_found() -> NoReturn:
    abort(404)


def _own_instrument(instrument_id: int) -> Instrument:
    try:
        return catalogue.provider_instrument(current_actor().organization_id, instrument_id)
    except NotFound:
        _not_found()


def _own_service_item(item_id: int) -> ServiceItem:
    try:
        return catalogue.provider_service_item(current_actor().organization_id, item_id)
    except NotFound:
        _not_found()


def _own_downtime(instrument_id: int, downtime_id: int) -> Downtime:
    try:
        return catalogue.provider_downtime(
            current_actor().organization_id, instrument_id, downtime_id
        )
    except NotFound:
        _not_found()


def _search_term() -> str:
    raw = request.args.get("q", "")
    limit = int(current_app.config["SEARCH_MAX_LENGTH"])
    return strip_control_characters(raw).strip()[:limit]


def _sort_key(allowed: dict[str, Any], default: str) -> str:
    return parse_sort(request.args.get("sort"), allowed, default)


def _page_number() -> int:
    return parse_int(request.args.get("page"), 1, 1, int(current_app.config["CATALOGUE_MAX_PAGE"]))


def _form_status(form: Any) -> int:
    """A submitted form that is shown again has errors: 422."""
    return 422 if form.is_submitted() else 200


# --- instruments -----------------------------------------------------------------


@bp.get("/instruments")
def instruments() -> ResponseReturnValue:
    """The provider's own instruments: quick filters by status, keyword,
    sortable columns, pages. Unknown filter or sort values fall back to the
    defaults instead of failing."""
    provider_id = current_actor().organization_id
    status = request.args.get("status", "")
    status = status if status in INSTRUMENT_STATUS_LABELS else ""
    sort = _sort_key(catalogue.INSTRUMENT_SORTS, "internal_no")
    q = _search_term()
    stmt = catalogue.provider_instruments(provider_id, status=status or None, sort=sort, q=q)
    page = paginate(stmt, _page_number(), int(current_app.config["CATALOGUE_PAGE_SIZE"]))
    counts = catalogue.provider_instrument_status_counts(provider_id)
    args = {k: v for k, v in {"status": status, "sort": sort, "q": q}.items() if v}
    return render_template(
        "provider/instruments.html",
        page=page,
        args=args,
        status=status,
        sort=sort,
        q=q,
        counts=counts,
        total=sum(counts.values()),
        status_labels=INSTRUMENT_STATUS_LABELS,
        sharing_labels=SHARING_MODE_LABELS,
        category_name=category_name,
    )


def _instrument_form_page(
    form: InstrumentForm, instrument: Instrument | None
) -> ResponseReturnValue:
    return render_template(
        "provider/instrument_form.html",
        form=form,
        instrument=instrument,
        modes=list(ServiceMode),
        mode_labels=SERVICE_MODE_LABELS,
    ), _form_status(form)


@bp.route("/instruments/new", methods=["GET", "POST"])
def new_instrument() -> ResponseReturnValue:
    """Add an instrument to the provider's catalogue."""
    form = InstrumentForm()
    if form.validate_on_submit():
        prices, lead_days = form.to_prices()
        try:
            instrument = catalogue.create_instrument(
                _provider(), form.to_fields(), prices, current_actor(), lead_days=lead_days
            )
        except DomainError as error:
            db.session.rollback()
            form.attach_domain_error(error)
        else:
            db.session.commit()
            flash(_("已新增仪器“%(name)s”。", name=instrument.name_zh), "success")
            return redirect(url_for("provider_catalogue.instruments"))
    return _instrument_form_page(form, None)


@bp.route("/instruments/<int:instrument_id>/edit", methods=["GET", "POST"])
def edit_instrument(instrument_id: int) -> ResponseReturnValue:
    """Edit one of the provider's instruments: fields, status, sharing mode,
    prices per service mode and booking policy (audited by the service)."""
    instrument = _own_instrument(instrument_id)
    if request.method == "POST":
        form = InstrumentForm()
    else:
        form = InstrumentForm(data=InstrumentForm.initial_data(instrument))
    if form.validate_on_submit():
        prices, lead_days = form.to_prices()
        try:
            catalogue.update_instrument(
                instrument, form.to_fields(), prices, current_actor(), lead_days=lead_days
            )
        except DomainError as error:
            db.session.rollback()
            form.attach_domain_error(error)
        else:
            db.session.commit()
            flash(_("已保存仪器“%(name)s”。", name=instrument.name_zh), "success")
            return redirect(url_for("provider_catalogue.instruments"))
    return _instrument_form_page(form, instrument)


@bp.route("/instruments/<int:instrument_id>/downtime", methods=["GET", "POST"])
def instrument_downtime(instrument_id: int) -> ResponseReturnValue:
    """The instrument's maintenance and closure windows, and a form to add one
    (entered in Beijing time, stored as UTC)."""
    instrument = _own_instrument(instrument_id)
    form = DowntimeForm()
    if form.validate_on_submit():
        starts_at, ends_at = form.window()
        try:
            catalogue.add_downtime(
                instrument,
                starts_at,
                ends_at,
                form.kind.data,
                form.reason.data or "",
                current_actor(),
            )
        except DomainError as error:
            db.session.rollback()
            form.attach_domain_error(error)
        else:
            db.session.commit()
            flash(_("已登记停机时段。"), "success")
            return redirect(
                url_for("provider_catalogue.instrument_downtime", instrument_id=instrument.id)
            )
    return render_template(
        "provider/downtime.html",
        instrument=instrument,
        form=form,
        downtimes=list(instrument.downtimes),
        now=utcnow(),
        kind_labels=DOWNTIME_KIND_LABELS,
    ), _form_status(form)


@bp.post("/instruments/<int:instrument_id>/downtime/<int:downtime_id>/delete")
def delete_downtime(instrument_id: int, downtime_id: int) -> ResponseReturnValue:
    """Remove a downtime window (audited)."""
    downtime = _own_downtime(instrument_id, downtime_id)
    catalogue.remove_downtime(downtime, current_actor())
    db.session.commit()
    flash(_("已删除停机时段。"), "success")
    return redirect(url_for("provider_catalogue.instrument_downtime", instrument_id=instrument_id))


# --- service items -------------------------------------------------------------------


@bp.get("/services")
def services() -> ResponseReturnValue:
    """The provider's own testing service items, sortable and paginated."""
    provider_id = current_actor().organization_id
    state = request.args.get("state", "")
    state = state if state in ("active", "inactive") else ""
    sort = _sort_key(catalogue.SERVICE_ITEM_SORTS, "code")
    q = _search_term()
    active = {"active": True, "inactive": False}.get(state)
    stmt = catalogue.provider_service_items(provider_id, active=active, sort=sort, q=q)
    page = paginate(stmt, _page_number(), int(current_app.config["CATALOGUE_PAGE_SIZE"]))
    args = {k: v for k, v in {"state": state, "sort": sort, "q": q}.items() if v}
    return render_template(
        "provider/services.html",
        page=page,
        args=args,
        state=state,
        sort=sort,
        q=q,
        service_category_name=service_category_name,
    )


def _service_form_page(form: ServiceItemForm, item: ServiceItem | None) -> ResponseReturnValue:
    return render_template("provider/service_form.html", form=form, item=item), _form_status(form)


@bp.route("/services/new", methods=["GET", "POST"])
def new_service() -> ResponseReturnValue:
    """Add a testing service item."""
    form = ServiceItemForm()
    if form.validate_on_submit():
        try:
            item = catalogue.create_service_item(_provider(), form.to_fields(), current_actor())
        except DomainError as error:
            db.session.rollback()
            form.attach_domain_error(error)
        else:
            db.session.commit()
            flash(_("已新增服务项目“%(name)s”。", name=item.name_zh), "success")
            return redirect(url_for("provider_catalogue.services"))
    return _service_form_page(form, None)


@bp.route("/services/<int:item_id>/edit", methods=["GET", "POST"])
def edit_service(item_id: int) -> ResponseReturnValue:
    """Edit one of the provider's service items (price changes are audited)."""
    item = _own_service_item(item_id)
    if request.method == "POST":
        form = ServiceItemForm()
    else:
        form = ServiceItemForm(data=ServiceItemForm.initial_data(item))
    if form.validate_on_submit():
        try:
            catalogue.update_service_item(item, form.to_fields(), current_actor())
        except DomainError as error:
            db.session.rollback()
            form.attach_domain_error(error)
        else:
            db.session.commit()
            flash(_("已保存服务项目“%(name)s”。", name=item.name_zh), "success")
            return redirect(url_for("provider_catalogue.services"))
    return _service_form_page(form, item)


# --- import, template, export ----------------------------------------------------------


@bp.route("/import", methods=["GET", "POST"])
def import_form() -> ResponseReturnValue:
    """Upload a CSV or XLSX file of instruments or service items. Every row is
    checked first; with any error nothing is written and the errors are
    listed by row and column."""
    form = ImportForm()
    if request.method == "GET" and request.args.get("kind") in importer.KINDS:
        form.kind.data = request.args["kind"]
    result: importer.ImportResult | None = None
    if form.validate_on_submit():
        upload = form.file.data
        max_bytes = int(current_app.config["IMPORT_MAX_BYTES"])
        content = upload.stream.read(max_bytes + 1)
        try:
            result = importer.import_catalogue(
                _provider(),
                current_actor(),
                form.kind.data,
                upload.filename or "",
                content,
                max_bytes=max_bytes,
                max_rows=int(current_app.config["IMPORT_MAX_ROWS"]),
            )
        except importer.ImportFileError as error:
            db.session.rollback()
            form.file.errors = [*form.file.errors, str(error)]
        else:
            if result.ok:
                db.session.commit()
                flash(
                    _(
                        "导入完成：新建 %(created)d 条，更新 %(updated)d 条，"
                        "未变化 %(unchanged)d 条。",
                        created=result.created,
                        updated=result.updated,
                        unchanged=result.unchanged,
                    ),
                    "success",
                )
                target = "instruments" if result.kind == "instruments" else "services"
                return redirect(url_for(f"provider_catalogue.{target}"))
            db.session.rollback()
    status = 422 if form.is_submitted() else 200
    return render_template(
        "provider/import.html",
        form=form,
        result=result,
        kinds_labels=list(IMPORT_KINDS.items()),
    ), status


def _kind_and_format() -> tuple[str, str]:
    kind = request.args.get("kind", "instruments")
    fmt = request.args.get("format", "csv")
    if kind not in importer.KINDS:
        abort(400, description=_("kind 只能是 instruments 或 services。"))
    if fmt not in importer.FORMATS:
        abort(400, description=_("format 只能是 csv 或 xlsx。"))
    return kind, fmt


def _download(
    kind: str, fmt: str, cols: list[importer.Column], rows: list[list[Any]], name: str
) -> ResponseReturnValue:
    if fmt == "xlsx":
        data, mimetype = importer.to_xlsx(kind, cols, rows), XLSX_MIMETYPE
    else:
        data, mimetype = importer.to_csv(cols, rows), "text/csv"
    response = send_file(
        io.BytesIO(data), mimetype=mimetype, as_attachment=True, download_name=f"{name}.{fmt}"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/import/template")
def import_template() -> ResponseReturnValue:
    """The empty import template (?kind=instruments|services&format=csv|xlsx)."""
    kind, fmt = _kind_and_format()
    cols, rows = importer.export_rows(kind, None)
    return _download(kind, fmt, cols, rows, f"{kind}-template")


@bp.get("/export")
def export() -> ResponseReturnValue:
    """The provider's own catalogue in the template's columns, so it can be
    edited and imported back."""
    kind, fmt = _kind_and_format()
    cols, rows = importer.export_rows(kind, current_actor().organization_id)
    stamp = utcnow().astimezone(SHANGHAI).strftime("%Y%m%d")
    return _download(kind, fmt, cols, rows, f"{kind}-{stamp}")
