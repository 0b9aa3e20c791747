"""Blueprint `accounts`: sign-in and sign-out, enterprise registration,
password change, and each kind of user's home page. Thin: forms check shape,
`booking.accounts.services` decides, the view commits once."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select

from booking.accounts import services
from booking.accounts.forms import (
    LABELS,
    ChangePasswordForm,
    LoginForm,
    RegistrationForm,
)
from booking.accounts.loader import login_required
from booking.accounts.models import OrgKind, Region, User, VerificationStatus
from booking.core.views import safe_next
from booking.errors import DomainError
from booking.extensions import db, limiter, utcnow
from booking.i18n import is_english

bp = Blueprint("accounts", __name__)


@bp.app_context_processor
def _account_labels() -> dict[str, Any]:
    """Display labels of the accounts enums (kind, status, category ...)."""
    return {"account_labels": LABELS}


def attach_error(form: FlaskForm, error: DomainError) -> None:
    """Show a refused request next to the field it concerns, or above the form."""
    db.session.rollback()
    field = form._fields.get(error.field) if error.field else None
    if field is not None:
        field.errors = [*field.errors, str(error)]
    else:
        flash(str(error), "danger")


def region_choices() -> list[tuple[int, str]]:
    english = is_english()
    regions = db.session.scalars(select(Region).order_by(Region.id))
    return [(r.id, r.name_en if english and r.name_en else r.name_zh) for r in regions]


# --- sign-in throttling: per client address and per submitted email ------------------


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _email_key() -> str:
    return "login-email:" + services.normalise_email(request.form.get("email", ""))[:254]


def _failed_sign_in(response: Any) -> bool:
    # Only failed attempts count: a busy office behind one address can still sign in.
    return bool(response.status_code != 302)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    _login_limit,
    methods=["POST"],
    key_func=get_remote_address,
    deduct_when=_failed_sign_in,
    scope="login-address",
)
@limiter.limit(
    _login_limit,
    methods=["POST"],
    key_func=_email_key,
    deduct_when=_failed_sign_in,
    scope="login-email",
)
def login() -> ResponseReturnValue:
    """Sign in with email and password, then go to `next` (same site only)
    or the user's home page."""
    if current_user.is_authenticated:
        return redirect(url_for("accounts.home"))
    form = LoginForm()
    error: str | None = None
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data or "", form.password.data or "", utcnow())
        except DomainError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            login_user(user, remember=bool(form.remember.data))
            db.session.commit()
            return redirect(safe_next(request.args.get("next"), url_for("accounts.home")))
    return render_template("accounts/login.html", form=form, error=error)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Sign out (POST with the CSRF token, so no other site can sign you out)."""
    if current_user.is_authenticated:
        logout_user()
        flash(_("您已退出登录。"), "info")
    return redirect(url_for("core.home"))


def _registration_limit() -> str:
    return str(current_app.config["REGISTRATION_RATE_LIMIT"])


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_registration_limit, methods=["POST"], key_func=get_remote_address, scope="register")
def register() -> ResponseReturnValue:
    """Enterprise self-registration; the enterprise waits for its region's
    authority to verify it and can sign in meanwhile."""
    if current_user.is_authenticated:
        return redirect(url_for("accounts.home"))
    form = RegistrationForm(region_choices())
    if form.validate_on_submit():
        try:
            user = services.register_enterprise(
                region_id=form.region_id.data or 0,
                name_zh=form.name_zh.data or "",
                name_en=form.name_en.data or "",
                uscc=form.uscc.data or "",
                enterprise_category=form.enterprise_category.data or "",
                controller_name=form.controller_name.data or "",
                address=form.address.data or "",
                contact_name=form.contact_name.data or "",
                contact_phone=form.contact_phone.data or "",
                email=form.email.data or "",
                password=form.password.data or "",
                now=utcnow(),
            )
        except DomainError as exc:
            attach_error(form, exc)
        else:
            db.session.commit()
            login_user(user)
            flash(_("注册成功，请等待所属区域主管部门认证。"), "success")
            return redirect(url_for("accounts.home"))
    return render_template("accounts/register.html", form=form)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> ResponseReturnValue:
    """Change the password; every other session of this user is signed out,
    this one stays signed in."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user: User = current_user._get_current_object()
        try:
            services.change_password(
                user, form.current_password.data or "", form.new_password.data or "", utcnow()
            )
        except DomainError as exc:
            attach_error(form, exc)
        else:
            db.session.commit()
            login_user(user)  # the session id carries the new password stamp
            flash(_("密码已修改，其他设备上的登录已失效。"), "success")
            return redirect(url_for("accounts.home"))
    return render_template("accounts/change_password.html", form=form)


# --- home pages ------------------------------------------------------------------------


def _provider_link(endpoint: str, path: str) -> str:
    """Provider catalogue pages live in another package; link to them once they exist."""
    if endpoint in current_app.view_functions:
        return url_for(endpoint)
    return path


@bp.get("/home")
@login_required
def home() -> ResponseReturnValue:
    """Each kind of user lands on its own dashboard."""
    user: User = current_user._get_current_object()
    org = user.organization
    if org.kind == OrgKind.ENTERPRISE:
        return render_template("accounts/home_enterprise.html", org=org)
    if org.kind == OrgKind.PROVIDER:
        # Counted here rather than imported as a service: accounts sits below
        # instruments in the dependency order.
        from instruments.models import Instrument, ServiceItem

        counts = {
            "instruments": db.session.scalar(
                select(func.count()).select_from(Instrument).where(Instrument.provider_id == org.id)
            )
            or 0,
            "services": db.session.scalar(
                select(func.count())
                .select_from(ServiceItem)
                .where(ServiceItem.provider_id == org.id)
            )
            or 0,
        }
        links = {
            "instruments": _provider_link(
                "provider_catalogue.instruments", "/provider/instruments"
            ),
            "services": _provider_link("provider_catalogue.services", "/provider/services"),
            "import": _provider_link("provider_catalogue.import_form", "/provider/import"),
        }
        return render_template("accounts/home_provider.html", org=org, counts=counts, links=links)
    if org.kind == OrgKind.AUTHORITY:
        pending = services.pending_enterprise_count(user)
        return render_template("accounts/home_authority.html", org=org, pending=pending)
    counts_by_kind = services.organization_counts()
    pending_total = sum(
        by_status.get(VerificationStatus.PENDING, 0)
        for kind, by_status in counts_by_kind.items()
        if kind == OrgKind.ENTERPRISE
    )
    return render_template(
        "accounts/home_platform.html",
        org=org,
        counts=counts_by_kind,
        pending=pending_total,
        kinds=[OrgKind.ENTERPRISE, OrgKind.PROVIDER, OrgKind.AUTHORITY],
    )
