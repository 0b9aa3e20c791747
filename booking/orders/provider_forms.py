"""Forms of the provider's order desk: decisions on requests, 上机/下机
records, cancellation, training authorisations, internal use (内部使用).

Forms check shape only (required, length, date format); the order engine
and `booking.orders.training` check the rules and answer with DomainErrors.
Times are entered as Beijing wall-clock time (datetime-local inputs) and
leave here as aware UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    DateField,
    DateTimeLocalField,
    EmailField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)

from booking.core.validators import plausible_year
from booking.db import MAX_ID
from booking.errors import DomainError
from booking.orders.clock import SHANGHAI, at_local

REQUIRED = _l("此项必填。")
NOT_DATETIME = _l("请输入日期和时间。")
NOT_DATE = _l("请输入日期，格式为 2024-03-01。")
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
NOT_TIME = _l("请输入时间，格式为 09:30。")
TIME_FORMATS = ["%H:%M", "%H:%M:%S"]

# Where a decision made from the request queue sends the provider back to.
RETURN_TARGETS = ("requests", "booking", "dashboard")


def local_to_utc(value: datetime) -> datetime:
    """A naive Beijing wall-clock time (as a datetime-local input gives it) as aware UTC."""
    return value.replace(tzinfo=SHANGHAI).astimezone(UTC)


def local_input_value(moment: datetime) -> str:
    """An aware moment as the value of a datetime-local input (Beijing time)."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


class ProviderForm(FlaskForm):  # type: ignore[misc]
    """CSRF and the page to return to; shows a DomainError next to its field."""

    return_to = HiddenField(default="booking")

    def attach_domain_error(self, error: DomainError) -> None:
        target = self._fields.get(error.field) if error.field else None
        if target is None or target.name in ("csrf_token", "return_to"):
            self.form_errors.append(str(error))
        else:
            target.errors = [*target.errors, str(error)]

    @property
    def target(self) -> str:
        value = self.return_to.data or ""
        return value if value in RETURN_TARGETS else "booking"


class ApproveForm(ProviderForm):
    """Approve a booking request; nothing to enter."""


class RejectForm(ProviderForm):
    reason = StringField(
        _l("拒绝理由"),
        [DataRequired(_l("请填写拒绝理由。")), Length(max=500)],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
    )


class CancelForm(ProviderForm):
    reason = StringField(
        _l("取消原因"),
        [DataRequired(_l("请填写取消原因。")), Length(max=500)],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
    )


class _MomentForm(ProviderForm):
    """One Beijing wall-clock moment; empty means now."""

    def moment(self, name: str, now: datetime) -> datetime:
        value: datetime | None = self._fields[name].data
        return local_to_utc(value) if value is not None else now


class CheckInForm(_MomentForm):
    checked_in_at = DateTimeLocalField(
        _l("上机时间"),
        [Optional(), plausible_year],
        format=DATETIME_FORMATS,
        invalid_value_message=NOT_DATETIME,
        description=_l("北京时间；留空为当前时间。"),
    )

    def at(self, now: datetime) -> datetime:
        return self.moment("checked_in_at", now)


class UsageForm(_MomentForm):
    checked_out_at = DateTimeLocalField(
        _l("下机时间"),
        [Optional(), plausible_year],
        format=DATETIME_FORMATS,
        invalid_value_message=NOT_DATETIME,
        description=_l("北京时间；留空为当前时间。登记后按实际机时计费并完成预约。"),
    )

    def at(self, now: datetime) -> datetime:
        return self.moment("checked_out_at", now)


def coerce_id(value: Any) -> int:
    """Junk in a select becomes 0, which is never an id (and fails the form)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 0
    return number if 0 < number <= MAX_ID else 0


def _chosen(form: Any, field: Any) -> None:
    if not field.data:
        raise ValidationError(_l("请从列表中选择。"))


class TrainingGrantForm(FlaskForm):  # type: ignore[misc]
    # Membership is not checked here: the service answers NotFound (404) for
    # another provider's instrument, as for every other object of theirs.
    instrument_id = SelectField(
        _l("仪器"), [_chosen], coerce=coerce_id, choices=[], validate_choice=False
    )
    email = EmailField(
        _l("企业用户邮箱"),
        [DataRequired(REQUIRED), Email(_l("请输入有效的邮箱地址。")), Length(max=254)],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
    )
    valid_until = DateField(
        _l("有效期至"),
        [Optional(), plausible_year],
        format="%Y-%m-%d",
        invalid_value_message=NOT_DATE,
        description=_l("含当天；留空为长期有效。"),
    )
    note = TextAreaField(_l("备注"), [Optional(), Length(max=255)], render_kw={"rows": 2})

    def __init__(self, *args: Any, instruments: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instrument_id.choices = instruments

    def end(self) -> datetime | None:
        """Valid through the chosen Beijing day: the end is the next midnight."""
        day: date | None = self.valid_until.data
        return at_local(day + timedelta(days=1), time(0)) if day else None

    def attach_domain_error(self, error: DomainError) -> None:
        target = self._fields.get(error.field) if error.field else None
        if target is None or target.name == "csrf_token":
            self.form_errors.append(str(error))
        else:
            target.errors = [*target.errors, str(error)]


class RevokeForm(FlaskForm):  # type: ignore[misc]
    """Revoke a training authorisation; nothing to enter."""


# --- internal use (内部使用) -----------------------------------------------------------


# The service's interval fields, as this form (and the import file) names them.
INTERNAL_USE_ERROR_FIELDS = {"starts_at": "start", "ends_at": "end"}


class InternalUseForm(FlaskForm):  # type: ignore[misc]
    """One session of the provider's own use: a Beijing date with start and
    end times. The import validates each file row with this same form, so
    its fields are exactly the file's columns (no hidden fields)."""

    date = DateField(
        _l("日期"),
        [InputRequired(REQUIRED), plausible_year],
        format="%Y-%m-%d",
        invalid_value_message=NOT_DATE,
        description=_l("北京时间，如 2026-03-01。"),
    )
    start = TimeField(
        _l("开始时间"),
        [InputRequired(REQUIRED)],
        format=TIME_FORMATS,
        invalid_value_message=NOT_TIME,
        description=_l("如 09:00。"),
    )
    end = TimeField(
        _l("结束时间"),
        [InputRequired(REQUIRED)],
        format=TIME_FORMATS,
        invalid_value_message=NOT_TIME,
        description=_l("须晚于开始时间；跨午夜的使用请分两条登记。"),
    )
    purpose = StringField(
        _l("用途"),
        [Optional(), Length(max=255)],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        description=_l("如：课题组科研测试、教学实验、期间核查。"),
    )

    def interval(self) -> tuple[datetime, datetime]:
        """[start, end) on the chosen Beijing day, as aware UTC."""
        day = self.date.data
        return at_local(day, self.start.data), at_local(day, self.end.data)

    def attach_domain_error(self, error: DomainError) -> None:
        name = INTERNAL_USE_ERROR_FIELDS.get(error.field or "", error.field)
        target = self._fields.get(name) if name else None
        if target is None or target.name == "csrf_token":
            self.form_errors.append(str(error))
        else:
            target.errors = [*target.errors, str(error)]


class VoidInternalUseForm(ProviderForm):
    reason = StringField(
        _l("作废原因"),
        [DataRequired(_l("请填写作废原因。")), Length(max=255)],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
    )


class InternalUseImportForm(ProviderForm):
    """Upload of a CSV or XLSX file; the importer checks its content."""

    file = FileField(
        _l("文件（CSV 或 XLSX）"),
        [FileRequired(_l("请选择要上传的文件。"))],
        render_kw={"accept": ".csv,.xlsx"},
    )
