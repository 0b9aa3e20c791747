"""Blueprint `instruments`: the public catalogue.

Lists of instruments and testing services with keyword search, filters,
sorting and pagination, all in the query string so every search is a
shareable URL; a detail page for each. Only what is public is shown (see
`instruments.queries`); anything else answers 404.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from booking.extensions import utcnow
from booking.i18n import current_locale
from instruments import queries
from instruments.classification import (
    INSTRUMENT_STATUS_LABELS,
    SERVICE_CATEGORIES,
    SERVICE_MODE_LABELS,
    SHARING_MODE_LABELS,
    SOURCE_LABELS,
    TOP_CATEGORIES,
    category_name,
    service_category_name,
)
from instruments.models import BOOKABLE_STATUSES, InstrumentStatus

bp = Blueprint("instruments", __name__)

WEEKDAY_LABELS = {
    "1": _l("周一"),
    "2": _l("周二"),
    "3": _l("周三"),
    "4": _l("周四"),
    "5": _l("周五"),
    "6": _l("周六"),
    "7": _l("周日"),
}


def _status_badge(status: str) -> str:
    """Bootstrap colour of a 运行状态 badge."""
    if status in (InstrumentStatus.NORMAL, InstrumentStatus.STANDBY, InstrumentStatus.REMOTE):
        return "success"
    if status in BOOKABLE_STATUSES:
        return "warning"
    return "secondary"


def _labels() -> dict[str, Any]:
    return {
        "status_labels": INSTRUMENT_STATUS_LABELS,
        "sharing_labels": SHARING_MODE_LABELS,
        "mode_labels": SERVICE_MODE_LABELS,
        "source_labels": SOURCE_LABELS,
        "status_badge": _status_badge,
        "category_name": category_name,
        "service_category_name": service_category_name,
    }


@bp.get("/instruments", endpoint="list")
def list_instruments() -> ResponseReturnValue:
    """Public instruments: keyword, filters, sort and page from the query
    string. A search term that cannot be run answers 400 with the reason on
    the same page; other bad values are dropped with a notice."""
    locale = current_locale()
    regions = queries.region_choices()
    status = 200
    error = None
    try:
        query = queries.parse_instrument_query(request.args)
    except queries.QueryRejected as rejected:
        query, error, status = queries.InstrumentQuery(), rejected.message, 400
    page = None
    if error is None:
        page = queries.search_instruments(
            query, locale, int(current_app.config["CATALOGUE_PAGE_SIZE"])
        )
    return (
        render_template(
            "instruments/list.html",
            query=query,
            page=page,
            error=error,
            regions=regions,
            institutions=queries.institution_choices(query.region, locale),
            categories=TOP_CATEGORIES,
            **_labels(),
        ),
        status,
    )


@bp.get("/instruments/<int:instrument_id>")
def detail(instrument_id: int) -> ResponseReturnValue:
    """Everything the catalogue knows about one public instrument: fields,
    prices per service mode, booking policy, upcoming downtime, provider and
    the testing services run on it."""
    instrument = queries.public_instrument(instrument_id)
    if instrument is None:
        abort(404)
    return render_template(
        "instruments/detail.html",
        instrument=instrument,
        downtimes=queries.upcoming_downtimes(instrument, utcnow()),
        service_items=queries.linked_service_items(instrument),
        open_days=[WEEKDAY_LABELS[d] for d in instrument.open_weekdays if d in WEEKDAY_LABELS],
        **_labels(),
    )


@bp.get("/services")
def services() -> ResponseReturnValue:
    """Public testing services: keyword, region, institution, category,
    price per sample, CMA/CNAS, sort and page from the query string."""
    locale = current_locale()
    regions = queries.region_choices()
    status = 200
    error = None
    try:
        query = queries.parse_service_query(request.args)
    except queries.QueryRejected as rejected:
        query, error, status = queries.ServiceQuery(), rejected.message, 400
    page = None
    if error is None:
        page = queries.search_service_items(
            query, locale, int(current_app.config["CATALOGUE_PAGE_SIZE"])
        )
    return (
        render_template(
            "instruments/services.html",
            query=query,
            page=page,
            error=error,
            regions=regions,
            institutions=queries.institution_choices(query.region, locale),
            categories=SERVICE_CATEGORIES,
            **_labels(),
        ),
        status,
    )


@bp.get("/services/<int:item_id>")
def service_detail(item_id: int) -> ResponseReturnValue:
    """One public testing service: price per sample, turnaround, capacity,
    method, sample requirements, accreditation, provider."""
    item = queries.public_service_item(item_id)
    if item is None:
        abort(404)
    return render_template(
        "instruments/service_detail.html",
        item=item,
        instrument_public=queries.is_public_instrument(item.instrument_id),
        **_labels(),
    )
