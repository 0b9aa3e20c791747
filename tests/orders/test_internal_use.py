"""Internal use (内部使用): the service's rules (each refusal writes nothing),
the file import, the provider pages and their access, and what it does to
有效工作机时 / 共享率 on the page, the exports and the snapshot job."""

from __future__ import annotations

import csv
import io
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from booking.accounts.models import Organization, OrgKind, User
from booking.audit.models import AuditEvent
from booking.errors import DomainError, InvalidTransition, NotFound, PermissionDenied
from booking.extensions import db, utcnow
from booking.orders import internal_use as service
from booking.orders.clock import at_local, local
from booking.orders.jobs import snapshot_utilisation
from booking.orders.models import InternalUse, OrderStatus, UtilisationSnapshot
from booking.orders.utilisation import UtilisationRow, monthly_utilisation
from instruments.importer import ImportFileError
from instruments.models import Instrument
from tests.orders.test_utilisation import used

# Tuesday 1 December 2026, 18:00 in Shanghai.
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
NOV = date(2026, 11, 1)
DAY = date(2026, 11, 10)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return at_local(day, time(hour, minute))


def count(model: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def audit_actions() -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "internal_use")
            .order_by(AuditEvent.id)
        )
    )


@dataclass
class World:
    provider: Organization
    instrument: Instrument
    second: Instrument  # the same provider's
    theirs: Instrument  # another provider's
    staff: User
    other_staff: User
    firm_user: User


@pytest.fixture
def world(
    make_org: Callable[..., Organization],
    make_user: Callable[..., User],
    make_instrument: Callable[..., Instrument],
) -> World:
    provider = make_org(kind=OrgKind.PROVIDER)
    other = make_org(kind=OrgKind.PROVIDER)
    instrument = make_instrument(provider=provider, internal_no="A-001", name_zh="场发射扫描电镜")
    second = make_instrument(provider=provider, internal_no="B-002")
    theirs = make_instrument(provider=other, internal_no="C-003")
    staff = make_user(org=provider, name="李登记")
    other_staff = make_user(org=other)
    firm_user = make_user(kind=OrgKind.ENTERPRISE)
    db.session.commit()
    return World(provider, instrument, second, theirs, staff, other_staff, firm_user)


def record(
    w: World, start: datetime, end: datetime, purpose: str = "课题组测试", **kw: Any
) -> InternalUse:
    entry = service.record_internal_use(
        kw.pop("actor", w.staff),
        kw.pop("instrument_id", w.instrument.id),
        start,
        end,
        purpose,
        kw.pop("now", NOW),
    )
    db.session.commit()
    return entry


def fetch(entry_id: int) -> InternalUse:
    db.session.expire_all()
    entry = db.session.get(InternalUse, entry_id)
    assert entry is not None
    return entry


def refused(w: World, start: datetime, end: datetime, match: str, **kw: Any) -> DomainError:
    before_entries, before_events = count(InternalUse), count(AuditEvent)
    with pytest.raises(DomainError, match=match) as caught:
        record(w, start, end, **kw)
    db.session.rollback()
    assert count(InternalUse) == before_entries
    assert count(AuditEvent) == before_events
    return caught.value


# --- service: recording ------------------------------------------------------------------


def test_record_writes_the_entry_and_an_audit_event(world: World) -> None:
    entry = record(world, at(DAY, 9), at(DAY, 12, 30), "  教学   实验 ")
    assert entry.instrument_id == world.instrument.id
    assert (entry.starts_at, entry.ends_at) == (at(DAY, 9), at(DAY, 12, 30))
    assert entry.purpose == "教学 实验"
    assert entry.recorded_by_id == world.staff.id and entry.recorded_at == NOW
    assert entry.voided_at is None
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "internal_use")
    ).one()
    assert (event.action, event.object_type, event.object_id) == (
        "internal_use.record",
        "internal_use",
        entry.id,
    )
    assert event.actor_user_id == world.staff.id and event.to_state == "recorded"
    assert event.detail["instrument_id"] == world.instrument.id


def test_interval_rules(world: World) -> None:
    refused(
        world,
        at(DAY, 12),
        at(DAY, 12),
        "结束时间须晚于开始时间",
    )
    refused(world, at(DAY, 12), at(DAY, 9), "结束时间须晚于开始时间")
    refused(world, at(DAY, 8), at(DAY, 8) + timedelta(hours=24, minutes=1), "24 小时")
    refused(world, NOW - timedelta(hours=1), NOW + timedelta(minutes=1), "不能晚于现在")
    error = refused(world, at(date(1949, 5, 1), 9), at(date(1949, 5, 1), 10), "1950")
    assert error.field == "starts_at"
    # Exactly 24 h, and ending exactly now, are allowed.
    record(world, at(DAY, 8), at(DAY, 8) + timedelta(hours=24))
    record(world, NOW - timedelta(hours=2), NOW)
    assert count(InternalUse) == 2


def test_long_or_binary_purpose_is_refused(world: World) -> None:
    refused(world, at(DAY, 9), at(DAY, 10), "255", purpose="测" * 256)
    refused(world, at(DAY, 9), at(DAY, 10), "无效字符", purpose="测\x00试")


def test_no_overlap_with_other_entries_of_the_instrument(world: World) -> None:
    first = record(world, at(DAY, 9), at(DAY, 12))
    error = refused(world, at(DAY, 11), at(DAY, 13), "2026-11-10 09:00–12:00")
    assert error.field == "starts_at"
    refused(world, at(DAY, 8), at(DAY, 9, 1), "重叠")
    refused(world, at(DAY, 10), at(DAY, 11), "重叠")  # inside
    # Half-open: touching ends are fine; so is another instrument's time.
    record(world, at(DAY, 12), at(DAY, 13))
    record(world, at(DAY, 8), at(DAY, 9))
    record(world, at(DAY, 9), at(DAY, 12), instrument_id=world.second.id)
    # A voided entry frees its time.
    service.void_internal_use(world.staff, first.id, "录错日期", NOW)
    db.session.commit()
    record(world, at(DAY, 10), at(DAY, 11))


def test_no_overlap_with_recorded_booking_use(world: World) -> None:
    firm = world.firm_user
    done = used(world.instrument, firm.organization_id, firm, DAY, time(14), 120, 60_000)
    running = used(
        world.instrument,
        firm.organization_id,
        firm,
        DAY + timedelta(days=5),
        time(9),
        60,
        0,
        status=OrderStatus.IN_USE,
    )
    running.checked_out_at = None
    # Booked but never used: its slot is not recorded use.
    used(
        world.instrument,
        firm.organization_id,
        firm,
        DAY + timedelta(days=2),
        time(9),
        120,
        0,
        status=OrderStatus.NO_SHOW,
        recorded=False,
    )
    db.session.commit()
    error = refused(world, at(DAY, 15), at(DAY, 17), f"预约 #{done.id}")
    assert "14:00–16:00" in str(error)
    # Still running (no 下机): everything from its 上机 on overlaps.
    refused(world, at(DAY + timedelta(days=5), 18), at(DAY + timedelta(days=5), 19), "尚未下机")
    refused(world, at(DAY + timedelta(days=9), 8), at(DAY + timedelta(days=9), 9), "尚未下机")
    record(world, at(DAY, 16), at(DAY, 18))  # from 下机 on
    record(world, at(DAY + timedelta(days=2), 9), at(DAY + timedelta(days=2), 11))
    record(world, at(DAY, 14), at(DAY, 16), instrument_id=world.second.id)


def test_only_the_instruments_provider_records(world: World) -> None:
    with pytest.raises(NotFound):
        record(world, at(DAY, 9), at(DAY, 10), instrument_id=world.theirs.id)
    db.session.rollback()
    with pytest.raises(PermissionDenied):
        record(world, at(DAY, 9), at(DAY, 10), actor=world.firm_user)
    db.session.rollback()
    assert count(InternalUse) == 0 and audit_actions() == []


# --- service: voiding ----------------------------------------------------------------------


def test_void_needs_a_reason_and_happens_once(world: World) -> None:
    entry = record(world, at(DAY, 9), at(DAY, 10))
    for reason in ("", "   ", "因" * 256, "\x00"):
        with pytest.raises(DomainError) as caught:
            service.void_internal_use(world.staff, entry.id, reason, NOW)
        assert caught.value.field == "reason"
        db.session.rollback()
    with pytest.raises(NotFound):
        service.void_internal_use(world.other_staff, entry.id, "不是我的", NOW)
    db.session.rollback()
    assert fetch(entry.id).voided_at is None
    assert audit_actions() == ["internal_use.record"]

    service.void_internal_use(world.staff, entry.id, "录错仪器", NOW + timedelta(hours=1))
    db.session.commit()
    assert fetch(entry.id).voided_at == NOW + timedelta(hours=1)
    assert service.void_reasons([entry.id]) == {entry.id: "录错仪器"}
    with pytest.raises(InvalidTransition):
        service.void_internal_use(world.staff, entry.id, "再来一次", NOW)
    db.session.rollback()
    assert audit_actions() == ["internal_use.record", "internal_use.void"]


# --- service: import -----------------------------------------------------------------------


def csv_bytes(rows: list[list[str]], header: list[str] | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header or ["日期(date)", "开始时间(start)", "结束时间(end)", "用途(purpose)"])
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def import_file(w: World, content: bytes, name: str = "use.csv", **kw: Any) -> Any:
    return service.import_internal_use(
        kw.pop("actor", w.staff),
        kw.pop("instrument_id", w.instrument.id),
        name,
        content,
        max_bytes=kw.pop("max_bytes", 1_000_000),
        max_rows=kw.pop("max_rows", 100),
        now=NOW,
    )


def test_import_good_csv(world: World) -> None:
    content = csv_bytes(
        [
            ["2026-11-10", "09:00", "12:00", "科研测试"],
            ["2026-11-11", "13:30", "17:00", ""],
            ["2026-11-10", "12:00", "13:00", "期间核查"],
        ]
    )
    result = import_file(world, content)
    assert result.ok and result.created == 3 and result.rows == 3
    db.session.commit()
    entries = db.session.scalars(select(InternalUse).order_by(InternalUse.starts_at)).all()
    assert [(e.starts_at, e.ends_at, e.purpose) for e in entries] == [
        (at(DAY, 9), at(DAY, 12), "科研测试"),
        (at(DAY, 12), at(DAY, 13), "期间核查"),
        (at(date(2026, 11, 11), 13, 30), at(date(2026, 11, 11), 17), ""),
    ]
    assert audit_actions() == ["internal_use.record"] * 3


def test_import_good_xlsx_with_real_date_and_time_cells(world: World) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["date", "start", "end"])  # keys as headers; no purpose column
    sheet.append(
        [datetime.combine(DAY, time(0)), time(9, 0), time(10, 30)]
    )  # as Excel stores a date
    sheet.append(["2026-11-12", "08:00", "09:00"])
    out = io.BytesIO()
    book.save(out)
    result = import_file(world, out.getvalue(), "use.xlsx")
    assert result.ok and result.created == 2
    db.session.commit()
    assert {(e.starts_at, e.ends_at) for e in db.session.scalars(select(InternalUse))} == {
        (at(DAY, 9), at(DAY, 10, 30)),
        (at(date(2026, 11, 12), 8), at(date(2026, 11, 12), 9)),
    }


def test_import_bad_rows_are_reported_by_row_and_column_and_nothing_is_written(
    world: World,
) -> None:
    record(world, at(date(2026, 11, 20), 9), at(date(2026, 11, 20), 11))
    before = count(AuditEvent)
    content = csv_bytes(
        [
            ["2026-11-10", "09:00", "12:00", "好的一行"],  # row 2
            ["2026-13-01", "09:00", "10:00", ""],  # 3: bad date
            ["2026-11-10", "11:00", "13:00", ""],  # 4: overlaps row 2
            ["2026-11-11", "10:00", "09:00", ""],  # 5: end before start
            ["2026-11-20", "10:00", "12:00", ""],  # 6: overlaps the existing entry
            ["2026-12-02", "09:00", "10:00", ""],  # 7: in the future
            ["2026-11-12", "9点", "", ""],  # 8: bad start, no end
        ]
    )
    result = import_file(world, content)
    assert not result.ok and result.created == 0
    errors = {(e.row, e.column) for e in result.errors}
    assert errors == {
        (3, "日期(date)"),
        (4, "开始时间(start)"),
        (5, "结束时间(end)"),
        (6, "开始时间(start)"),
        (7, "结束时间(end)"),
        (8, "开始时间(start)"),
        (8, "结束时间(end)"),
    }
    messages = {e.row: e.message for e in result.errors}
    assert "第 2 行" in messages[4]
    assert "2026-11-20 09:00–11:00" in messages[6]
    assert {e.letter for e in result.errors if e.row == 3} == {"A"}
    db.session.commit()
    assert count(InternalUse) == 1 and count(AuditEvent) == before


def test_import_file_level_problems(world: World) -> None:
    bad_header = import_file(world, csv_bytes([["2026-11-10", "09:00"]], ["date", "start", "备注"]))
    assert {(e.row, e.column) for e in bad_header.errors} == {
        (1, "备注"),
        (1, "结束时间(end)"),
    }
    with pytest.raises(ImportFileError, match="只有表头"):
        import_file(world, csv_bytes([]))
    with pytest.raises(ImportFileError, match="CSV 或 XLSX"):
        import_file(world, b"date,start,end\n", "use.txt")
    with pytest.raises(ImportFileError, match="数据行太多"):
        import_file(world, csv_bytes([["2026-11-10", "09:00", "10:00", ""]] * 3), max_rows=2)
    with pytest.raises(NotFound):
        import_file(
            world, csv_bytes([["2026-11-10", "09:00", "10:00", ""]]), instrument_id=world.theirs.id
        )
    db.session.rollback()
    assert count(InternalUse) == 0


# --- utilisation ----------------------------------------------------------------------------


@pytest.fixture
def usage_world(world: World) -> World:
    """November on instrument A: firm use 150 + 90 min (external), internal
    use 300 + 180 min (one more voided), and 60 min of the second instrument's
    internal use; December: 60 min internal."""
    firm = world.firm_user
    used(world.instrument, firm.organization_id, firm, DAY, time(9), 150, 75_000)
    used(world.instrument, firm.organization_id, firm, DAY, time(14), 90, 45_000)
    db.session.commit()
    record(world, at(DAY, 17), at(DAY, 22))  # 300 min
    record(world, at(date(2026, 11, 30), 21), at(date(2026, 12, 1), 0))  # 180, starts in Nov
    wrong = record(world, at(date(2026, 11, 3), 9), at(date(2026, 11, 3), 19))
    service.void_internal_use(world.staff, wrong.id, "重复登记", NOW)
    record(world, at(DAY, 9), at(DAY, 10), instrument_id=world.second.id)
    record(world, at(date(2026, 12, 1), 9), at(date(2026, 12, 1), 10))
    record(world, at(DAY, 9), at(DAY, 10), actor=world.other_staff, instrument_id=world.theirs.id)
    db.session.commit()
    return world


def test_internal_use_counts_in_effective_minutes_only(usage_world: World) -> None:
    w = usage_world
    rows = monthly_utilisation(w.provider.id, [NOV])
    assert rows == [
        UtilisationRow(w.instrument.id, NOV, 720, 240, 2, 1, 120_000),
        UtilisationRow(w.second.id, NOV, 60, 0, 0, 0, 0),
    ]
    assert str(rows[0].sharing_percent) == "33.3"
    assert rows[0].sharing_rate == pytest.approx(240 / 720)
    assert rows[1].sharing_percent == 0


def test_page_and_exports_show_internal_use(
    usage_world: World, login_as: Callable[[User], FlaskClient]
) -> None:
    client = login_as(usage_world.staff)
    html = client.get("/provider/utilisation?from=2026-11&to=2026-12").get_data(as_text=True)
    total = re.search(r'<tr id="utilisation-total">(.*?)</tr>', html, re.S)
    assert total is not None
    cells = dict(re.findall(r'data-field="(\w+)">([^<]*)<', total.group(1)))
    # 720 + 60 (B) + 60 (December) minutes effective, 240 external.
    assert (cells["effective"], cells["external"], cells["rate"]) == ("14.00", "4.00", "28.6%")
    assert cells["bookings"] == "2"
    assert "内部使用" in html and 'data-action="internal-use"' in html
    assert '"effective": [13.0, 1.0]' in html or '"effective":[13.0,1.0]' in html

    answer = client.get("/provider/utilisation/export?format=csv&from=2026-11&to=2026-11")
    rows = list(csv.reader(io.StringIO(answer.get_data().decode("utf-8-sig"))))
    assert rows[1] == ["A-001", "场发射扫描电镜", "12.00", "4.00", "33.3", "2", "1", "1200.00"]
    assert rows[2][2:5] == ["1.00", "0.00", "0.0"]
    answer = client.get("/provider/utilisation/export?format=xlsx&from=2026-11&to=2026-11")
    book = openpyxl.load_workbook(io.BytesIO(answer.get_data()))
    table = list(book.worksheets[0].iter_rows(values_only=True))
    assert [float(v) for v in table[1][2:5]] == [12.0, 4.0, 33.3]


def _snapshots() -> list[tuple[int, date, int, int, int]]:
    return [
        (s.instrument_id, s.month, s.effective_minutes, s.external_minutes, s.bookings)
        for s in db.session.scalars(
            select(UtilisationSnapshot).order_by(
                UtilisationSnapshot.month, UtilisationSnapshot.instrument_id
            )
        )
    ]


def test_snapshot_job_includes_internal_use_and_reruns_change_nothing(
    usage_world: World,
) -> None:
    w = usage_world
    written = snapshot_utilisation(NOW)
    db.session.commit()
    assert written == {"2026-11": 3, "2026-12": 1}
    first = _snapshots()
    assert first == [
        (w.instrument.id, NOV, 720, 240, 2),
        (w.second.id, NOV, 60, 0, 0),
        (w.theirs.id, NOV, 60, 0, 0),
        (w.instrument.id, date(2026, 12, 1), 60, 0, 0),
    ]
    computed = db.session.scalars(select(UtilisationSnapshot.computed_at)).all()
    assert snapshot_utilisation(NOW) == written
    db.session.commit()
    assert _snapshots() == first
    assert db.session.scalars(select(UtilisationSnapshot.computed_at)).all() == computed

    # A voided entry drops out of the next run; its instrument's row goes
    # when nothing else is left that month.
    entry = db.session.scalars(
        select(InternalUse).where(InternalUse.instrument_id == w.second.id)
    ).one()
    service.void_internal_use(w.staff, entry.id, "录错", NOW)
    db.session.commit()
    snapshot_utilisation(NOW)
    db.session.commit()
    assert (w.second.id, NOV, 60, 0, 0) not in _snapshots()
    assert len(_snapshots()) == 3


# --- pages ------------------------------------------------------------------------------------


def yesterday() -> date:
    return local(utcnow()).date() - timedelta(days=1)


def entry_on(w: World, day: date, hour: int, hours: int = 1, **kw: Any) -> InternalUse:
    return record(w, at(day, hour), at(day, hour + hours), now=utcnow(), **kw)


def page_paths(w: World) -> list[str]:
    return [
        "/provider/internal-use",
        f"/provider/instruments/{w.instrument.id}/internal-use",
        "/provider/internal-use/template?format=csv",
    ]


@pytest.mark.parametrize("kind", [OrgKind.ENTERPRISE, OrgKind.AUTHORITY])
def test_other_kinds_of_user_get_404(
    world: World,
    kind: str,
    make_user: Callable[..., User],
    login_as: Callable[[User], FlaskClient],
) -> None:
    entry = entry_on(world, yesterday(), 9)
    client = login_as(make_user(kind=kind))
    for path in page_paths(world):
        assert client.get(path).status_code == 404, path
    base = f"/provider/instruments/{world.instrument.id}/internal-use"
    assert client.post(base, data={}).status_code == 404
    assert client.post(f"{base}/import", data={}).status_code == 404
    assert client.post(f"/provider/internal-use/{entry.id}/void", data={}).status_code == 404
    assert fetch(entry.id).voided_at is None


def test_anonymous_visitors_are_sent_to_sign_in(world: World, client: FlaskClient) -> None:
    for path in page_paths(world):
        answer = client.get(path)
        assert answer.status_code == 302 and "/login" in answer.headers["Location"], path


def test_another_providers_instrument_and_entries_are_404(
    world: World, login_as: Callable[[User], FlaskClient]
) -> None:
    theirs = entry_on(world, yesterday(), 9, actor=world.other_staff, instrument_id=world.theirs.id)
    client = login_as(world.staff)
    base = f"/provider/instruments/{world.theirs.id}/internal-use"
    day = yesterday().isoformat()
    assert client.get(base).status_code == 404
    form = {"date": day, "start": "13:00", "end": "14:00"}
    assert client.post(base, data=form).status_code == 404
    upload = {"file": (io.BytesIO(csv_bytes([[day, "15:00", "16:00", ""]])), "u.csv")}
    assert (
        client.post(f"{base}/import", data=upload, content_type="multipart/form-data").status_code
        == 404
    )
    answer = client.post(f"/provider/internal-use/{theirs.id}/void", data={"reason": "x"})
    assert answer.status_code == 404
    assert client.get("/provider/instruments/999999/internal-use").status_code == 404
    assert count(InternalUse) == 1
    assert fetch(theirs.id).voided_at is None
    index = client.get("/provider/internal-use").get_data(as_text=True)
    assert f'data-instrument-id="{world.theirs.id}"' not in index


def test_forms_need_a_working_csrf_token(
    app: Flask, world: World, login_as: Callable[[User], FlaskClient]
) -> None:
    client = login_as(world.staff)
    base = f"/provider/instruments/{world.instrument.id}/internal-use"
    day = yesterday().isoformat()
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        html = client.get(base).get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
        assert token is not None
        form = {"date": day, "start": "09:00", "end": "11:30", "purpose": "教学实验"}
        forged = client.post(base, data=form)
        assert forged.status_code in (400, 422) and count(InternalUse) == 0
        answer = client.post(base, data={**form, "csrf_token": token.group(1)})
        assert answer.status_code == 302 and answer.headers["Location"].endswith(base)
        entry = db.session.scalars(select(InternalUse)).one()
        assert entry.starts_at == at(yesterday(), 9) and entry.ends_at == at(yesterday(), 11, 30)

        void = f"/provider/internal-use/{entry.id}/void"
        assert client.post(void, data={"reason": "录错"}).status_code in (400, 422)
        db.session.expire_all()
        assert fetch(entry.id).voided_at is None
        answer = client.post(void, data={"reason": "录错", "csrf_token": token.group(1)})
        assert answer.status_code == 302
        db.session.expire_all()
        assert fetch(entry.id).voided_at is not None

        upload = {"file": (io.BytesIO(csv_bytes([[day, "13:00", "14:00", ""]])), "u.csv")}
        forged = client.post(f"{base}/import", data=upload, content_type="multipart/form-data")
        assert forged.status_code in (400, 422) and count(InternalUse) == 1
        upload = {
            "file": (io.BytesIO(csv_bytes([[day, "13:00", "14:00", ""]])), "u.csv"),
            "csrf_token": token.group(1),
        }
        answer = client.post(f"{base}/import", data=upload, content_type="multipart/form-data")
        assert answer.status_code == 302 and count(InternalUse) == 2
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_add_form_shows_refusals_and_writes_nothing(
    world: World, login_as: Callable[[User], FlaskClient]
) -> None:
    entry_on(world, yesterday(), 9, 2)
    client = login_as(world.staff)
    base = f"/provider/instruments/{world.instrument.id}/internal-use"
    day = yesterday().isoformat()
    cases = [
        ({"date": day, "start": "12:00", "end": "11:00"}, "结束时间须晚于开始时间"),
        ({"date": day, "start": "10:00", "end": "12:00"}, "重叠"),
        ({"date": "1900-01-01", "start": "10:00", "end": "12:00"}, "1950"),
        ({"date": "明天", "start": "10:00", "end": "12:00"}, "请输入日期"),
        ({"date": day, "start": "", "end": "12:00"}, "此项必填"),
        (
            {
                "date": (yesterday() + timedelta(days=2)).isoformat(),
                "start": "10:00",
                "end": "11:00",
            },
            "不能晚于现在",
        ),
    ]
    for data, message in cases:
        answer = client.post(base, data=data)
        assert answer.status_code == 422, data
        assert message in answer.get_data(as_text=True), data
    assert count(InternalUse) == 1
    ok = client.post(base, data={"date": day, "start": "11:00", "end": "12:00", "purpose": "核查"})
    assert ok.status_code == 302 and count(InternalUse) == 2
    page = client.get(base).get_data(as_text=True)
    assert "已登记内部使用 1.00 小时" in page and "核查" in page and "李登记" in page
    assert "有效记录合计：3.00 小时" in page


def test_void_action(world: World, login_as: Callable[[User], FlaskClient]) -> None:
    entry = entry_on(world, yesterday(), 9, 2)
    client = login_as(world.staff)
    void = f"/provider/internal-use/{entry.id}/void"
    answer = client.post(void, data={"reason": "  "})
    assert answer.status_code == 422 and "请填写作废原因" in answer.get_data(as_text=True)
    answer = client.post(void, data={"reason": "日期录错"})
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "已作废" in page and "日期录错" in page and 'data-voided="1"' in page
    assert "有效记录合计：0.00 小时" in page
    again = client.post(void, data={"reason": "再作废"})
    assert again.status_code == 409 and "已经作废" in again.get_data(as_text=True)
    assert audit_actions() == ["internal_use.record", "internal_use.void"]


def test_list_sorts_and_paginates(world: World, login_as: Callable[[User], FlaskClient]) -> None:
    first = yesterday() - timedelta(days=30)
    for n in range(25):
        entry_on(world, first + timedelta(days=n), 8, 1 + n % 3)
    client = login_as(world.staff)
    base = f"/provider/instruments/{world.instrument.id}/internal-use"

    def ids(path: str) -> list[int]:
        html = client.get(path).get_data(as_text=True)
        return [int(i) for i in re.findall(r'data-entry-id="(\d+)"', html)]

    newest_first = ids(base)
    assert len(newest_first) == 20
    assert len(ids(f"{base}?page=2")) == 5
    by_start = db.session.scalars(select(InternalUse.id).order_by(InternalUse.starts_at)).all()
    assert newest_first == list(reversed(by_start))[:20]
    assert ids(f"{base}?sort=starts") == list(by_start)[:20]
    longest = ids(f"{base}?sort=-minutes")
    durations = {e.id: e.ends_at - e.starts_at for e in db.session.scalars(select(InternalUse))}
    assert [durations[i] for i in longest] == sorted((durations[i] for i in longest), reverse=True)
    assert ids(f"{base}?sort=bogus") == newest_first
    assert "共 25 条" in client.get(base).get_data(as_text=True)


def test_index_lists_own_instruments_with_recent_hours(
    world: World, login_as: Callable[[User], FlaskClient]
) -> None:
    entry_on(world, yesterday(), 9, 3)
    entry_on(world, yesterday(), 13, 1, instrument_id=world.second.id)
    html = login_as(world.staff).get("/provider/internal-use").get_data(as_text=True)
    row = re.search(rf'<tr data-instrument-id="{world.instrument.id}">(.*?)</tr>', html, re.S)
    assert row is not None
    assert dict(re.findall(r'data-field="(\w+)">([^<]*)<', row.group(1))) == {
        "entries": "1",
        "hours": "3.00",
    }
    assert f"/provider/instruments/{world.second.id}/internal-use" in html
    assert 'id="provider-order-tabs"' in html


def test_import_upload_and_template(world: World, login_as: Callable[[User], FlaskClient]) -> None:
    client = login_as(world.staff)
    base = f"/provider/instruments/{world.instrument.id}/internal-use"
    day = yesterday().isoformat()
    bad = csv_bytes([[day, "09:00", "10:00", ""], [day, "09:30", "11:00", ""]])
    answer = client.post(
        f"{base}/import",
        data={"file": (io.BytesIO(bad), "u.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert 'id="import-errors"' in html and 'data-row="3"' in html and "第 2 行" in html
    assert count(InternalUse) == 0
    answer = client.post(
        f"{base}/import",
        data={"file": (io.BytesIO(b"%PDF-1.4 junk"), "u.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422 and "PDF" in answer.get_data(as_text=True)
    answer = client.post(f"{base}/import", data={}, content_type="multipart/form-data")
    assert answer.status_code == 422 and "请选择要上传的文件" in answer.get_data(as_text=True)
    good = csv_bytes([[day, "09:00", "10:00", "科研"], [day, "10:00", "11:00", ""]])
    answer = client.post(
        f"{base}/import",
        data={"file": (io.BytesIO(good), "u.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302 and count(InternalUse) == 2
    assert "登记 2 条内部使用" in client.get(base).get_data(as_text=True)

    template = client.get("/provider/internal-use/template?format=csv")
    assert template.status_code == 200
    header = next(csv.reader(io.StringIO(template.get_data().decode("utf-8-sig"))))
    assert header == ["日期(date)", "开始时间(start)", "结束时间(end)", "用途(purpose)"]
    template = client.get("/provider/internal-use/template?format=xlsx")
    book = openpyxl.load_workbook(io.BytesIO(template.get_data()))
    assert next(book.worksheets[0].iter_rows(values_only=True))[0] == "日期(date)"
    assert client.get("/provider/internal-use/template?format=ods").status_code == 400
    # The template's headers are what the importer reads.
    with pytest.raises(ImportFileError, match="只有表头"):
        import_file(world, template.get_data(), "t.xlsx")


def test_instrument_pages_link_to_internal_use(
    world: World, login_as: Callable[[User], FlaskClient]
) -> None:
    client = login_as(world.staff)
    link = f"/provider/instruments/{world.instrument.id}/internal-use"
    assert link in client.get("/provider/instruments").get_data(as_text=True)
    assert link in client.get(f"/provider/instruments/{world.instrument.id}/edit").get_data(
        as_text=True
    )
    assert "/provider/internal-use" in client.get("/provider/dashboard").get_data(as_text=True)


# --- concurrent writers ------------------------------------------------------------------------


def test_concurrent_overlapping_entries_give_one_winner(app: Flask, world: World) -> None:
    """Eight staff sessions record overlapping time on one instrument at
    once: the instrument's row lock (PostgreSQL) or BEGIN IMMEDIATE (SQLite)
    lets exactly one through; the others get the overlap message."""
    clients = 8
    barrier = threading.Barrier(clients)
    won: list[int] = []
    lost: list[str] = []
    crashed: list[BaseException] = []
    staff_id, instrument_id = world.staff.id, world.instrument.id

    def client(n: int) -> None:
        with app.app_context():
            staff = db.session.get(User, staff_id)
            assert staff is not None
            barrier.wait(timeout=30)
            try:
                start = at(DAY, 9) + timedelta(minutes=10 * n)
                entry = service.record_internal_use(
                    staff, instrument_id, start, start + timedelta(hours=2), "", NOW
                )
                db.session.commit()
                won.append(entry.id)
            except DomainError as refusal:
                db.session.rollback()
                lost.append(str(refusal))
            except BaseException as error:  # surfaced below: a race must never crash
                db.session.rollback()
                crashed.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    db.session.rollback()
    assert not crashed, crashed
    assert len(won) == 1 and len(lost) == clients - 1
    assert all("重叠" in message for message in lost)
    assert count(InternalUse) == 1
