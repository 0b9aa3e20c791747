"""Forms of the provider's catalogue: instruments, service items, downtime,
catalogue import.

Forms check shape only (required, length, number format, ranges of a single
field); rules that involve several fields or the database (max ≥ min
duration, duplicate internal numbers, an externally shared instrument needs
a price) live in `instruments.services` and come back as `DomainError`s,
which `attach_domain_error` puts next to the field they name. The importer
runs these same form classes over each spreadsheet row.

Money is entered in yuan and stored as integer fen: the conversion goes
through `Decimal` and refuses a third decimal, never through float.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any, ClassVar

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    Field,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.validators import ValidationError as _ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

try:
    from wtforms import SelectChoice as _SelectChoice
except ImportError:  # wtforms < 3.3
    _SelectChoice = None

from booking.core.validators import plain_text, plausible_year
from booking.errors import DomainError
from booking.i18n import SHANGHAI, current_locale
from instruments.classification import (
    INSTRUMENT_STATUS_LABELS,
    SERVICE_CATEGORY_CODES,
    SHARING_MODE_LABELS,
    SOURCE_LABELS,
    is_valid_code,
    service_category_name,
)
from instruments.models import (
    DowntimeKind,
    Instrument,
    InstrumentSource,
    InstrumentStatus,
    ServiceItem,
    ServiceMode,
    SharingMode,
)

# Largest amount accepted anywhere in yuan: far above any real instrument
# (the largest 原值 in the national reports are a few hundred million yuan)
# and far below what a BIGINT of fen holds.
MAX_YUAN = Decimal("10000000000")
MAX_PRICE_YUAN = Decimal("10000000")

WEEKDAY_LABELS = (
    ("1", _l("周一")),
    ("2", _l("周二")),
    ("3", _l("周三")),
    ("4", _l("周四")),
    ("5", _l("周五")),
    ("6", _l("周六")),
    ("7", _l("周日")),
)
DOWNTIME_KIND_LABELS = {"maintenance": _l("维护保养"), "closure": _l("停用关闭")}

REQUIRED = _l("此项必填。")
NOT_INTEGER = _l("请输入整数。")
NOT_NUMBER = _l("请输入数字，例如 1234.50。")
NOT_CHOICE = _l("请从列表中选择。")
NOT_DATE = _l("请输入日期，格式为 2024-03-01。")
NOT_TIME = _l("请输入时间，格式为 08:30。")
NOT_DATETIME = _l("请输入日期和时间。")


# --- validators ----------------------------------------------------------------


def _max_length(n: int) -> Length:
    return Length(max=n, message=_l("不能超过 %(max)d 个字符。"))


def _int_range(lo: int, hi: int) -> NumberRange:
    return NumberRange(min=lo, max=hi, message=_l("请输入 %(min)s 到 %(max)s 之间的整数。"))


def _classification_code(form: Any, field: Field) -> None:
    if field.data and not is_valid_code(field.data):
        raise _ValidationError(_l("分类代码应为 6 位数字，前两位是 01–15 的大类，例如 010501。"))


class _Yuan:
    """An amount in yuan: finite, not negative, at most two decimals, ≤ max."""

    def __init__(self, maximum: Decimal) -> None:
        self.maximum = maximum

    def __call__(self, form: Any, field: Field) -> None:
        value = field.data
        if value is None:
            return
        if not value.is_finite():
            raise _ValidationError(NOT_NUMBER)
        if value < 0:
            raise _ValidationError(_l("金额不能为负数。"))
        if value > self.maximum:
            raise _ValidationError(_l("金额过大。"))
        if value != value.quantize(Decimal("0.01")):
            raise _ValidationError(_l("金额最多保留两位小数（精确到分）。"))


def yuan_to_fen(value: Decimal) -> int:
    """Exact conversion of a validated yuan amount (≤ 2 decimals) to fen."""
    fen = value * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{value} has more than two decimals")
    return int(fen)


def fen_to_yuan(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2)


# --- field builders ----------------------------------------------------------------


def _text(label: Any, max_len: int, *, required: bool = False, description: Any = "") -> Any:
    validators: list[Any] = [DataRequired(REQUIRED)] if required else [Optional()]
    validators += [_max_length(max_len), plain_text]
    return StringField(label, validators, filters=[_strip], description=description)


def _area(label: Any, max_len: int | None = None, description: Any = "") -> Any:
    validators: list[Any] = [Optional(), plain_text]
    if max_len:
        validators.append(_max_length(max_len))
    return TextAreaField(
        label, validators, filters=[_strip], description=description, render_kw={"rows": 3}
    )


def _service_category_label(key: str) -> str:
    # The category names are a reference table with both languages in code.
    return service_category_name(key, current_locale())


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _int(
    label: Any,
    lo: int,
    hi: int,
    *,
    required: bool = True,
    default: int | None = None,
    description: Any = "",
) -> Any:
    first = InputRequired(REQUIRED) if required else Optional()
    return IntegerField(
        label,
        [first, _int_range(lo, hi)],
        default=default,
        invalid_value_message=NOT_INTEGER,
        description=description,
    )


def _yuan(
    label: Any, *, required: bool, maximum: Decimal = MAX_PRICE_YUAN, description: Any = ""
) -> Any:
    first = InputRequired(REQUIRED) if required else Optional()
    return DecimalField(
        label,
        [first, _Yuan(maximum)],
        places=None,
        invalid_value_message=NOT_NUMBER,
        description=description,
        render_kw={"inputmode": "decimal", "step": "0.01", "min": "0"},
    )


def choice(value: str, label: Any) -> Any:
    """One select option; wtforms 3.3 deprecates plain (value, label) tuples."""
    if _SelectChoice is None:
        return (value, label)
    return _SelectChoice(value, label)


def choice_pairs(f: Any) -> list[tuple[str, Any]]:
    """(value, label) of a select field's options, whatever their shape."""
    pairs = []
    for item in f.choices or ():
        if isinstance(item, tuple):
            pairs.append((str(item[0]), item[1]))
        else:
            pairs.append((str(item.value), item.label))
    return pairs


def _select(label: Any, labels: dict[str, Any], default: str) -> Any:
    return SelectField(
        label,
        [InputRequired(REQUIRED)],
        choices=[choice(value, text) for value, text in labels.items()],
        default=default,
        invalid_choice_message=NOT_CHOICE,
    )


class MultiCheckboxField(SelectMultipleField):  # type: ignore[misc]
    """A set of checkboxes (the open weekdays)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


# --- forms ---------------------------------------------------------------------------


class CatalogueForm(FlaskForm):  # type: ignore[misc]
    """Common behaviour: service errors named by model field land on a form field."""

    # service field name -> form field name
    error_fields: ClassVar[Mapping[str, str]] = {}

    def attach_domain_error(self, error: DomainError) -> str | None:
        """Put a service's refusal next to the field it names; return the form
        field name used (None when it became a form-level error)."""
        name = self.error_fields.get(error.field or "", error.field)
        target = self._fields.get(name) if name else None
        if target is None:
            self.form_errors.append(str(error))
            return None
        target.errors = [*target.errors, str(error)]
        return str(name)


class InstrumentForm(CatalogueForm):
    """Every catalogue field of an instrument, its service modes with prices
    and lead times, and its booking policy."""

    error_fields: ClassVar[Mapping[str, str]] = {
        "original_value_fen": "original_value",
        "prices": "",
    }

    # 基本信息
    internal_no = _text(
        _l("内部编号"), 32, required=True, description=_l("本机构内唯一，导入时按它匹配已有仪器。")
    )
    name_zh = _text(_l("中文名称"), 128, required=True)
    name_en = _text(_l("英文名称"), 200)
    classification_code = StringField(
        _l("分类代码"),
        [DataRequired(REQUIRED), _classification_code],
        filters=[_strip],
        description=_l("6 位数字，例如 010501（分析仪器 · 色谱仪器）。"),
        render_kw={"inputmode": "numeric", "maxlength": "6", "pattern": "[0-9]{6}"},
    )
    model = _text(_l("规格型号"), 128)
    manufacturer = _text(_l("生产制造商"), 128)
    country_of_origin = _text(_l("产地国别"), 64)
    source = _select(_l("仪器来源"), SOURCE_LABELS, InstrumentSource.PURCHASED)
    original_value = _yuan(_l("原值（元）"), required=True, maximum=MAX_YUAN)
    commissioned_on = DateField(
        _l("启用日期"),
        [Optional(), plausible_year],
        format=["%Y-%m-%d", "%Y/%m/%d"],
        invalid_value_message=NOT_DATE,
    )
    location = _text(_l("安放地址"), 255)
    contact_name = _text(_l("联系人"), 64)
    contact_phone = _text(_l("联系电话"), 32)
    # 技术信息
    specifications = _area(_l("主要技术指标"), 500, description=_l("不超过 500 字。"))
    functions = _area(_l("主要功能"), 300, description=_l("不超过 300 字。"))
    subject_areas = _text(_l("主要学科领域"), 255)
    service_content = _area(_l("服务内容"))
    sharing_rules = _area(_l("共享要求与收费说明"))
    # 状态与共享
    status = _select(_l("运行状态"), INSTRUMENT_STATUS_LABELS, InstrumentStatus.NORMAL)
    sharing_mode = _select(_l("共享模式"), SHARING_MODE_LABELS, SharingMode.EXTERNAL)
    # 服务方式与价格: blank price = mode not offered
    price_occupy = _yuan(_l("占用共享价格（元/小时）"), required=False)
    lead_days_occupy = _int(_l("占用共享提前预约天数"), 0, 365, required=False)
    price_technical = _yuan(_l("技术共享价格（元/小时）"), required=False)
    lead_days_technical = _int(_l("技术共享提前预约天数"), 0, 365, required=False)
    price_entrusted = _yuan(_l("委托共享价格（元/小时）"), required=False)
    lead_days_entrusted = _int(_l("委托共享提前预约天数"), 0, 365, required=False)
    price_remote = _yuan(_l("远程共享价格（元/小时）"), required=False)
    lead_days_remote = _int(_l("远程共享提前预约天数"), 0, 365, required=False)
    # 预约规则
    slot_minutes = _int(_l("预约时间粒度（分钟）"), 1, 1440, default=60)
    min_minutes = _int(_l("最短预约时长（分钟）"), 1, 10080, default=60)
    max_minutes = _int(_l("最长预约时长（分钟）"), 1, 10080, default=480)
    open_weekdays = MultiCheckboxField(
        _l("开放日"),
        [DataRequired(_l("请至少选择一个开放日。"))],
        choices=[choice(value, text) for value, text in WEEKDAY_LABELS],
        default=["1", "2", "3", "4", "5"],
        invalid_choice_message=NOT_CHOICE,
        description=_l("导入时写作数字，例如 12345 表示周一至周五。"),
    )
    open_from = TimeField(
        _l("开放开始时间"),
        [InputRequired(REQUIRED)],
        format=["%H:%M", "%H:%M:%S"],
        default=time(8, 30),
        invalid_value_message=NOT_TIME,
    )
    open_until = TimeField(
        _l("开放结束时间"),
        [InputRequired(REQUIRED)],
        format=["%H:%M", "%H:%M:%S"],
        default=time(17, 30),
        invalid_value_message=NOT_TIME,
    )
    max_days_ahead = _int(_l("最多提前预约天数"), 1, 730, default=60)
    approval_required = BooleanField(_l("预约需审核"), default=True)
    cancel_cutoff_hours = _int(_l("免费取消截止（开始前小时数）"), 0, 720, default=24)
    cancel_fee_percent = _int(_l("逾期取消费比例（%）"), 0, 100, default=0)
    overrun_tolerance_minutes = _int(_l("超时容忍（分钟）"), 0, 1440, default=30)
    no_show_limit = _int(
        _l("爽约次数上限"),
        0,
        100,
        default=3,
        description=_l("达到上限后暂停预约资格；0 表示不限制。"),
    )
    no_show_window_days = _int(_l("爽约统计周期（天）"), 1, 3650, default=90)
    max_hours_per_week = _int(
        _l("每家企业每周最多机时"), 1, 168, required=False, description=_l("留空表示不限制。")
    )
    max_future_bookings = _int(
        _l("每家企业最多未开始预约数"), 1, 1000, required=False, description=_l("留空表示不限制。")
    )

    CATALOGUE_FIELDS = (
        "internal_no", "name_zh", "name_en", "classification_code", "model", "manufacturer",
        "country_of_origin", "source", "commissioned_on", "location", "contact_name",
        "contact_phone", "specifications", "functions", "subject_areas", "service_content",
        "sharing_rules", "status", "sharing_mode", "slot_minutes", "min_minutes",
        "max_minutes", "max_days_ahead", "approval_required", "cancel_cutoff_hours",
        "cancel_fee_percent", "overrun_tolerance_minutes", "no_show_limit",
        "no_show_window_days", "max_hours_per_week", "max_future_bookings", "open_from",
        "open_until",
    )  # fmt: skip

    def price_field(self, mode: str) -> Any:
        return self._fields[f"price_{mode}"]

    def lead_days_field(self, mode: str) -> Any:
        return self._fields[f"lead_days_{mode}"]

    def to_fields(self) -> dict[str, Any]:
        """The instrument's column values, ready for the catalogue services."""
        fields: dict[str, Any] = {key: self._fields[key].data for key in self.CATALOGUE_FIELDS}
        for key in (
            "name_en",
            "model",
            "manufacturer",
            "country_of_origin",
            "location",
            "contact_name",
            "contact_phone",
            "specifications",
            "functions",
            "subject_areas",
            "service_content",
            "sharing_rules",
        ):
            fields[key] = fields[key] or ""
        fields["approval_required"] = bool(fields["approval_required"])
        fields["original_value_fen"] = yuan_to_fen(self.original_value.data)
        fields["open_weekdays"] = "".join(sorted(set(self.open_weekdays.data or [])))
        return fields

    def to_prices(self) -> tuple[dict[str, int], dict[str, int]]:
        """(mode -> fen per hour, mode -> lead days) for the modes offered."""
        prices: dict[str, int] = {}
        lead_days: dict[str, int] = {}
        for mode in ServiceMode:
            price = self.price_field(mode).data
            if price is None:
                continue
            prices[mode] = yuan_to_fen(price)
            lead = self.lead_days_field(mode).data
            if lead is not None:
                lead_days[mode] = lead
        return prices, lead_days

    @classmethod
    def initial_data(cls, instrument: Instrument) -> dict[str, Any]:
        """Form data showing an existing instrument (edit form, export)."""
        data: dict[str, Any] = {key: getattr(instrument, key) for key in cls.CATALOGUE_FIELDS}
        data["original_value"] = fen_to_yuan(instrument.original_value_fen or 0)
        data["open_weekdays"] = list(instrument.open_weekdays or "")
        for mode in ServiceMode:
            row = instrument.price_for(mode)
            data[f"price_{mode}"] = fen_to_yuan(row.price_fen_per_hour) if row else None
            data[f"lead_days_{mode}"] = row.lead_days if row else None
        return data


class ServiceItemForm(CatalogueForm):
    """A testing service priced per sample."""

    error_fields: ClassVar[Mapping[str, str]] = {"unit_price_fen": "unit_price"}

    code = _text(
        _l("服务编号"), 32, required=True, description=_l("本机构内唯一，导入时按它匹配已有服务。")
    )
    name_zh = _text(_l("中文名称"), 128, required=True)
    name_en = _text(_l("英文名称"), 200)
    category = _select(
        _l("服务类别"),
        {key: LazyString(_service_category_label, key) for key in SERVICE_CATEGORY_CODES},
        "materials",
    )
    method_standard = _text(_l("方法标准"), 255, description=_l("例如 GB/T 228.1-2021。"))
    sample_requirements = _area(_l("样品要求"), 500)
    description = _area(_l("服务说明"))
    unit_price = _yuan(_l("单价（元/样）"), required=True)
    turnaround_days = _int(_l("检测周期（工作日）"), 1, 365, default=7)
    weekly_capacity = _int(_l("每周可接样品数"), 1, 100000, default=20)
    cma_scope = BooleanField(_l("在 CMA 资质认定范围内"))
    cnas_scope = BooleanField(_l("在 CNAS 认可范围内"))
    active = BooleanField(_l("对外提供"), default=True)

    CATALOGUE_FIELDS = (
        "code", "name_zh", "name_en", "category", "method_standard", "sample_requirements",
        "description", "turnaround_days", "weekly_capacity", "cma_scope", "cnas_scope",
        "active",
    )  # fmt: skip

    def to_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {key: self._fields[key].data for key in self.CATALOGUE_FIELDS}
        for key in ("name_en", "method_standard", "sample_requirements", "description"):
            fields[key] = fields[key] or ""
        for key in ("cma_scope", "cnas_scope", "active"):
            fields[key] = bool(fields[key])
        fields["unit_price_fen"] = yuan_to_fen(self.unit_price.data)
        return fields

    @classmethod
    def initial_data(cls, item: ServiceItem) -> dict[str, Any]:
        data: dict[str, Any] = {key: getattr(item, key) for key in cls.CATALOGUE_FIELDS}
        data["unit_price"] = fen_to_yuan(item.unit_price_fen)
        return data


class DowntimeForm(CatalogueForm):
    """A maintenance or closure window, entered in Beijing time."""

    kind = _select(_l("类型"), DOWNTIME_KIND_LABELS, DowntimeKind.MAINTENANCE)
    starts_at = DateTimeLocalField(
        _l("开始时间"),
        [InputRequired(REQUIRED), plausible_year],
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        invalid_value_message=NOT_DATETIME,
    )
    ends_at = DateTimeLocalField(
        _l("结束时间"),
        [InputRequired(REQUIRED), plausible_year],
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        invalid_value_message=NOT_DATETIME,
    )
    reason = _text(_l("原因"), 255)

    def window(self) -> tuple[datetime, datetime]:
        """The window as aware UTC datetimes (entered as Asia/Shanghai wall time)."""
        return _shanghai_to_utc(self.starts_at.data), _shanghai_to_utc(self.ends_at.data)


def _shanghai_to_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=SHANGHAI).astimezone(UTC)


IMPORT_KINDS = {"instruments": _l("仪器设备"), "services": _l("检测服务项目")}


class ImportForm(FlaskForm):  # type: ignore[misc]
    """Upload of a CSV or XLSX file; the content is checked by the importer."""

    kind = SelectField(
        _l("导入内容"),
        [InputRequired(REQUIRED)],
        choices=[choice(value, text) for value, text in IMPORT_KINDS.items()],
        default="instruments",
        invalid_choice_message=NOT_CHOICE,
    )
    file = FileField(
        _l("文件（CSV 或 XLSX）"),
        [FileRequired(_l("请选择要上传的文件。"))],
        render_kw={"accept": ".csv,.xlsx"},
    )
