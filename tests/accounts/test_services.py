"""Accounts use cases, called directly: every rule and every transition."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from booking.accounts import services, uscc
from booking.accounts.models import Organization, OrgKind, Region, User, UserRole
from booking.audit.models import AuditEvent
from booking.audit.services import history
from booking.errors import DomainError, InvalidTransition, NotFound, PermissionDenied
from booking.extensions import db
from tests.accounts.conftest import World, audit_count, table_count
from tests.conftest import PASSWORD

VALID_USCC = "91350100M000100Y43"
# The same code with a wrong check character: well-formed, fails GB 32100.
BAD_CHECK_USCC = "91350100M000100Y44"
BAD_FORMAT_USCC = "91350100M00010OY43"  # contains the letter O


def registration(region: Region, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "region_id": region.id,
        "name_zh": "上海精测科技有限公司",
        "name_en": "Shanghai Precise Testing Co., Ltd.",
        "uscc": VALID_USCC,
        "enterprise_category": "tech_sme",
        "controller_name": "张三",
        "address": "上海市嘉定区叶城路1288号",
        "contact_name": "李四",
        "contact_phone": "021-59990000",
        "email": "li.si@jingce.cn",
        "password": "Secret-pass-2026",
    }
    fields.update(overrides)
    return fields


# --- USCC checks ---------------------------------------------------------------------


def test_uscc_examples_from_the_domain_reference() -> None:
    assert uscc.problem("91350100M000100Y43") is None
    assert uscc.problem("91110000101623741K") is None
    assert uscc.problem(BAD_CHECK_USCC) == uscc.UsccProblem.CHECK
    assert uscc.problem(BAD_FORMAT_USCC) == uscc.UsccProblem.FORMAT
    assert uscc.problem("9135") == uscc.UsccProblem.FORMAT


# --- registration ---------------------------------------------------------------------


def test_register_enterprise_creates_pending_org_and_admin_user(
    make_region: Callable[..., Region], now: datetime
) -> None:
    region = make_region()
    user = services.register_enterprise(
        **registration(region, uscc=" 91350100m000100y43 ", email=" Li.Si@JingCe.cn"), now=now
    )
    org = user.organization
    assert org.kind == OrgKind.ENTERPRISE
    assert org.status == "pending"
    assert org.region_id == region.id
    assert org.uscc == VALID_USCC  # normalised
    assert org.controller_name == "张三"
    assert org.enterprise_category == "tech_sme"
    assert user.role == UserRole.ADMIN
    assert user.email == "li.si@jingce.cn"
    assert user.check_password("Secret-pass-2026")
    events = history("organization", org.id)
    assert [(e.action, e.from_state, e.to_state) for e in events] == [
        ("organization.register", None, "pending")
    ]
    assert events[0].actor_user_id == user.id


@pytest.mark.parametrize(
    ("code", "message"),
    [(BAD_FORMAT_USCC, "格式不正确"), ("12345", "格式不正确"), (BAD_CHECK_USCC, "校验位不正确")],
)
def test_register_refuses_bad_uscc_with_distinct_messages(
    make_region: Callable[..., Region], now: datetime, code: str, message: str
) -> None:
    region = make_region()
    with pytest.raises(DomainError) as caught:
        services.register_enterprise(**registration(region, uscc=code), now=now)
    assert caught.value.field == "uscc"
    assert message in str(caught.value)
    assert table_count(Organization) == 0
    assert table_count(User) == 0


def test_register_refuses_duplicate_uscc(
    make_region: Callable[..., Region], make_org: Callable[..., Organization], now: datetime
) -> None:
    region = make_region()
    make_org(uscc=VALID_USCC, region=region)
    with pytest.raises(DomainError) as caught:
        services.register_enterprise(**registration(region), now=now)
    assert caught.value.field == "uscc"
    assert "已注册" in str(caught.value)


def test_register_refuses_duplicate_email_case_insensitively(
    make_region: Callable[..., Region], make_user: Callable[..., User], now: datetime
) -> None:
    region = make_region()
    make_user(email="li.si@jingce.cn")
    with pytest.raises(DomainError) as caught:
        services.register_enterprise(**registration(region, email="LI.SI@jingce.cn"), now=now)
    assert caught.value.field == "email"
    assert "已被使用" in str(caught.value)


@pytest.mark.parametrize(
    ("password", "message"),
    [("Short-1", "至少"), ("onlyletters-here", "字母和数字"), ("1234567890123", "字母和数字")],
)
def test_password_policy(
    make_region: Callable[..., Region], now: datetime, password: str, message: str
) -> None:
    region = make_region()
    with pytest.raises(DomainError) as caught:
        services.register_enterprise(**registration(region, password=password), now=now)
    assert caught.value.field == "password"
    assert message in str(caught.value)
    assert table_count(User) == 0


def test_register_refuses_unknown_region_and_category(
    make_region: Callable[..., Region], now: datetime
) -> None:
    region = make_region()
    with pytest.raises(DomainError) as caught:
        services.register_enterprise(**registration(region, region_id=region.id + 999), now=now)
    assert caught.value.field == "region_id"
    with pytest.raises(DomainError) as caught:
        services.register_enterprise(**registration(region, enterprise_category="giant"), now=now)
    assert caught.value.field == "enterprise_category"


# --- sign-in -----------------------------------------------------------------------------


def test_authenticate_records_last_login(make_user: Callable[..., User], now: datetime) -> None:
    user = make_user(email="a@example.cn")
    assert services.authenticate(" A@Example.cn ", PASSWORD, now) is user
    assert user.last_login_at == now
    assert audit_count("user.login") == 1


@pytest.mark.parametrize("case", ["unknown", "wrong", "inactive"])
def test_authenticate_gives_one_generic_answer(
    make_user: Callable[..., User], now: datetime, case: str
) -> None:
    user = make_user(email="a@example.cn", active=case != "inactive")
    email = "nobody@example.cn" if case == "unknown" else "a@example.cn"
    password = "Wrong-password-1" if case == "wrong" else PASSWORD
    with pytest.raises(DomainError) as caught:
        services.authenticate(email, password, now)
    assert str(caught.value) == "邮箱或密码错误。"
    assert user.last_login_at is None


# --- password change ---------------------------------------------------------------------


def test_change_password_moves_the_session_stamp(
    make_user: Callable[..., User], now: datetime
) -> None:
    user = make_user()
    user.password_changed_at = now
    old_id = user.get_id()
    # Even a second change within the same second must change the stamp.
    services.change_password(user, PASSWORD, "New-password-42", now)
    assert user.get_id() != old_id
    assert user.check_password("New-password-42")
    assert not user.check_password(PASSWORD)
    assert audit_count("user.change_password") == 1
    later = now + timedelta(hours=1)
    services.change_password(user, "New-password-42", "Newer-password-43", later)
    assert user.password_changed_at == later


def test_change_password_checks_current_and_policy(
    make_user: Callable[..., User], now: datetime
) -> None:
    user = make_user()
    before = user.password_hash
    with pytest.raises(DomainError) as caught:
        services.change_password(user, "Not-my-password-1", "New-password-42", now)
    assert caught.value.field == "current_password"
    with pytest.raises(DomainError) as caught:
        services.change_password(user, PASSWORD, "short1", now)
    assert caught.value.field == "new_password"
    with pytest.raises(DomainError) as caught:
        services.change_password(user, PASSWORD, PASSWORD, now)
    assert caught.value.field == "new_password"
    assert user.password_hash == before
    assert audit_count() == 0


# --- verification ------------------------------------------------------------------------


def test_region_authority_verifies_enterprise(world: World, now: datetime) -> None:
    org = world.pending_a
    services.verify_organization(org, world.authority_a, now)
    assert org.status == "verified"
    assert org.verified_at == now
    event = history("organization", org.id)[-1]
    assert (event.action, event.from_state, event.to_state) == (
        "organization.verify",
        "pending",
        "verified",
    )
    assert event.actor_user_id == world.authority_a.id
    assert event.actor_org_id == world.authority_a.organization_id


def test_platform_admin_verifies_any_region(world: World, now: datetime) -> None:
    services.verify_organization(world.pending_b, world.platform, now)
    assert world.pending_b.status == "verified"


@pytest.mark.parametrize("who", ["authority_b", "provider_a", "enterprise_a"])
def test_others_cannot_verify_and_get_not_found(world: World, now: datetime, who: str) -> None:
    actor: User = getattr(world, who)
    with pytest.raises(NotFound):
        services.verify_organization(world.pending_a, actor, now)
    with pytest.raises(NotFound):
        services.reject_organization(world.pending_a, actor, "材料不全", now)
    with pytest.raises(NotFound):
        services.enterprise_for(actor, world.pending_a.id)
    assert world.pending_a.status == "pending"
    assert audit_count() == 0


def test_authority_cannot_verify_providers(
    world: World, now: datetime, make_org: Callable[..., Organization]
) -> None:
    provider = make_org(kind=OrgKind.PROVIDER, region=world.region_a, status="pending")
    with pytest.raises(NotFound):
        services.verify_organization(provider, world.authority_a, now)


def test_reject_needs_reason_then_records_it(world: World, now: datetime) -> None:
    org = world.pending_a
    with pytest.raises(DomainError) as caught:
        services.reject_organization(org, world.authority_a, "   ", now)
    assert caught.value.field == "reason"
    assert org.status == "pending"
    services.reject_organization(org, world.authority_a, "营业执照照片不清晰", now)
    assert org.status == "rejected"
    assert org.status_reason == "营业执照照片不清晰"
    event = history("organization", org.id)[-1]
    assert (event.from_state, event.to_state) == ("pending", "rejected")
    assert event.detail["reason"] == "营业执照照片不清晰"


def test_double_decisions_are_refused(world: World, now: datetime) -> None:
    org = world.pending_a
    services.reject_organization(org, world.authority_a, "材料不全", now)
    with pytest.raises(InvalidTransition, match="已被驳回"):
        services.reject_organization(org, world.authority_a, "再次驳回", now)
    # A rejected enterprise may be verified after it fixes its application.
    services.verify_organization(org, world.authority_a, now)
    assert org.status == "verified"
    assert org.status_reason is None
    with pytest.raises(InvalidTransition, match="已通过认证"):
        services.verify_organization(org, world.authority_a, now)
    with pytest.raises(InvalidTransition, match="已通过认证"):
        services.reject_organization(org, world.authority_a, "撤销", now)
    actions = [e.action for e in history("organization", org.id)]
    assert actions == ["organization.reject", "organization.verify"]


def test_a_stale_object_cannot_decide_twice(world: World, now: datetime) -> None:
    """Two reviewers load the same pending enterprise; the second decision is
    refused by the conditional update, not by the stale in-memory status."""
    org = world.pending_a
    db.session.execute(
        Organization.__table__.update().where(Organization.id == org.id).values(status="verified")
    )
    assert org.status == "pending"  # stale in memory
    with pytest.raises(InvalidTransition):
        services.reject_organization(org, world.authority_a, "材料不全", now)
    assert audit_count("organization.reject") == 0


def test_pending_count_per_actor(world: World) -> None:
    assert services.pending_enterprise_count(world.authority_a) == 1
    assert services.pending_enterprise_count(world.authority_b) == 1
    assert services.pending_enterprise_count(world.platform) == 2
    assert services.pending_enterprise_count(world.provider_a) == 0
    assert services.pending_enterprise_count(world.enterprise_a) == 0
    assert services.pending_enterprise_count(None) == 0


# --- admission by the platform admin --------------------------------------------------------


def provider_fields(region: Region, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name_zh": "同济大学材料科学与工程学院",
        "name_en": "Tongji University",
        "uscc": uscc.make(region.division_code, 777),
        "region_id": region.id,
        "provider_type": "university",
        "contact_name": "王老师",
    }
    fields.update(overrides)
    return fields


def test_create_provider_is_verified_at_once(world: World, now: datetime) -> None:
    org = services.create_organization(
        OrgKind.PROVIDER, provider_fields(world.region_a), world.platform, now=now
    )
    assert org.kind == OrgKind.PROVIDER
    assert org.status == "verified"
    assert org.verified_at == now
    assert org.uscc_override_reason is None
    event = history("organization", org.id)[-1]
    assert (event.action, event.to_state) == ("organization.create", "verified")
    assert event.actor_user_id == world.platform.id


def test_check_character_failure_needs_a_reason(world: World, now: datetime) -> None:
    fields = provider_fields(world.region_a, uscc=BAD_CHECK_USCC)
    for reason in (None, "", "   "):
        with pytest.raises(DomainError) as caught:
            services.create_organization(
                OrgKind.PROVIDER, fields, world.platform, uscc_override_reason=reason, now=now
            )
        assert caught.value.field == "uscc"
        assert "校验位" in str(caught.value)
    org = services.create_organization(
        OrgKind.PROVIDER,
        fields,
        world.platform,
        uscc_override_reason="营业执照原件核验，代码为登记机关早期赋码",
        now=now,
    )
    assert org.uscc == BAD_CHECK_USCC
    assert org.uscc_override_reason == "营业执照原件核验，代码为登记机关早期赋码"
    event = history("organization", org.id)[-1]
    assert event.detail["uscc_override_reason"] == org.uscc_override_reason


def test_format_errors_are_never_overridden(world: World, now: datetime) -> None:
    with pytest.raises(DomainError, match="格式不正确"):
        services.create_organization(
            OrgKind.PROVIDER,
            provider_fields(world.region_a, uscc=BAD_FORMAT_USCC),
            world.platform,
            uscc_override_reason="领导同意",
            now=now,
        )
    assert (
        db.session.scalar(select(Organization).where(Organization.uscc == BAD_FORMAT_USCC)) is None
    )


def test_one_authority_per_region(
    world: World, now: datetime, make_region: Callable[..., Region]
) -> None:
    fields = provider_fields(world.region_a, name_zh="第二个科委")
    del fields["provider_type"]
    with pytest.raises(DomainError) as caught:
        services.create_organization(OrgKind.AUTHORITY, fields, world.platform, now=now)
    assert caught.value.field == "region_id"
    assert "只能有一个" in str(caught.value)
    wenzhou = make_region("wenzhou", division_code="330300")
    org = services.create_organization(
        OrgKind.AUTHORITY,
        provider_fields(wenzhou, name_zh="温州市科技局"),
        world.platform,
        now=now,
    )
    assert org.kind == OrgKind.AUTHORITY
    assert org.provider_type is None


def test_create_organization_rules(world: World, now: datetime) -> None:
    with pytest.raises(DomainError) as caught:
        services.create_organization(
            OrgKind.PROVIDER,
            provider_fields(world.region_a, uscc=world.provider_a.organization.uscc),
            world.platform,
            now=now,
        )
    assert caught.value.field == "uscc"
    with pytest.raises(DomainError) as caught:
        services.create_organization(
            OrgKind.PROVIDER,
            provider_fields(world.region_a, provider_type=None),
            world.platform,
            now=now,
        )
    assert caught.value.field == "provider_type"
    with pytest.raises(DomainError) as caught:
        services.create_organization(
            OrgKind.ENTERPRISE, provider_fields(world.region_a), world.platform, now=now
        )
    assert caught.value.field == "kind"


@pytest.mark.parametrize("who", ["authority_a", "provider_a", "enterprise_a"])
def test_only_platform_admin_creates_organizations(world: World, now: datetime, who: str) -> None:
    count = table_count(Organization)
    with pytest.raises(PermissionDenied):
        services.create_organization(
            OrgKind.PROVIDER, provider_fields(world.region_a), getattr(world, who), now=now
        )
    assert table_count(Organization) == count


# --- users ------------------------------------------------------------------------------------


def test_platform_admin_adds_user_to_any_org(world: World, now: datetime) -> None:
    org = world.provider_b.organization
    user = services.create_user(
        org, "赵工", "Zhao@Lab.cn", "Staff-pass-2026", "staff", world.platform, now=now
    )
    assert user.organization_id == org.id
    assert user.email == "zhao@lab.cn"
    assert user.role == "staff"
    assert history("organization", org.id)[-1].action == "organization.add_user"
    assert history("user", user.id)[-1].to_state == "active"


def test_org_admin_adds_user_to_own_org_only(world: World, now: datetime) -> None:
    own = world.provider_a.organization
    user = services.create_user(
        own, "钱工", "qian@lab.cn", "Staff-pass-2026", "staff", world.provider_a, now=now
    )
    assert user.organization_id == own.id
    with pytest.raises(NotFound):
        services.create_user(
            world.provider_b.organization,
            "孙工",
            "sun@lab.cn",
            "Staff-pass-2026",
            "staff",
            world.provider_a,
            now=now,
        )
    with pytest.raises(PermissionDenied):
        services.create_user(own, "李工", "li@lab.cn", "Staff-pass-2026", "staff", user, now=now)


def test_create_user_rules(world: World, now: datetime) -> None:
    org = world.provider_a.organization
    with pytest.raises(DomainError) as caught:
        services.create_user(
            org,
            "赵工",
            world.enterprise_b.email.upper(),
            "Staff-pass-2026",
            "staff",
            world.platform,
            now=now,
        )
    assert caught.value.field == "email"
    with pytest.raises(DomainError) as caught:
        services.create_user(org, "赵工", "zhao@lab.cn", "weak", "staff", world.platform, now=now)
    assert caught.value.field == "password"
    with pytest.raises(DomainError) as caught:
        services.create_user(
            org, "赵工", "zhao@lab.cn", "Staff-pass-2026", "owner", world.platform, now=now
        )
    assert caught.value.field == "role"
    assert db.session.scalar(select(User).where(User.email == "zhao@lab.cn")) is None
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.create")) is None
