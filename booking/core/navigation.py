"""Navigation per role: each face of the platform has its own menu.

Entries name endpoints; an entry whose endpoint is not registered (a feature
switched off) is left out rather than breaking every page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app, g, request, url_for
from flask_babel import lazy_pgettext as _nav_label
from flask_babel.speaklater import LazyString
from flask_login import current_user

from booking.accounts.models import OrgKind

# Labels carry the "nav" message context: their translations are the short
# forms that fit the bar (待审核 is "Requests" here, "Pending approval" as a status).


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: LazyString | str
    badge_key: str | None = None  # name of a count from `nav_counts`

    @property
    def url(self) -> str:
        return url_for(self.endpoint)

    @property
    def active(self) -> bool:
        # Detail pages light up their list's entry: instruments.detail -> instruments.list.
        endpoint = request.endpoint or ""
        if endpoint == self.endpoint:
            return True
        section = self.endpoint.rsplit(".", 1)[0]
        return self.endpoint.endswith(".list") and endpoint.startswith(section + ".detail")


PUBLIC = (
    NavItem("instruments.list", _nav_label("nav", "仪器设备")),
    NavItem("instruments.services", _nav_label("nav", "检测服务")),
)

NOTIFICATIONS = NavItem(
    "orders.notifications", _nav_label("nav", "消息"), badge_key="unread_notifications"
)

BY_KIND: dict[str, tuple[NavItem, ...]] = {
    OrgKind.ENTERPRISE: (
        NavItem("accounts.home", _nav_label("nav", "企业工作台")),
        *PUBLIC,
        NavItem("orders.my_orders", _nav_label("nav", "我的订单")),
        NavItem("wallet.index", _nav_label("nav", "创新券")),
        NavItem("claims.index", _nav_label("nav", "报销申请")),
        NOTIFICATIONS,
    ),
    OrgKind.PROVIDER: (
        NavItem("accounts.home", _nav_label("nav", "机构工作台")),
        NavItem("provider_orders.dashboard", _nav_label("nav", "预约日程")),
        NavItem(
            "provider_orders.requests", _nav_label("nav", "待审核"), badge_key="pending_requests"
        ),
        NavItem("provider_service_orders.queue", _nav_label("nav", "检测委托")),
        NavItem("provider_catalogue.instruments", _nav_label("nav", "仪器与服务")),
        NavItem("provider_orders.utilisation", _nav_label("nav", "使用统计")),
        NavItem("claims.index", _nav_label("nav", "创新券兑付")),
        NOTIFICATIONS,
    ),
    OrgKind.AUTHORITY: (
        NavItem("accounts.home", _nav_label("nav", "管理工作台")),
        NavItem(
            "admin.enterprises", _nav_label("nav", "企业认证"), badge_key="pending_enterprises"
        ),
        NavItem("voucher_admin.dashboard", _nav_label("nav", "创新券")),
        NavItem(
            "voucher_admin.applications",
            _nav_label("nav", "额度申请"),
            badge_key="pending_voucher_applications",
        ),
        NavItem(
            "voucher_settlement.claims", _nav_label("nav", "兑付审核"), badge_key="pending_claims"
        ),
        NavItem("voucher_settlement.batches", _nav_label("nav", "结算")),
        *PUBLIC,
        NOTIFICATIONS,
    ),
    OrgKind.PLATFORM: (
        NavItem("accounts.home", _nav_label("nav", "平台管理")),
        NavItem("admin.organizations", _nav_label("nav", "成员机构")),
        NavItem("orders_admin.bookings", _nav_label("nav", "全部订单")),
        NavItem(
            "admin.enterprises", _nav_label("nav", "企业认证"), badge_key="pending_enterprises"
        ),
        *PUBLIC,
        NOTIFICATIONS,
    ),
}


def nav_items() -> list[NavItem]:
    items = BY_KIND.get(current_user.kind, PUBLIC) if current_user.is_authenticated else PUBLIC
    return [i for i in items if i.endpoint in current_app.view_functions]


# Counts shown as badges next to navigation entries ("3 to verify"). Features
# register a counter under the entry's badge_key; it gets the signed-in user.
BADGE_COUNTERS: dict[str, Callable[[Any], int]] = {}


def badge_count(item: NavItem) -> int:
    return badge_value(item.badge_key or "")


def badge_value(key: str) -> int:
    """The signed-in user's count under `key`, computed once per request: a
    page showing the same figure as its navigation badge reads it from here."""
    counter = BADGE_COUNTERS.get(key)
    if counter is None or not current_user.is_authenticated:
        return 0
    counts: dict[str, int] = g.setdefault("badge_counts", {})
    if key not in counts:
        counts[key] = counter(current_user)
    return counts[key]
