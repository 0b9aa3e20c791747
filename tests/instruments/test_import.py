"""Catalogue import from CSV/XLSX, the template and the export: every row is
validated first, errors come back by row and column, nothing is written
unless the whole file is valid, and export → edit → import round-trips."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Sequence
from datetime import time
from typing import Any

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from booking.accounts.models import Organization, OrgKind, User
from booking.audit.models import AuditEvent
from booking.audit.services import history
from booking.extensions import db
from instruments import importer
from instruments.models import Instrument, ServiceItem

LoginAs = Callable[[User], FlaskClient]

HEADER = ["internal_no", "name_zh", "classification_code", "original_value", "price_entrusted"]


def csv_bytes(rows: Sequence[Sequence[Any]], encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: Sequence[Sequence[Any]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def upload(
    staff_client: FlaskClient, filename: str, content: bytes, kind: str = "instruments"
) -> TestResponse:
    return staff_client.post(
        "/provider/import",
        data={"kind": kind, "file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )


@pytest.fixture
def provider(make_org: Callable[..., Organization]) -> Organization:
    return make_org(kind=OrgKind.PROVIDER)


@pytest.fixture
def staff(make_user: Callable[..., User], provider: Organization) -> User:
    return make_user(org=provider)


@pytest.fixture
def staff_client(login_as: LoginAs, staff: User) -> FlaskClient:
    return login_as(staff)


def _count(model: type[Any]) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def _instruments() -> dict[str, Instrument]:
    db.session.expire_all()
    return {i.internal_no: i for i in db.session.scalars(select(Instrument))}


# --- valid files -----------------------------------------------------------------------


def test_csv_with_utf8_bom_creates_instruments_and_audits(
    staff_client: FlaskClient, provider: Organization, staff: User
) -> None:
    content = csv_bytes(
        [
            HEADER,
            ["YQ-1", "液相色谱仪", "010501", "850000.00", "200"],
            ["YQ-2", "扫描电子显微镜", "010101", "3200000.5", "480.50"],
        ]
    )
    assert content.startswith(b"\xef\xbb\xbf")
    response = upload(staff_client, "仪器.csv", content)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/provider/instruments")
    found = _instruments()
    assert set(found) == {"YQ-1", "YQ-2"}
    sem = found["YQ-2"]
    assert sem.provider_id == provider.id
    assert sem.original_value_fen == 320_000_050
    assert sem.price_from_fen == 48_050
    assert sem.open_weekdays == "12345" and sem.slot_minutes == 60  # form defaults
    assert [e.action for e in history("instrument", sem.id)] == ["instrument.create"]
    summary = history("organization", provider.id)[-1]
    assert summary.action == "catalogue.import"
    assert summary.detail["created"] == 2 and summary.actor_user_id == staff.id
    page = staff_client.get("/provider/instruments").get_data(as_text=True)
    assert "新建 2 条" in page


def test_gb18030_csv_with_chinese_headers(staff_client: FlaskClient) -> None:
    content = csv_bytes(
        [
            [
                "内部编号",
                "中文名称",
                "分类代码",
                "原值（元）",
                "委托共享价格（元/小时）",
                "运行状态",
                "共享模式",
                "预约需审核",
                "开放日",
            ],
            [
                "YQ-9",
                "核磁共振波谱仪",
                "010601",
                "4500000",
                "800",
                "待机",
                "外部共享",
                "否",
                "1、3、5",
            ],
        ],
        encoding="gb18030",
    )
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    response = upload(staff_client, "nmr.csv", content)
    assert response.status_code == 302, response.get_data(as_text=True)
    nmr = _instruments()["YQ-9"]
    assert nmr.name_zh == "核磁共振波谱仪"
    assert nmr.status == "standby" and nmr.sharing_mode == "external"
    assert nmr.approval_required is False
    assert nmr.open_weekdays == "135"


def test_xlsx_with_numbers_dates_and_times(staff_client: FlaskClient) -> None:
    content = xlsx_bytes(
        [
            [*HEADER, "commissioned_on", "open_from", "open_until", "max_minutes"],
            # Excel turned the code into a number and the price into a float.
            [
                "YQ-3",
                "X射线衍射仪",
                10301,
                1_250_000,
                150.75,
                "2018/9/1",
                time(9, 0),
                time(21, 30),
                600,
            ],
        ]
    )
    response = upload(staff_client, "xrd.xlsx", content)
    assert response.status_code == 302, response.get_data(as_text=True)
    xrd = _instruments()["YQ-3"]
    assert xrd.classification_code == "010301"
    assert xrd.price_from_fen == 15_075
    assert xrd.original_value_fen == 125_000_000
    assert xrd.commissioned_on is not None and xrd.commissioned_on.isoformat() == "2018-09-01"
    assert (xrd.open_from, xrd.open_until, xrd.max_minutes) == (time(9), time(21, 30), 600)


def test_existing_internal_number_updates_and_keeps_missing_columns(
    staff_client: FlaskClient, provider: Organization, make_instrument: Callable[..., Instrument]
) -> None:
    make_instrument(
        provider=provider,
        internal_no="YQ-1",
        model="LC-20AD",
        max_minutes=300,
        prices={"occupy": 10_000, "entrusted": 20_000},
    )
    content = csv_bytes([["internal_no", "name_zh", "status"], ["YQ-1", "新名称", "待修"]])
    response = upload(staff_client, "update.csv", content)
    assert response.status_code == 302
    assert "更新 1 条" in staff_client.get("/provider/instruments").get_data(as_text=True)
    updated = _instruments()["YQ-1"]
    assert updated.name_zh == "新名称" and updated.status == "awaiting_repair"
    assert updated.model == "LC-20AD" and updated.max_minutes == 300
    assert {p.mode: p.price_fen_per_hour for p in updated.prices} == {
        "occupy": 10_000,
        "entrusted": 20_000,
    }
    event = history("instrument", updated.id)[-1]
    assert (event.action, event.from_state, event.to_state) == (
        "instrument.update",
        "normal",
        "awaiting_repair",
    )


def test_other_providers_internal_numbers_are_not_touched(
    staff_client: FlaskClient, provider: Organization, make_instrument: Callable[..., Instrument]
) -> None:
    foreign = make_instrument(internal_no="YQ-1", name_zh="别家的仪器")
    response = upload(
        staff_client, "a.csv", csv_bytes([HEADER, ["YQ-1", "我的仪器", "010501", "1", "1"]])
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Instrument, foreign.id).name_zh == "别家的仪器"  # type: ignore[union-attr]
    mine = db.session.scalars(select(Instrument).where(Instrument.provider_id == provider.id)).one()
    assert mine.name_zh == "我的仪器"


def test_service_items_import(staff_client: FlaskClient, provider: Organization) -> None:
    content = csv_bytes(
        [
            [
                "服务编号(code)",
                "中文名称(name_zh)",
                "服务类别(category)",
                "单价（元/样）(unit_price)",
                "在 CMA 资质认定范围内(cma_scope)",
                "对外提供(active)",
            ],
            ["FW-1", "金属拉伸试验", "材料性能测试", "300", "是", "是"],
            ["FW-2", "水质检测", "environment", "120.5", "否", "false"],
        ]
    )
    response = upload(staff_client, "services.csv", content, kind="services")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/provider/services")
    items = {s.code: s for s in db.session.scalars(select(ServiceItem))}
    assert items["FW-1"].category == "materials" and items["FW-1"].cma_scope is True
    assert items["FW-2"].unit_price_fen == 12_050 and items["FW-2"].active is False


# --- invalid rows: nothing is written ------------------------------------------------------


def _error_rows(response: TestResponse) -> str:
    html = response.get_data(as_text=True)
    assert 'id="import-errors"' in html, html[:2000]
    return html[html.index('id="import-errors"') :]


def test_one_bad_row_writes_nothing_and_names_row_and_column(staff_client: FlaskClient) -> None:
    content = csv_bytes(
        [
            HEADER,
            ["YQ-1", "液相色谱仪", "010501", "850000", "200"],
            ["YQ-2", "气相色谱仪", "010502", "650000", "200.005"],
            ["YQ-3", "离子色谱仪", "010503", "450000", "100"],
        ]
    )
    response = upload(staff_client, "bad.csv", content)
    assert response.status_code == 422
    table = _error_rows(response)
    assert 'data-row="3"' in table
    assert (
        'data-column="委托共享价格（元/小时）(price_entrusted)"' in table
        or "price_entrusted" in table
    )
    assert "两位小数" in table
    assert 'data-row="2"' not in table and 'data-row="4"' not in table
    assert _count(Instrument) == 0
    assert _count(AuditEvent) == 0


def test_every_row_is_checked_and_service_rules_apply(
    staff_client: FlaskClient, provider: Organization, make_instrument: Callable[..., Instrument]
) -> None:
    make_instrument(provider=provider, internal_no="OLD", name_zh="原有仪器")
    db.session.commit()
    content = csv_bytes(
        [
            [*HEADER, "min_minutes", "max_minutes", "sharing_mode"],
            ["YQ-1", "甲", "990101", "1", "1", "60", "120", "外部共享"],  # bad classification
            ["YQ-2", "乙", "010501", "-5", "1", "60", "120", "外部共享"],  # negative value
            ["YQ-3", "丙", "010501", "1", "1", "120", "60", "外部共享"],  # max < min (service rule)
            ["YQ-1", "丁", "010501", "1", "1", "60", "120", "外部共享"],  # duplicate in file
            ["YQ-5", "戊", "010501", "1", "", "60", "120", "外部共享"],  # external without price
            ["OLD", "改名", "010501", "1", "1", "60", "120", "随便共享"],  # unknown choice
            ["YQ-7", "己", "010501", "1", "1", "60", "120", "外部共享"],  # fine on its own
        ]
    )
    response = upload(staff_client, "many.csv", content)
    assert response.status_code == 422
    table = _error_rows(response)
    for row, needle in [
        (2, "分类代码"),
        (3, "负数"),
        (4, "最长预约时长不能短于最短预约时长"),
        (5, "与第 2 行重复"),
        (6, "至少需要提供一种服务方式"),
        (7, "可选值"),
    ]:
        assert f'data-row="{row}"' in table, row
        start = table.index(f'data-row="{row}"')
        assert needle in table[start : start + 600], (row, needle)
    assert 'data-row="8"' not in table
    assert "7 行数据" in response.get_data(as_text=True)
    # Nothing written, not even the valid row or the update of OLD.
    assert set(_instruments()) == {"OLD"}
    assert _instruments()["OLD"].name_zh == "原有仪器"
    assert [e.action for e in db.session.scalars(select(AuditEvent))] == ["instrument.create"]


def test_unknown_and_missing_columns_are_reported_on_the_header_row(
    staff_client: FlaskClient,
) -> None:
    response = upload(staff_client, "a.csv", csv_bytes([["name_zh", "颜色"], ["甲", "红"]]))
    assert response.status_code == 422
    table = _error_rows(response)
    assert 'data-row="1" data-column="颜色"' in table
    assert "无法识别的列名" in table
    assert "缺少必需的列" in table and "internal_no" in table
    assert _count(Instrument) == 0


# --- files that are not a table -----------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("report.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "PDF"),
        ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "PNG"),
        ("blob.csv", b"internal_no,name_zh\n\x00\x01\x02\x03", "二进制"),
        ("report.pdf", b"%PDF-1.7\n", "只能导入 CSV 或 XLSX"),
        ("list.txt", b"internal_no\nYQ-1\n", "只能导入 CSV 或 XLSX"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, ".xls"),
        ("fake.xlsx", "internal_no,name_zh\nYQ-1,甲\n".encode(), "不是 Excel 工作簿"),
        ("empty.csv", b"", "文件是空的"),
        ("header.csv", "\ufeffinternal_no,name_zh\n".encode(), "没有数据行"),
    ],
)
def test_files_that_are_not_catalogue_tables_are_refused(
    staff_client: FlaskClient, filename: str, content: bytes, message: str
) -> None:
    response = upload(staff_client, filename, content)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    feedback = html[html.index('id="file-feedback"') :][:600]
    assert message in feedback
    assert _count(Instrument) == 0


def test_a_zip_that_is_not_a_workbook_is_refused(staff_client: FlaskClient) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    response = upload(staff_client, "letter.xlsx", out.getvalue())
    assert response.status_code == 422
    assert "不是 Excel 工作簿" in response.get_data(as_text=True)


def test_corrupt_xlsx_is_refused(staff_client: FlaskClient) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("xl/workbook.xml", "<not-a-workbook")
        archive.writestr("[Content_Types].xml", "garbage")
    response = upload(staff_client, "broken.xlsx", out.getvalue())
    assert response.status_code == 422
    assert "无法读取该 XLSX 文件" in response.get_data(as_text=True)


def test_file_over_the_size_limit_is_refused(
    app: Flask, staff_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 1024)
    rows = [HEADER] + [[f"YQ-{n}", "液相色谱仪", "010501", "1", "1"] for n in range(100)]
    response = upload(staff_client, "big.csv", csv_bytes(rows))
    assert response.status_code == 422
    assert "文件太大" in response.get_data(as_text=True)
    assert _count(Instrument) == 0


def test_file_with_too_many_rows_is_refused(
    app: Flask, staff_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "IMPORT_MAX_ROWS", 2)
    rows = [HEADER] + [[f"YQ-{n}", "液相色谱仪", "010501", "1", "1"] for n in range(3)]
    response = upload(staff_client, "long.xlsx", xlsx_bytes(rows))
    assert response.status_code == 422
    assert "数据行太多" in response.get_data(as_text=True)
    assert _count(Instrument) == 0
    # Exactly at the limit is fine.
    response = upload(staff_client, "ok.csv", csv_bytes(rows[:3]))
    assert response.status_code == 302
    assert _count(Instrument) == 2


def test_no_file_chosen(staff_client: FlaskClient) -> None:
    response = staff_client.post(
        "/provider/import", data={"kind": "instruments"}, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert "请选择要上传的文件" in response.get_data(as_text=True)


def test_import_page_has_templates_and_busy_state(staff_client: FlaskClient) -> None:
    html = staff_client.get("/provider/import?kind=services").get_data(as_text=True)
    assert 'id="import-form"' in html and 'enctype="multipart/form-data"' in html
    assert "正在校验…" in html
    assert "/provider/import/template?kind=instruments&amp;format=xlsx" in html
    assert '<option selected value="services">' in html or 'value="services" selected' in html


# --- template and export ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["instruments", "services"])
def test_csv_template_parses_back(staff_client: FlaskClient, kind: str) -> None:
    response = staff_client.get(f"/provider/import/template?kind={kind}&format=csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    content = response.get_data()
    assert content.startswith(b"\xef\xbb\xbf")
    table = importer.read_table("t.csv", content, max_bytes=10**6, max_rows=10)
    keys = [c.key for c in importer.columns(kind)]
    assert table.rows == []
    assert [h.rsplit("(", 1)[1].rstrip(")") for h in table.header] == keys
    if kind == "instruments":
        assert "分类代码(classification_code)" in table.header


def test_xlsx_template_filled_in_imports(staff_client: FlaskClient) -> None:
    response = staff_client.get("/provider/import/template?kind=instruments&format=xlsx")
    assert response.status_code == 200
    assert (response.mimetype or "").endswith("spreadsheetml.sheet")
    workbook = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    sheet = workbook.worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header[0] == "内部编号(internal_no)"
    assert len(workbook.worksheets) == 2  # the second explains the columns
    row: dict[Any, Any] = {h: None for h in header}
    row.update(
        {
            "内部编号(internal_no)": "YQ-T",
            "中文名称(name_zh)": "热重分析仪",
            "分类代码(classification_code)": "010901",
            "原值（元）(original_value)": 560000,
            "委托共享价格（元/小时）(price_entrusted)": 120,
            "运行状态(status)": "正常",
            "开放日(open_weekdays)": "12345",
            "预约需审核(approval_required)": "是",
        }
    )
    sheet.append([row[h] for h in header])
    out = io.BytesIO()
    workbook.save(out)
    response = upload(staff_client, "filled.xlsx", out.getvalue())
    assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    tga = _instruments()["YQ-T"]
    assert tga.approval_required is True and tga.slot_minutes == 60  # blank → default


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_round_trips(
    staff_client: FlaskClient,
    provider: Organization,
    make_instrument: Callable[..., Instrument],
    fmt: str,
) -> None:
    make_instrument(
        provider=provider,
        internal_no="A-1",
        name_zh="=SUM(A1)",
        status="standby",
        open_weekdays="135",
        max_hours_per_week=20,
        cancel_fee_percent=15,
        prices={"occupy": 12_345, "entrusted": 50_000},
    )
    make_instrument(
        provider=provider,
        internal_no="007",
        sharing_mode="none",
        approval_required=False,
        original_value_fen=1,
        prices={"remote": 1},
    )
    make_instrument(internal_no="FOREIGN")
    response = staff_client.get(f"/provider/export?kind=instruments&format={fmt}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    exported = response.get_data()
    before = {k: _snapshot(v) for k, v in _instruments().items()}

    response = upload(staff_client, f"export.{fmt}", exported)
    assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    assert "未变化 2 条" in staff_client.get("/provider/instruments").get_data(as_text=True)
    after = {k: _snapshot(v) for k, v in _instruments().items()}
    assert after == before

    # Edit one price in the exported file and import again: exactly that changes.
    table = importer.read_table(f"e.{fmt}", exported, max_bytes=10**7, max_rows=100)
    price_col = next(i for i, h in enumerate(table.header) if h.endswith("(price_occupy)"))
    rows = [table.header] + [
        [("99.99" if i == price_col and cells[0] == "A-1" else c) for i, c in enumerate(cells)]
        for _n, cells in table.rows
    ]
    response = upload(staff_client, "edited.csv", csv_bytes(rows))
    assert response.status_code == 302
    assert "更新 1 条" in staff_client.get("/provider/instruments").get_data(as_text=True)
    changed = _instruments()["A-1"]
    assert changed.price_for("occupy").price_fen_per_hour == 9_999  # type: ignore[union-attr]
    assert changed.name_zh == "=SUM(A1)"


def test_services_export_round_trips(
    staff_client: FlaskClient,
    provider: Organization,
    make_service_item: Callable[..., ServiceItem],
) -> None:
    make_service_item(provider=provider, code="S-1", unit_price_fen=12_345, cnas_scope=True)
    make_service_item(provider=provider, code="S-2", active=False, category="food")
    exported = staff_client.get("/provider/export?kind=services&format=xlsx").get_data()
    response = upload(staff_client, "services.xlsx", exported, kind="services")
    assert response.status_code == 302
    assert "未变化 2 条" in staff_client.get("/provider/services").get_data(as_text=True)


@pytest.mark.parametrize("query", ["kind=dogs&format=csv", "kind=instruments&format=pdf"])
def test_template_and_export_refuse_unknown_kinds_and_formats(
    staff_client: FlaskClient, query: str
) -> None:
    assert staff_client.get(f"/provider/import/template?{query}").status_code == 400
    assert staff_client.get(f"/provider/export?{query}").status_code == 400


def _snapshot(instrument: Instrument) -> dict[str, Any]:
    values = {
        c.key: getattr(instrument, c.key)
        for c in Instrument.__table__.columns
        if c.key not in {"id", "created_at", "updated_at", "search_tokens", "search_text"}
    }
    values["prices"] = sorted(
        (p.mode, p.price_fen_per_hour, p.lead_days) for p in instrument.prices
    )
    return values


def test_file_exported_in_english_imports_under_chinese(
    staff_client: FlaskClient,
    provider: Organization,
    make_instrument: Callable[..., Instrument],
) -> None:
    make_instrument(provider=provider, internal_no="EN-1", status="remote", sharing_mode="internal")
    db.session.commit()
    with staff_client.session_transaction() as session:
        session["locale"] = "en"
    exported = staff_client.get("/provider/export?kind=instruments&format=csv").get_data()
    with staff_client.session_transaction() as session:
        session["locale"] = "zh_Hans"
    response = upload(staff_client, "english.csv", exported)
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    assert "未变化 1 条" in staff_client.get("/provider/instruments").get_data(as_text=True)


def test_importer_leaves_nothing_behind_even_if_the_caller_commits(
    app: Flask, provider: Organization, staff: User
) -> None:
    """The import's own guarantee, without the view's rollback behind it."""
    content = csv_bytes(
        [HEADER, ["YQ-1", "甲", "010501", "1", "1"], ["YQ-2", "乙", "010501", "1", "1.001"]]
    )
    with app.test_request_context():
        result = importer.import_catalogue(
            provider, staff, "instruments", "a.csv", content, max_bytes=10**6, max_rows=10
        )
        db.session.commit()
    assert not result.ok and result.error_count == 1
    assert result.errors[0].row == 3 and result.errors[0].letter == "E"
    assert (result.created, result.updated) == (0, 0)
    assert _count(Instrument) == 0
    assert _count(AuditEvent) == 0


def test_database_refusal_is_reported_and_rolls_everything_back(
    app: Flask, provider: Organization, staff: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CHECK constraints stay the backstop should a service rule be missing."""
    from instruments import services as catalogue

    monkeypatch.setattr(catalogue, "_check_instrument_rules", lambda instrument: None)
    content = csv_bytes(
        [
            [*HEADER, "min_minutes", "max_minutes"],
            ["YQ-1", "甲", "010501", "1", "1", "60", "120"],
            ["YQ-2", "乙", "010501", "1", "1", "120", "60"],
        ]
    )
    with app.test_request_context():
        result = importer.import_catalogue(
            provider, staff, "instruments", "a.csv", content, max_bytes=10**6, max_rows=10
        )
        db.session.commit()
    assert not result.ok and result.errors[0].row == 3
    assert "数据库拒绝" in result.errors[0].message
    assert _count(Instrument) == 0
    assert _count(AuditEvent) == 0
