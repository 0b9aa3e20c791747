"""Accounts use cases: signing in, enterprise self-registration, verification
by the region's authority, admission of providers and authorities, users and
passwords.

Services flush and never commit: the request (or CLI command) commits once.
They never touch the request or flash; a refused request raises a
`booking.errors.DomainError` whose message is lazily translated and whose
`field` names the form field it belongs to.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, false, func, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from booking.accounts import uscc as uscc_rules
from booking.accounts.models import (
    EnterpriseCategory,
    Organization,
    OrgKind,
    ProviderType,
    Region,
    User,
    UserRole,
    VerificationStatus,
)
from booking.audit.services import record
from booking.errors import DomainError, InvalidTransition, NotFound, PermissionDenied
from booking.extensions import db, utcnow

PASSWORD_MIN_LENGTH = 10

# Kinds the platform admin admits directly (enterprises register themselves).
ADMITTED_KINDS = (OrgKind.PROVIDER, OrgKind.AUTHORITY)

ORGANIZATION_FIELDS = frozenset(
    {
        "name_zh",
        "name_en",
        "uscc",
        "region_id",
        "provider_type",
        "contact_name",
        "contact_phone",
        "address",
    }
)


# --- small rules ------------------------------------------------------------------


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_password_policy(password: str, field: str = "password") -> None:
    """At least PASSWORD_MIN_LENGTH characters, with letters and digits."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise DomainError(_l("密码至少需要 %(n)d 个字符。", n=PASSWORD_MIN_LENGTH), field=field)
    if not any(c.isalpha() for c in password) or not any(c.isdigit() for c in password):
        raise DomainError(_l("密码必须同时包含字母和数字。"), field=field)


def _email_taken(email: str) -> bool:
    found = db.session.scalar(select(User.id).where(func.lower(User.email) == email))
    return found is not None


def _uscc_taken(code: str) -> bool:
    return db.session.scalar(select(Organization.id).where(Organization.uscc == code)) is not None


def _checked_uscc(raw: str, override_reason: str | None = None) -> tuple[str, str | None]:
    """The normalised code and the override reason to store (None when the code
    is valid). A format error is never accepted; a wrong check character only
    with a non-empty reason."""
    code = uscc_rules.normalise(raw)
    problem = uscc_rules.problem(code)
    if problem == uscc_rules.UsccProblem.FORMAT:
        raise DomainError(
            _l("统一社会信用代码格式不正确：应为 18 位数字或大写字母（不含 I、O、S、V、Z）。"),
            field="uscc",
        )
    reason = (override_reason or "").strip()
    if problem == uscc_rules.UsccProblem.CHECK:
        if not reason:
            raise DomainError(_l("统一社会信用代码校验位不正确，请核对后重新输入。"), field="uscc")
        return code, reason
    return code, None


def _flush_unique(message: Any, field: str) -> None:
    """Flush inside a savepoint: a unique index that a concurrent request beat
    us to becomes a clear message instead of a 500."""
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as exc:
        raise DomainError(message, field=field) from exc


@cache
def _dummy_hash() -> str:
    # Checking an unknown email against a real hash takes as long as checking a
    # known one, so response time does not reveal which emails exist.
    return generate_password_hash("not-a-password-0", method="scrypt")


# --- sign-in and passwords ----------------------------------------------------------


def authenticate(email: str, password: str, now: datetime) -> User:
    """The active user with this email and password, with last_login_at set.
    Unknown email, wrong password and inactive account get the same answer."""
    refused = DomainError(_l("邮箱或密码错误。"))
    user: User | None = db.session.scalar(
        select(User).where(func.lower(User.email) == normalise_email(email))
    )
    if user is None:
        check_password_hash(_dummy_hash(), password)
        raise refused
    if not user.check_password(password) or not user.active:
        raise refused
    user.last_login_at = now
    record(user, "user.login", "user", user.id, now=now)
    db.session.flush()
    return user


def change_password(user: User, current: str, new: str, now: datetime) -> None:
    """Replace the user's password. The session stamp (User.get_id) changes, so
    every other session of this user is signed out; the caller re-signs in the
    current one."""
    if not user.check_password(current):
        raise DomainError(_l("当前密码不正确。"), field="current_password")
    check_password_policy(new, field="new_password")
    if new == current:
        raise DomainError(_l("新密码不能与当前密码相同。"), field="new_password")
    # The stamp has one-second resolution; make sure it moves even when the
    # previous change happened within the same second.
    previous = user.password_changed_at
    if previous is not None and now < previous + timedelta(seconds=1):
        now = previous + timedelta(seconds=1)
    user.set_password(new, now)
    record(user, "user.change_password", "user", user.id, now=now)
    db.session.flush()


# --- enterprise self-registration ----------------------------------------------------


def register_enterprise(
    *,
    region_id: int,
    name_zh: str,
    name_en: str,
    uscc: str,
    enterprise_category: str,
    controller_name: str,
    address: str,
    contact_name: str,
    contact_phone: str,
    email: str,
    password: str,
    now: datetime,
) -> User:
    """A new enterprise (pending verification by its region's authority) and
    its first user, an organization admin. Returns the user."""
    region = db.session.get(Region, region_id)
    if region is None:
        raise DomainError(_l("请选择有效的所属区域。"), field="region_id")
    if enterprise_category not in set(EnterpriseCategory):
        raise DomainError(_l("请选择有效的企业类别。"), field="enterprise_category")
    # Self-registration never overrides a failing check character.
    code, _ = _checked_uscc(uscc)
    if _uscc_taken(code):
        raise DomainError(_l("该统一社会信用代码已注册。"), field="uscc")
    email = normalise_email(email)
    if _email_taken(email):
        raise DomainError(_l("该邮箱已被使用。"), field="email")
    check_password_policy(password)

    org = Organization(
        kind=OrgKind.ENTERPRISE,
        name_zh=name_zh.strip(),
        name_en=name_en.strip(),
        uscc=code,
        region=region,
        enterprise_category=enterprise_category,
        controller_name=controller_name.strip() or None,
        contact_name=contact_name.strip(),
        contact_phone=contact_phone.strip(),
        address=address.strip(),
        status=VerificationStatus.PENDING,
        created_at=now,
    )
    user = User(
        organization=org,
        email=email,
        name=contact_name.strip(),
        phone=contact_phone.strip(),
        role=UserRole.ADMIN,
        created_at=now,
    )
    user.set_password(password, now)
    db.session.add_all([org, user])
    _flush_unique(_l("该统一社会信用代码或邮箱已被使用。"), field="uscc")
    record(
        user,
        "organization.register",
        "organization",
        org.id,
        to_state=VerificationStatus.PENDING,
        now=now,
        uscc=code,
        region=region.code,
    )
    record(
        user,
        "user.create",
        "user",
        user.id,
        to_state="active",
        now=now,
        organization_id=org.id,
        role=user.role,
    )
    return user


# --- verification ---------------------------------------------------------------------


def can_verify(actor: User, org: Organization) -> bool:
    """An enterprise is decided by the authority of its own region or by a
    platform admin; any other organization only by a platform admin."""
    if actor.is_platform_admin:
        return True
    return (
        org.kind == OrgKind.ENTERPRISE
        and actor.kind == OrgKind.AUTHORITY
        and actor.organization.region_id == org.region_id
    )


def visible_enterprises(actor: User) -> Select[Any]:
    """Enterprises the actor may see in the verification queue."""
    stmt = select(Organization).where(Organization.kind == OrgKind.ENTERPRISE)
    if actor.is_platform_admin:
        return stmt
    if actor.kind == OrgKind.AUTHORITY:
        return stmt.where(Organization.region_id == actor.organization.region_id)
    return stmt.where(false())


def enterprise_for(actor: User, org_id: int) -> Organization:
    """One enterprise the actor may decide on; anything else is not found."""
    org = db.session.get(Organization, org_id)
    if org is None or org.kind != OrgKind.ENTERPRISE or not can_verify(actor, org):
        raise NotFound(_l("企业不存在。"))
    return org


def pending_enterprise_count(actor: Any) -> int:
    """How many enterprises wait for this user's decision (navigation badge)."""
    if not isinstance(actor, User):
        return 0
    if not (actor.is_platform_admin or actor.kind == OrgKind.AUTHORITY):
        return 0
    stmt = visible_enterprises(actor).where(Organization.status == VerificationStatus.PENDING)
    return int(db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


def _decide(org: Organization, allowed_from: tuple[str, ...], values: dict[str, Any]) -> str:
    """Move org out of one of `allowed_from` with a conditional UPDATE, so two
    people deciding at the same moment cannot both succeed. Returns the state
    the organization was in."""
    before = org.status
    result = db.session.execute(
        update(Organization)
        .where(Organization.id == org.id, Organization.status.in_(allowed_from))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(org)
    if getattr(result, "rowcount", 0) != 1:
        if org.status == VerificationStatus.VERIFIED:
            raise InvalidTransition(_l("该机构已通过认证，不能重复处理。"))
        if org.status == VerificationStatus.REJECTED:
            raise InvalidTransition(_l("该机构的认证申请已被驳回，不能重复驳回。"))
        raise InvalidTransition(_l("该机构当前状态不允许此操作。"))
    return before


def verify_organization(org: Organization, actor: User, now: datetime) -> None:
    """Mark a pending (or previously rejected) organization verified."""
    if not can_verify(actor, org):
        raise NotFound(_l("企业不存在。"))
    before = _decide(
        org,
        (VerificationStatus.PENDING, VerificationStatus.REJECTED),
        {"status": VerificationStatus.VERIFIED, "status_reason": None, "verified_at": now},
    )
    record(
        actor,
        "organization.verify",
        "organization",
        org.id,
        from_state=before,
        to_state=VerificationStatus.VERIFIED,
        now=now,
    )
    db.session.flush()


def reject_organization(org: Organization, actor: User, reason: str, now: datetime) -> None:
    """Refuse a pending organization, with a reason the applicant will see."""
    if not can_verify(actor, org):
        raise NotFound(_l("企业不存在。"))
    reason = reason.strip()
    if not reason:
        raise DomainError(_l("请填写驳回原因。"), field="reason")
    before = _decide(
        org,
        (VerificationStatus.PENDING,),
        {"status": VerificationStatus.REJECTED, "status_reason": reason, "verified_at": None},
    )
    record(
        actor,
        "organization.reject",
        "organization",
        org.id,
        from_state=before,
        to_state=VerificationStatus.REJECTED,
        now=now,
        reason=reason,
    )
    db.session.flush()


# --- admission by the platform admin ----------------------------------------------------


def _require_platform_admin(actor: User) -> None:
    if not actor.is_platform_admin:
        raise PermissionDenied(_l("只有平台管理员可以执行此操作。"))


def create_organization(
    kind: str,
    fields: Mapping[str, Any],
    actor: User,
    uscc_override_reason: str | None = None,
    now: datetime | None = None,
) -> Organization:
    """Admit a provider or an authority; verified at once. A USCC with a wrong
    check character is accepted only with a reason, which is stored and audited."""
    _require_platform_admin(actor)
    now = now or utcnow()
    if kind not in ADMITTED_KINDS:
        raise DomainError(_l("只能创建服务机构或主管部门。"), field="kind")
    unknown = set(fields) - ORGANIZATION_FIELDS
    if unknown:
        raise ValueError(f"unknown organization fields: {sorted(unknown)}")
    name_zh = str(fields.get("name_zh") or "").strip()
    if not name_zh:
        raise DomainError(_l("请填写机构名称。"), field="name_zh")
    region = db.session.get(Region, fields.get("region_id") or 0)
    if region is None:
        raise DomainError(_l("请选择有效的所属区域。"), field="region_id")
    provider_type = fields.get("provider_type") or None
    if kind == OrgKind.PROVIDER:
        if provider_type not in set(ProviderType):
            raise DomainError(_l("请选择服务机构类型。"), field="provider_type")
    else:
        provider_type = None
    code, reason = _checked_uscc(str(fields.get("uscc") or ""), uscc_override_reason)
    if _uscc_taken(code):
        raise DomainError(_l("该统一社会信用代码已注册。"), field="uscc")
    if kind == OrgKind.AUTHORITY:
        existing = db.session.scalar(
            select(Organization.id).where(
                Organization.kind == OrgKind.AUTHORITY, Organization.region_id == region.id
            )
        )
        if existing is not None:
            raise DomainError(_l("该区域已有主管部门，每个区域只能有一个。"), field="region_id")

    org = Organization(
        kind=kind,
        name_zh=name_zh,
        name_en=str(fields.get("name_en") or "").strip(),
        uscc=code,
        uscc_override_reason=reason,
        region=region,
        provider_type=provider_type,
        contact_name=str(fields.get("contact_name") or "").strip(),
        contact_phone=str(fields.get("contact_phone") or "").strip(),
        address=str(fields.get("address") or "").strip(),
        status=VerificationStatus.VERIFIED,
        verified_at=now,
        created_at=now,
    )
    db.session.add(org)
    _flush_unique(
        _l("该统一社会信用代码已注册，或该区域已有主管部门。"),
        field="region_id" if kind == OrgKind.AUTHORITY else "uscc",
    )
    detail: dict[str, Any] = {"uscc": code, "region": region.code}
    if reason:
        detail["uscc_override_reason"] = reason
    record(
        actor,
        "organization.create",
        "organization",
        org.id,
        to_state=VerificationStatus.VERIFIED,
        now=now,
        kind=kind,
        **detail,
    )
    return org


def create_user(
    org: Organization,
    name: str,
    email: str,
    password: str,
    role: str,
    actor: User,
    phone: str = "",
    now: datetime | None = None,
) -> User:
    """Add a user to `org`: a platform admin for any organization, an
    organization admin for their own."""
    now = now or utcnow()
    if not actor.is_platform_admin:
        if actor.organization_id != org.id:
            raise NotFound(_l("机构不存在。"))
        if not actor.is_org_admin:
            raise PermissionDenied(_l("只有本机构管理员可以添加用户。"))
    if role not in set(UserRole):
        raise DomainError(_l("请选择有效的角色。"), field="role")
    name = name.strip()
    if not name:
        raise DomainError(_l("请填写姓名。"), field="name")
    email = normalise_email(email)
    if _email_taken(email):
        raise DomainError(_l("该邮箱已被使用。"), field="email")
    check_password_policy(password)
    user = User(
        organization=org, name=name, email=email, phone=phone.strip(), role=role, created_at=now
    )
    user.set_password(password, now)
    db.session.add(user)
    _flush_unique(_l("该邮箱已被使用。"), field="email")
    record(
        actor,
        "user.create",
        "user",
        user.id,
        to_state="active",
        now=now,
        organization_id=org.id,
        role=role,
    )
    record(
        actor,
        "organization.add_user",
        "organization",
        org.id,
        now=now,
        user_id=user.id,
        email=email,
        role=role,
    )
    return user


# --- look-ups for the platform admin's pages --------------------------------------------


def organization_for(actor: User, org_id: int) -> Organization:
    """Any organization, for a platform admin; not found for anyone else."""
    org = db.session.get(Organization, org_id)
    if org is None or not actor.is_platform_admin:
        raise NotFound(_l("机构不存在。"))
    return org


def organization_counts() -> dict[str, dict[str, int]]:
    """{kind: {status: count}} over every organization."""
    rows = db.session.execute(
        select(Organization.kind, Organization.status, func.count()).group_by(
            Organization.kind, Organization.status
        )
    ).all()
    counts: dict[str, dict[str, int]] = {}
    for kind, status, n in rows:
        counts.setdefault(kind, {})[status] = int(n)
    return counts
