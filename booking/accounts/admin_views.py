"""Blueprint `admin`: enterprise verification for authorities (their own
region) and platform admins (all), and member administration for platform
admins. Everyone else gets 404 on every page here, as does an authority on
the platform-only pages and on another region's enterprises."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import Select, select
from sqlalchemy.orm import aliased

from booking.accounts import services
from booking.accounts.forms import NewUserForm, OrganizationForm, RejectForm, VerifyForm
from booking.accounts.loader import current_actor, restrict_blueprint
from booking.accounts.models import Organization, OrgKind, Region, User, VerificationStatus
from booking.accounts.views import attach_error, region_choices
from booking.audit.services import history
from booking.core.navigation import BADGE_COUNTERS
from booking.core.pagination import paginate, parse_int
from booking.errors import DomainError, NotFound
from booking.extensions import db, utcnow

bp = Blueprint("admin", __name__, url_prefix="/admin")

BADGE_COUNTERS["pending_enterprises"] = services.pending_enterprise_count

PER_PAGE = 20
MAX_PAGE = 10_000
STATUSES = tuple(VerificationStatus)
KIND_FILTERS = tuple(OrgKind)
REGION_CODE = re.compile(r"[A-Za-z0-9_-]{1,32}")

F = TypeVar("F", bound=Callable[..., ResponseReturnValue])


restrict_blueprint(bp, OrgKind.AUTHORITY, OrgKind.PLATFORM)


def platform_only(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        if not current_actor().is_platform_admin:
            abort(404)
        return view(*args, **kwargs)

    return cast(F, wrapper)


def _sorted(
    stmt: Select[Any], key: str, columns: dict[str, Any], default: str
) -> tuple[Select[Any], str]:
    """Order by a whitelisted key (``name`` or ``-name``); unknown keys fall back."""
    if key.lstrip("-") not in columns:
        key = default
    column = columns[key.lstrip("-")]
    ordered = column.desc() if key.startswith("-") else column.asc()
    return stmt.order_by(ordered, Organization.id), key


def _region_filter(stmt: Select[Any], code: str) -> tuple[Select[Any], str]:
    # Region codes are short slugs; anything else (control characters, NUL,
    # which PostgreSQL refuses in text) simply matches no region.
    if not REGION_CODE.fullmatch(code):
        return stmt, ""
    region = db.session.scalar(select(Region).where(Region.code == code))
    if region is None:
        return stmt, ""
    return stmt.where(Organization.region_id == region.id), region.code


def _regions() -> list[Region]:
    return list(db.session.scalars(select(Region).order_by(Region.id)))


# --- enterprise verification ----------------------------------------------------------


@bp.get("/enterprises")
def enterprises() -> ResponseReturnValue:
    """The verification queue: pending by default, oldest first."""
    actor = current_actor()
    status = request.args.get("status", VerificationStatus.PENDING)
    if status not in STATUSES:
        status = VerificationStatus.PENDING
    region_table = aliased(Region)
    stmt = (
        services.visible_enterprises(actor)
        .join(region_table, region_table.id == Organization.region_id)
        .where(Organization.status == status)
    )
    region_code = ""
    if actor.is_platform_admin:
        stmt, region_code = _region_filter(stmt, request.args.get("region", ""))
    stmt, sort = _sorted(
        stmt,
        request.args.get("sort", ""),
        {
            "created": Organization.created_at,
            "name": Organization.name_zh,
            "region": region_table.code,
            "uscc": Organization.uscc,
        },
        default="created",
    )
    page = paginate(stmt, parse_int(request.args.get("page"), 1, 1, MAX_PAGE), PER_PAGE)
    args = {"status": status, "sort": sort}
    if region_code:
        args["region"] = region_code
    return render_template(
        "admin/enterprises.html",
        page=page,
        status=status,
        statuses=STATUSES,
        sort=sort,
        args=args,
        region_code=region_code,
        regions=_regions() if actor.is_platform_admin else [],
    )


def _enterprise_or_404(org_id: int) -> Organization:
    try:
        return services.enterprise_for(current_actor(), org_id)
    except NotFound:
        abort(404)


def _history(org_id: int) -> dict[str, Any]:
    """The organization's audit events and the users who acted in them."""
    events = history("organization", org_id)
    ids = {e.actor_user_id for e in events if e.actor_user_id is not None}
    actors = (
        {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    )
    return {"events": events, "actors": actors}


def _render_enterprise(org: Organization, reject_form: RejectForm) -> str:
    return render_template(
        "admin/enterprise.html",
        org=org,
        verify_form=VerifyForm(formdata=None),
        reject_form=reject_form,
        **_history(org.id),
    )


@bp.get("/enterprises/<int:org_id>")
def enterprise(org_id: int) -> ResponseReturnValue:
    """One enterprise's application, with its decision buttons and history."""
    org = _enterprise_or_404(org_id)
    return _render_enterprise(org, RejectForm(formdata=None))


@bp.post("/enterprises/<int:org_id>/verify")
def verify_enterprise(org_id: int) -> ResponseReturnValue:
    org = _enterprise_or_404(org_id)
    form = VerifyForm()
    if form.validate_on_submit():
        try:
            services.verify_organization(org, current_actor(), utcnow())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        else:
            db.session.commit()
            flash(_("已通过 %(name)s 的认证。", name=org.name_zh), "success")
    return redirect(url_for("admin.enterprise", org_id=org_id))


@bp.post("/enterprises/<int:org_id>/reject")
def reject_enterprise(org_id: int) -> ResponseReturnValue:
    org = _enterprise_or_404(org_id)
    form = RejectForm()
    if form.validate_on_submit():
        try:
            services.reject_organization(org, current_actor(), form.reason.data or "", utcnow())
        except DomainError as exc:
            attach_error(form, exc)
        else:
            db.session.commit()
            flash(_("已驳回 %(name)s 的认证申请。", name=org.name_zh), "success")
            return redirect(url_for("admin.enterprise", org_id=org_id))
    return _render_enterprise(org, form)


# --- members (platform admin only) -----------------------------------------------------


@bp.get("/organizations")
@platform_only
def organizations() -> ResponseReturnValue:
    """Every organization, filtered by kind, region and status."""
    region_table = aliased(Region)
    stmt = select(Organization).join(region_table, region_table.id == Organization.region_id)
    args: dict[str, str] = {}
    kind = request.args.get("kind", "")
    if kind in KIND_FILTERS:
        stmt = stmt.where(Organization.kind == kind)
        args["kind"] = kind
    status = request.args.get("status", "")
    if status in STATUSES:
        stmt = stmt.where(Organization.status == status)
        args["status"] = status
    stmt, region_code = _region_filter(stmt, request.args.get("region", ""))
    if region_code:
        args["region"] = region_code
    stmt, sort = _sorted(
        stmt,
        request.args.get("sort", ""),
        {
            "name": Organization.name_zh,
            "kind": Organization.kind,
            "region": region_table.code,
            "status": Organization.status,
            "created": Organization.created_at,
        },
        default="name",
    )
    args["sort"] = sort
    page = paginate(stmt, parse_int(request.args.get("page"), 1, 1, MAX_PAGE), PER_PAGE)
    return render_template(
        "admin/organizations.html",
        page=page,
        args=args,
        sort=sort,
        kind=kind if kind in KIND_FILTERS else "",
        status=status if status in STATUSES else "",
        region_code=region_code,
        regions=_regions(),
        kinds=KIND_FILTERS,
        statuses=STATUSES,
    )


@bp.route("/organizations/new", methods=["GET", "POST"])
@platform_only
def new_organization() -> ResponseReturnValue:
    """Admit a provider or an authority (verified at once)."""
    form = OrganizationForm(region_choices())
    if request.method == "GET" and request.args.get("kind") in (
        OrgKind.PROVIDER,
        OrgKind.AUTHORITY,
    ):
        form.kind.data = request.args["kind"]
    if form.validate_on_submit():
        fields: dict[str, Any] = {
            "name_zh": form.name_zh.data or "",
            "name_en": form.name_en.data or "",
            "uscc": form.uscc.data or "",
            "region_id": form.region_id.data,
            "provider_type": form.provider_type.data or None,
            "contact_name": form.contact_name.data or "",
            "contact_phone": form.contact_phone.data or "",
            "address": form.address.data or "",
        }
        try:
            org = services.create_organization(
                form.kind.data or "",
                fields,
                current_actor(),
                uscc_override_reason=form.uscc_override_reason.data or None,
                now=utcnow(),
            )
        except DomainError as exc:
            attach_error(form, exc)
        else:
            db.session.commit()
            flash(_("已创建机构 %(name)s。", name=org.name_zh), "success")
            return redirect(url_for("admin.organization", org_id=org.id))
    return render_template("admin/organization_new.html", form=form)


def _organization_or_404(org_id: int) -> Organization:
    try:
        return services.organization_for(current_actor(), org_id)
    except NotFound:
        abort(404)


@bp.get("/organizations/<int:org_id>")
@platform_only
def organization(org_id: int) -> ResponseReturnValue:
    """One organization: its data, its users and its audit history."""
    org = _organization_or_404(org_id)
    users = list(
        db.session.scalars(select(User).where(User.organization_id == org.id).order_by(User.id))
    )
    return render_template(
        "admin/organization.html",
        org=org,
        users=users,
        **_history(org.id),
    )


@bp.route("/organizations/<int:org_id>/users/new", methods=["GET", "POST"])
@platform_only
def new_user(org_id: int) -> ResponseReturnValue:
    """Add a user to an organization."""
    org = _organization_or_404(org_id)
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            user = services.create_user(
                org,
                form.name.data or "",
                form.email.data or "",
                form.password.data or "",
                form.role.data or "",
                current_actor(),
                phone=form.phone.data or "",
                now=utcnow(),
            )
        except DomainError as exc:
            attach_error(form, exc)
        else:
            db.session.commit()
            flash(_("已添加用户 %(email)s。", email=user.email), "success")
            return redirect(url_for("admin.organization", org_id=org_id))
    return render_template("admin/user_new.html", form=form, org=org)
