"""Regions, organizations and users.

Every organization belongs to one region. The region's authority
(科技主管部门) verifies the enterprises registered in it; providers
(服务机构) and authorities are admitted by the platform admin.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from booking.extensions import Model, utcnow


class OrgKind(StrEnum):
    ENTERPRISE = "enterprise"
    PROVIDER = "provider"
    AUTHORITY = "authority"
    PLATFORM = "platform"


class ProviderType(StrEnum):
    UNIVERSITY = "university"
    INSTITUTE = "institute"
    TESTING_BODY = "testing_body"
    ENGINEERING_CENTRE = "engineering_centre"


class EnterpriseCategory(StrEnum):
    TECH_SME = "tech_sme"  # 科技型中小企业
    HIGH_TECH = "high_tech"  # 高新技术企业
    OTHER = "other"


class VerificationStatus(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


class UserRole(StrEnum):
    """Role inside the user's own organization."""

    ADMIN = "admin"  # manages the organization's users and settings
    STAFF = "staff"


class Region(Model):
    __tablename__ = "region"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    # 6-digit administrative division code (GB/T 2260), e.g. 310114 for Jiading.
    division_code: Mapped[str] = mapped_column(String(6))

    organizations: Mapped[list[Organization]] = relationship(back_populates="region")

    def __repr__(self) -> str:
        return f"<Region {self.code}>"


class Organization(Model):
    __tablename__ = "organization"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('enterprise', 'provider', 'authority', 'platform')", name="kind_known"
        ),
        CheckConstraint("status IN ('pending', 'verified', 'rejected')", name="status_known"),
        # One authority per region: the one that issues its vouchers and verifies its firms.
        Index(
            "uq_organization_authority_region",
            "region_id",
            unique=True,
            postgresql_where=text("kind = 'authority'"),
            sqlite_where=text("kind = 'authority'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    # 统一社会信用代码; NULL only for the platform operator itself.
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    # Some real codes fail the GB 32100 check; an admin may accept one with a reason.
    uscc_override_reason: Mapped[str | None] = mapped_column(Text)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    provider_type: Mapped[str | None] = mapped_column(String(32))
    enterprise_category: Mapped[str | None] = mapped_column(String(32))
    controller_name: Mapped[str | None] = mapped_column(String(128))  # 实际控制人
    contact_name: Mapped[str] = mapped_column(String(64), default="")
    contact_phone: Mapped[str] = mapped_column(String(32), default="")
    address: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16), default=VerificationStatus.PENDING)
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Who verified it is in the audit trail (action "organization.verify").
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    region: Mapped[Region] = relationship(back_populates="organizations")
    users: Mapped[list[User]] = relationship(
        back_populates="organization", foreign_keys="User.organization_id"
    )

    @property
    def is_verified(self) -> bool:
        return self.status == VerificationStatus.VERIFIED

    def display_name(self, locale: str) -> str:
        return self.name_en if locale.startswith("en") and self.name_en else self.name_zh

    def __repr__(self) -> str:
        return f"<Organization {self.id} {self.kind} {self.name_zh}>"


class User(UserMixin, Model):
    __tablename__ = "user"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'staff')", name="role_known"),
        UniqueConstraint("email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(32), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=UserRole.STAFF)
    locale: Mapped[str] = mapped_column(String(8), default="zh_Hans")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]
    # Secret for the ICS calendar feed (calendar apps subscribe without cookies).
    calendar_token: Mapped[str | None] = mapped_column(String(64), unique=True)

    organization: Mapped[Organization] = relationship(
        back_populates="users", foreign_keys=[organization_id]
    )

    # --- flask-login -------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        # The password-change timestamp is part of the session identity, so a
        # password change signs out every other session of this user.
        stamp = int(self.password_changed_at.timestamp()) if self.password_changed_at else 0
        return f"{self.id}:{stamp}"

    # --- passwords -----------------------------------------------------------
    def set_password(self, password: str, now: datetime | None = None) -> None:
        # Werkzeug's scrypt (n=2**15, r=8, p=1): memory-hard, the library default.
        self.password_hash = generate_password_hash(password, method="scrypt")
        self.password_changed_at = now or utcnow()

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    # --- what this user's face of the platform is ------------------------------
    @property
    def kind(self) -> str:
        return self.organization.kind

    @property
    def is_platform_admin(self) -> bool:
        return self.organization.kind == OrgKind.PLATFORM

    @property
    def is_org_admin(self) -> bool:
        return self.role == UserRole.ADMIN

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


class RelationKind(StrEnum):
    """How an enterprise is linked to a provider (关联关系)."""

    LEGAL_REPRESENTATIVE = "legal_representative"  # shared 法定代表人
    SHAREHOLDER = "shareholder"
    CONTROLLER = "controller"  # same 实际控制人
    AFFILIATION = "affiliation"  # 隶属、共建、产权


class RelatedParty(Model):
    """A declared link between an enterprise and a provider. Vouchers may not
    pay for services between related parties (checked at order and claim time)."""

    __tablename__ = "related_party"
    __table_args__ = (UniqueConstraint("enterprise_id", "provider_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    relation: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(255), default="")
    declared_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    declared_at: Mapped[datetime] = mapped_column(default=utcnow)
