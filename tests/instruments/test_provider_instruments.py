"""Provider staff keep their own instruments: create, edit, bad input,
lists, downtime — through the test client, checking the database and the
audit trail."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from booking.accounts.models import Organization, OrgKind, User
from booking.audit.models import AuditEvent
from booking.audit.services import history
from booking.errors import DomainError
from booking.extensions import db
from instruments import services as catalogue
from instruments.models import Downtime, Instrument, InstrumentPrice

LoginAs = Callable[[User], FlaskClient]


def instrument_form_data(**overrides: Any) -> dict[str, Any]:
    """What the instrument form posts for a complete, valid instrument."""
    data: dict[str, Any] = {
        "internal_no": "YQ-0001",
        "name_zh": "气相色谱质谱联用仪",
        "name_en": "GC-MS",
        "classification_code": "010201",
        "model": "7890B-5977B",
        "manufacturer": "安捷伦",
        "country_of_origin": "美国",
        "source": "purchased",
        "original_value": "1234567.89",
        "commissioned_on": "2019-06-01",
        "location": "分析测试中心 101",
        "contact_name": "王老师",
        "contact_phone": "021-12345678",
        "specifications": "质量范围 1.6–1050 u",
        "functions": "挥发性有机物定性定量",
        "subject_areas": "化学",
        "service_content": "样品测试",
        "sharing_rules": "需预约",
        "status": "normal",
        "sharing_mode": "external",
        "price_occupy": "",
        "lead_days_occupy": "",
        "price_technical": "",
        "lead_days_technical": "",
        "price_entrusted": "350.50",
        "lead_days_entrusted": "7",
        "price_remote": "",
        "lead_days_remote": "",
        "slot_minutes": "30",
        "min_minutes": "60",
        "max_minutes": "240",
        "open_weekdays": ["1", "2", "3", "4", "5"],
        "open_from": "08:30",
        "open_until": "17:00",
        "max_days_ahead": "30",
        "approval_required": "y",
        "cancel_cutoff_hours": "24",
        "cancel_fee_percent": "10",
        "overrun_tolerance_minutes": "30",
        "no_show_limit": "3",
        "no_show_window_days": "90",
        "max_hours_per_week": "",
        "max_future_bookings": "5",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def provider(make_org: Callable[..., Organization]) -> Organization:
    return make_org(kind=OrgKind.PROVIDER)


@pytest.fixture
def staff(make_user: Callable[..., User], provider: Organization) -> User:
    return make_user(org=provider)


def _count(model: type[Any]) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def field_errors(html: str, field_id: str) -> str:
    """The feedback block the form macro renders next to a field."""
    match = re.search(rf'id="{field_id}-feedback">(.*?)</div>\s*</div>', html, re.DOTALL)
    assert match, f"no feedback block for {field_id}"
    return match.group(1)


# --- create -------------------------------------------------------------------------


def test_new_instrument_form_renders_with_policy_defaults(login_as: LoginAs, staff: User) -> None:
    client = login_as(staff)
    response = client.get("/provider/instruments/new")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="instrument-form"' in html
    assert 'id="save-button"' in html
    assert 'name="slot_minutes"' in html and 'value="60"' in html
    assert 'value="08:30"' in html


def test_create_instrument_saves_exact_fen_and_audits(
    login_as: LoginAs, staff: User, provider: Organization
) -> None:
    client = login_as(staff)
    response = client.post("/provider/instruments/new", data=instrument_form_data())
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/provider/instruments")

    instrument = db.session.scalars(select(Instrument)).one()
    assert instrument.provider_id == provider.id
    assert instrument.original_value_fen == 123_456_789
    assert instrument.category_code == "01"
    assert instrument.open_weekdays == "12345"
    assert instrument.open_until == time(17, 0)
    assert instrument.cancel_fee_percent == 10
    assert instrument.max_hours_per_week is None
    assert instrument.max_future_bookings == 5
    price = instrument.price_for("entrusted")
    assert price is not None and price.price_fen_per_hour == 35_050 and price.lead_days == 7
    assert instrument.price_from_fen == 35_050
    events = history("instrument", instrument.id)
    assert [e.action for e in events] == ["instrument.create"]
    assert events[0].actor_user_id == staff.id


@pytest.mark.parametrize(
    ("overrides", "field_id", "message"),
    [
        ({"original_value": "12.345"}, "original_value", "两位小数"),
        ({"original_value": "-1"}, "original_value", "负数"),
        ({"original_value": "abc"}, "original_value", "请输入数字"),
        ({"original_value": "NaN"}, "original_value", "请输入数字"),
        ({"price_entrusted": "10.001"}, "price_entrusted", "两位小数"),
        ({"price_entrusted": "-5"}, "price_entrusted", "负数"),
        ({"classification_code": "990101"}, "classification_code", "分类代码"),
        ({"classification_code": "01A501"}, "classification_code", "分类代码"),
        ({"max_minutes": "30"}, "max_minutes", "最长预约时长"),
        ({"open_until": "08:00"}, "open_until", "结束开放时间"),
        ({"cancel_fee_percent": "101"}, "cancel_fee_percent", "0 到 100"),
        ({"slot_minutes": "0"}, "slot_minutes", "1 到 1440"),
        ({"name_zh": ""}, "name_zh", "必填"),
        ({"functions": "功" * 301}, "functions", "300"),
        ({"specifications": "指" * 501}, "specifications", "500"),
        ({"name_zh": "含\x07控制字符"}, "name_zh", "控制字符"),
        ({"status": "broken"}, "status", "请从列表中选择"),
    ],
)
def test_bad_input_is_shown_next_to_the_field_and_nothing_is_written(
    login_as: LoginAs, staff: User, overrides: dict[str, Any], field_id: str, message: str
) -> None:
    client = login_as(staff)
    response = client.post("/provider/instruments/new", data=instrument_form_data(**overrides))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in field_errors(html, field_id)
    assert _count(Instrument) == 0
    assert _count(AuditEvent) == 0


def test_no_weekday_selected_is_refused(login_as: LoginAs, staff: User) -> None:
    client = login_as(staff)
    data = instrument_form_data()
    del data["open_weekdays"]
    response = client.post("/provider/instruments/new", data=data)
    assert response.status_code == 422
    assert "请至少选择一个开放日" in response.get_data(as_text=True)
    assert _count(Instrument) == 0


def test_external_instrument_without_any_price_is_refused(login_as: LoginAs, staff: User) -> None:
    client = login_as(staff)
    response = client.post(
        "/provider/instruments/new", data=instrument_form_data(price_entrusted="")
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    feedback = html[html.index('id="prices-feedback"') :][:400]
    assert "至少需要提供一种服务方式" in feedback
    assert _count(Instrument) == 0


def test_instrument_not_shared_needs_no_price(login_as: LoginAs, staff: User) -> None:
    client = login_as(staff)
    response = client.post(
        "/provider/instruments/new",
        data=instrument_form_data(price_entrusted="", sharing_mode="none"),
    )
    assert response.status_code == 302
    instrument = db.session.scalars(select(Instrument)).one()
    assert instrument.prices == [] and instrument.price_from_fen is None


def test_duplicate_internal_number_is_shown_next_to_the_field(
    login_as: LoginAs,
    staff: User,
    provider: Organization,
    make_instrument: Callable[..., Instrument],
) -> None:
    make_instrument(provider=provider, internal_no="YQ-0001")
    client = login_as(staff)
    response = client.post("/provider/instruments/new", data=instrument_form_data())
    assert response.status_code == 422
    assert "相同内部编号" in field_errors(response.get_data(as_text=True), "internal_no")
    assert _count(Instrument) == 1


def test_same_internal_number_at_another_provider_is_fine(
    login_as: LoginAs, staff: User, make_instrument: Callable[..., Instrument]
) -> None:
    make_instrument(internal_no="YQ-0001")  # another provider
    client = login_as(staff)
    response = client.post("/provider/instruments/new", data=instrument_form_data())
    assert response.status_code == 302
    assert _count(Instrument) == 2


# --- edit ---------------------------------------------------------------------------


def test_edit_form_shows_current_values_in_yuan(
    login_as: LoginAs,
    staff: User,
    provider: Organization,
    make_instrument: Callable[..., Instrument],
) -> None:
    instrument = make_instrument(
        provider=provider, original_value_fen=85_000_001, prices={"entrusted": 20_050}
    )
    client = login_as(staff)
    html = client.get(f"/provider/instruments/{instrument.id}/edit").get_data(as_text=True)
    assert 'value="850000.01"' in html
    assert 'value="200.50"' in html
    assert instrument.internal_no in html


def test_edit_changes_status_prices_and_policy_with_audit(
    login_as: LoginAs,
    staff: User,
    provider: Organization,
    make_instrument: Callable[..., Instrument],
) -> None:
    instrument = make_instrument(provider=provider, internal_no="YQ-0001")
    client = login_as(staff)
    response = client.post(
        f"/provider/instruments/{instrument.id}/edit",
        data=instrument_form_data(
            status="awaiting_repair",
            price_entrusted="",
            price_occupy="120",
            lead_days_occupy="3",
            price_remote="99.99",
            max_minutes="480",
            open_weekdays=["1", "3", "6"],
        ),
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert instrument.status == "awaiting_repair"
    assert {p.mode: p.price_fen_per_hour for p in instrument.prices} == {
        "occupy": 12_000,
        "remote": 9_999,
    }
    assert instrument.price_from_fen == 9_999
    assert instrument.max_minutes == 480
    assert instrument.open_weekdays == "136"
    event = history("instrument", instrument.id)[-1]
    assert event.action == "instrument.update"
    assert (event.from_state, event.to_state) == ("normal", "awaiting_repair")
    assert event.actor_user_id == staff.id
    assert "status" in event.detail["changed"]
    assert event.detail["prices_after"] == {"occupy": [12_000, 3], "remote": [9_999, 3]}
    assert _count(InstrumentPrice) == 2


def test_bad_edit_changes_nothing(
    login_as: LoginAs,
    staff: User,
    provider: Organization,
    make_instrument: Callable[..., Instrument],
) -> None:
    instrument = make_instrument(provider=provider, internal_no="YQ-0001", name_zh="原名称")
    other = make_instrument(provider=provider, internal_no="YQ-0002")
    client = login_as(staff)
    response = client.post(
        f"/provider/instruments/{instrument.id}/edit",
        data=instrument_form_data(internal_no=other.internal_no, name_zh="新名称"),
    )
    assert response.status_code == 422
    assert "相同内部编号" in field_errors(response.get_data(as_text=True), "internal_no")
    db.session.expire_all()
    reloaded = db.session.get(Instrument, instrument.id)
    assert reloaded is not None and reloaded.name_zh == "原名称"
    assert [e.action for e in history("instrument", instrument.id)] == ["instrument.create"]


def test_rule_violation_on_edit_keeps_the_typed_values(
    login_as: LoginAs,
    staff: User,
    provider: Organization,
    make_instrument: Callable[..., Instrument],
) -> None:
    instrument = make_instrument(provider=provider)
    client = login_as(staff)
    response = client.post(
        f"/provider/instruments/{instrument.id}/edit",
        data=instrument_form_data(min_minutes="120", max_minutes="60", name_zh="改过的名称"),
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "最长预约时长不能短于最短预约时长" in field_errors(html, "max_minutes")
    assert 'value="改过的名称"' in html
    db.session.expire_all()
    reloaded = db.session.get(Instrument, instrument.id)
    assert reloaded is not None and reloaded.max_minutes == 480


# --- list ---------------------------------------------------------------------------


def test_list_shows_only_own_instruments_with_status_filter_and_sort(
    login_as: LoginAs,
    staff: User,
    provider: Organization,
    make_instrument: Callable[..., Instrument],
) -> None:
    a = make_instrument(provider=provider, internal_no="A-1", prices={"entrusted": 50_000})
    b = make_instrument(
        provider=provider, internal_no="B-1", status="awaiting_repair", prices={"entrusted": 10_000}
    )
    foreign = make_instrument(internal_no="C-1")
    client = login_as(staff)

    html = client.get("/provider/instruments").get_data(as_text=True)
    assert f'data-instrument-id="{a.id}"' in html
    assert f'data-instrument-id="{b.id}"' in html
    assert f'data-instrument-id="{foreign.id}"' not in html
    assert html.index(f'data-instrument-id="{a.id}"') < html.index(f'data-instrument-id="{b.id}"')
    assert "¥500.00" in html

    html = client.get("/provider/instruments?sort=price").get_data(as_text=True)
    assert html.index(f'data-instrument-id="{b.id}"') < html.index(f'data-instrument-id="{a.id}"')

    html = client.get("/provider/instruments?status=awaiting_repair").get_data(as_text=True)
    assert f'data-instrument-id="{b.id}"' in html
    assert f'data-instrument-id="{a.id}"' not in html

    html = client.get("/provider/instruments?q=B-").get_data(as_text=True)
    assert f'data-instrument-id="{b.id}"' in html
    assert f'data-instrument-id="{a.id}"' not in html


@pytest.mark.parametrize(
    "query",
    [
        "sort=drop_table",
        "sort=--price",
        "status=nonsense",
        "page=-3",
        "page=99999999999999999999",
        "page=abc",
        "q=" + "色" * 500,
        "q=%01%_",
    ],
)
def test_list_survives_malformed_query_strings(
    login_as: LoginAs,
    staff: User,
    provider: Organization,
    make_instrument: Callable[..., Instrument],
    query: str,
) -> None:
    make_instrument(provider=provider)
    client = login_as(staff)
    response = client.get(f"/provider/instruments?{query}")
    assert response.status_code == 200


def test_list_paginates(
    app: Any,
    login_as: LoginAs,
    staff: User,
    provider: Organization,
    make_instrument: Callable[..., Instrument],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "CATALOGUE_PAGE_SIZE", 2)
    made = [make_instrument(provider=provider, internal_no=f"P-{n}") for n in range(5)]
    client = login_as(staff)
    html = client.get("/provider/instruments?page=3").get_data(as_text=True)
    assert f'data-instrument-id="{made[4].id}"' in html
    assert f'data-instrument-id="{made[0].id}"' not in html
    assert "page=2" in html


# --- downtime -----------------------------------------------------------------------


def test_add_downtime_converts_beijing_time_to_utc_and_audits(
    login_as: LoginAs,
    staff: User,
    provider: Organization,
    make_instrument: Callable[..., Instrument],
) -> None:
    instrument = make_instrument(provider=provider)
    client = login_as(staff)
    response = client.post(
        f"/provider/instruments/{instrument.id}/downtime",
        data={
            "kind": "maintenance",
            "starts_at": "2099-05-01T09:00",
            "ends_at": "2099-05-01T17:30",
            "reason": "年度保养",
        },
    )
    assert response.status_code == 302
    downtime = db.session.scalars(select(Downtime)).one()
    assert downtime.starts_at == datetime(2099, 5, 1, 1, 0, tzinfo=UTC)
    assert downtime.ends_at == datetime(2099, 5, 1, 9, 30, tzinfo=UTC)
    assert downtime.created_by_id == staff.id
    assert [e.action for e in history("instrument", instrument.id)][-1] == "downtime.create"

    html = client.get(f"/provider/instruments/{instrument.id}/downtime").get_data(as_text=True)
    assert f'data-downtime-id="{downtime.id}"' in html
    assert "2099-05-01 09:00" in html  # shown in Beijing time again


@pytest.mark.parametrize(
    ("starts", "ends", "field_id", "message"),
    [
        ("2099-05-01T17:00", "2099-05-01T09:00", "ends_at", "结束时间必须晚于开始时间"),
        ("2099-05-01T09:00", "2099-05-01T09:00", "ends_at", "结束时间必须晚于开始时间"),
        ("2000-01-01T09:00", "2000-01-02T09:00", "ends_at", "已经结束"),
        ("tomorrow", "2099-05-01T09:00", "starts_at", "请输入日期和时间"),
        ("", "2099-05-01T09:00", "starts_at", "必填"),
    ],
)
def test_bad_downtime_window_is_refused(
    login_as: LoginAs,
    staff: User,
    provider: Organization,
    make_instrument: Callable[..., Instrument],
    starts: str,
    ends: str,
    field_id: str,
    message: str,
) -> None:
    instrument = make_instrument(provider=provider)
    client = login_as(staff)
    response = client.post(
        f"/provider/instruments/{instrument.id}/downtime",
        data={"kind": "maintenance", "starts_at": starts, "ends_at": ends, "reason": ""},
    )
    assert response.status_code == 422
    assert message in field_errors(response.get_data(as_text=True), field_id)
    assert _count(Downtime) == 0


def test_delete_downtime_removes_it_and_audits(
    login_as: LoginAs,
    staff: User,
    provider: Organization,
    make_instrument: Callable[..., Instrument],
) -> None:
    instrument = make_instrument(provider=provider)
    downtime = catalogue.add_downtime(
        instrument,
        datetime(2099, 1, 1, tzinfo=UTC),
        datetime(2099, 1, 2, tzinfo=UTC),
        "closure",
        "",
        actor=None,
    )
    client = login_as(staff)
    response = client.post(f"/provider/instruments/{instrument.id}/downtime/{downtime.id}/delete")
    assert response.status_code == 302
    assert _count(Downtime) == 0
    assert [e.action for e in history("instrument", instrument.id)][-1] == "downtime.delete"


def test_delete_downtime_needs_post(
    login_as: LoginAs,
    staff: User,
    provider: Organization,
    make_instrument: Callable[..., Instrument],
) -> None:
    instrument = make_instrument(provider=provider)
    downtime = catalogue.add_downtime(
        instrument,
        datetime(2099, 1, 1, tzinfo=UTC),
        datetime(2099, 1, 2, tzinfo=UTC),
        "closure",
        "",
        actor=None,
    )
    client = login_as(staff)
    response = client.get(f"/provider/instruments/{instrument.id}/downtime/{downtime.id}/delete")
    assert response.status_code == 405
    assert _count(Downtime) == 1


# --- services (the use cases themselves) -------------------------------------------------


def test_service_refuses_max_below_min(
    provider: Organization, make_instrument: Callable[..., Instrument]
) -> None:
    with pytest.raises(DomainError) as caught:
        make_instrument(provider=provider, min_minutes=120, max_minutes=60)
    assert caught.value.field == "max_minutes"


def test_service_refuses_external_instrument_without_prices(provider: Organization) -> None:
    fields = {"internal_no": "X", "name_zh": "仪器", "classification_code": "010501"}
    with pytest.raises(DomainError) as caught:
        catalogue.create_instrument(provider, fields, {}, actor=None)
    assert caught.value.field == "prices"


def test_service_update_removing_last_price_of_external_instrument_is_refused(
    provider: Organization, make_instrument: Callable[..., Instrument]
) -> None:
    instrument = make_instrument(provider=provider)
    with pytest.raises(DomainError) as caught:
        catalogue.update_instrument(instrument, {}, {}, actor=None)
    assert caught.value.field == "prices"


def test_service_refuses_bad_weekdays_and_fee(
    provider: Organization, make_instrument: Callable[..., Instrument]
) -> None:
    with pytest.raises(DomainError) as caught:
        make_instrument(provider=provider, open_weekdays="189")
    assert caught.value.field == "open_weekdays"
    with pytest.raises(DomainError) as caught:
        make_instrument(provider=provider, cancel_fee_percent=150)
    assert caught.value.field == "cancel_fee_percent"
    with pytest.raises(DomainError) as caught:
        make_instrument(provider=provider, open_from=time(18), open_until=time(9))
    assert caught.value.field == "open_until"
