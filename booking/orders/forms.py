"""Forms of the order pages: booking instrument time, ordering a testing
service, cancelling, confirming and rating, and the provider's service-order
actions.

Forms check shape only (required, length, a sane date, a number); the order
engine decides everything else and answers with a DomainError that
`attach_error` puts next to the field it names. Times are entered in
Beijing time and converted to aware UTC here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    DateTimeLocalField,
    Field,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.validators import ValidationError as _ValidationError

try:
    from wtforms import SelectChoice as _SelectChoice
except ImportError:  # wtforms < 3.3
    _SelectChoice = None

from booking.core.validators import EARLIEST_YEAR, LATEST_YEAR
from booking.errors import DomainError
from booking.i18n import SHANGHAI
from instruments.classification import SERVICE_MODE_LABELS
from instruments.models import Instrument

# Longest interval the form accepts at all (the instrument's policy is
# usually far shorter); guards date arithmetic against absurd numbers.
MAX_FORM_MINUTES = 7 * 24 * 60


def choice(value: Any, label: Any) -> Any:
    """One select option; wtforms 3.3 deprecates plain (value, label) tuples."""
    if _SelectChoice is None:
        return (value, label)
    return _SelectChoice(value, label)


def _to_int(value: Any) -> int:
    """Junk becomes 0, which the validators then refuse with a clear message."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def duration_label(minutes: int) -> str:
    if minutes % 60 == 0:
        return str(_l("%(h)s 小时", h=minutes // 60))
    return str(_l("%(m)s 分钟", m=minutes))


def duration_choices(instrument: Instrument) -> list[tuple[int, str]]:
    """Multiples of the slot between the instrument's min and max duration."""
    step = instrument.slot_minutes
    first = -(-instrument.min_minutes // step) * step
    return [(m, duration_label(m)) for m in range(first, instrument.max_minutes + 1, step)]


def mode_choices(instrument: Instrument) -> list[tuple[str, str]]:
    return [(p.mode, str(SERVICE_MODE_LABELS.get(p.mode, p.mode))) for p in instrument.prices]


def attach_domain_error(form: FlaskForm, error: DomainError) -> bool:
    """Put a refusal next to its field; False when no field of the form
    matches (the page then shows it above the form)."""
    field = form._fields.get(error.field) if error.field else None
    if field is None:
        return False
    field.errors = [*field.errors, str(error)]
    return True


def _sane_local(form: FlaskForm, field: Field) -> None:
    value = field.data
    if value is not None and not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise _ValidationError(str(_l("请输入有效的开始时间。")))


class BookingForm(FlaskForm):  # type: ignore[misc]
    """The booking request: start (Beijing time), duration, mode, notes."""

    starts_at = DateTimeLocalField(
        _l("开始时间"),
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[InputRequired(message=_l("请选择开始时间。")), _sane_local],
    )
    duration = SelectField(
        _l("时长"),
        coerce=_to_int,
        validate_choice=False,  # the engine explains a duration it refuses
        validators=[NumberRange(min=1, max=MAX_FORM_MINUTES, message=_l("请选择有效的预约时长。"))],
    )
    service_mode = SelectField(
        _l("服务方式"),
        validate_choice=False,
        validators=[DataRequired(message=_l("请选择服务方式。"))],
    )
    purpose = TextAreaField(_l("使用目的"), validators=[Optional(), Length(max=500)])
    sample_notes = TextAreaField(_l("样品说明"), validators=[Optional(), Length(max=500)])

    def setup(self, instrument: Instrument) -> BookingForm:
        self.duration.choices = [choice(m, label) for m, label in duration_choices(instrument)]
        self.service_mode.choices = [choice(m, label) for m, label in mode_choices(instrument)]
        return self

    def interval(self) -> tuple[datetime, datetime]:
        """[start, end) as aware UTC."""
        local_start: datetime = self.starts_at.data
        start = local_start.replace(tzinfo=SHANGHAI).astimezone(UTC)
        return start, start + timedelta(minutes=int(self.duration.data))


class ConfirmBookingForm(BookingForm):
    """The quote page posts the same fields back with its idempotency key."""

    # Hidden fields get an explicit empty label: without one WTForms builds a
    # translated default label, loading its own catalogue on every request.
    idempotency_key = HiddenField("", validators=[DataRequired(), Length(min=8, max=64)])
    # The payment option chosen on the quote page ("" = the firm pays in full).
    payment = HiddenField("", validators=[Optional(), Length(max=32)])


def _sane_week(form: FlaskForm, field: Field) -> None:
    if field.data is None:
        raise _ValidationError(str(_l("请选择检测周。")))


def _to_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


class ServiceOrderForm(FlaskForm):  # type: ignore[misc]
    quantity = IntegerField(
        _l("样品数量"),
        validators=[
            InputRequired(message=_l("请填写样品数量。")),
            NumberRange(min=1, max=10_000, message=_l("样品数量须为 1 至 10000 之间的整数。")),
        ],
    )
    week_start = SelectField(
        _l("检测周"), coerce=_to_date, validate_choice=False, validators=[_sane_week]
    )
    purpose = TextAreaField(_l("检测目的"), validators=[Optional(), Length(max=500)])
    sample_notes = TextAreaField(_l("样品说明"), validators=[Optional(), Length(max=500)])


class ConfirmServiceOrderForm(ServiceOrderForm):
    idempotency_key = HiddenField("", validators=[DataRequired(), Length(min=8, max=64)])
    payment = HiddenField("", validators=[Optional(), Length(max=32)])


class CancelForm(FlaskForm):  # type: ignore[misc]
    reason = StringField(_l("取消原因"), validators=[Optional(), Length(max=500)])


class RateForm(FlaskForm):  # type: ignore[misc]
    rating = SelectField(
        _l("评价"),
        coerce=_to_int,
        choices=[
            choice(5, _l("5 非常满意")),
            choice(4, _l("4 满意")),
            choice(3, _l("3 一般")),
            choice(2, _l("2 不满意")),
            choice(1, _l("1 极差")),
        ],
        validate_choice=False,
        validators=[NumberRange(min=1, max=5, message=_l("请选择 1 到 5 之间的评价。"))],
    )
    comment = TextAreaField(_l("评价意见"), validators=[Optional(), Length(max=500)])


class RejectForm(FlaskForm):  # type: ignore[misc]
    reason = TextAreaField(
        _l("拒绝理由"),
        validators=[DataRequired(message=_l("请填写拒绝理由。")), Length(max=500)],
    )


class CompleteServiceForm(FlaskForm):  # type: ignore[misc]
    samples_tested = IntegerField(
        _l("实际检测样品数"),
        validators=[
            InputRequired(message=_l("请填写实际检测样品数。")),
            NumberRange(min=1, max=10_000, message=_l("检测样品数无效。")),
        ],
    )
    report = FileField(
        _l("检测报告（PDF）"), validators=[FileRequired(message=_l("请上传检测报告。"))]
    )


class ActionForm(FlaskForm):  # type: ignore[misc]
    """A button with CSRF protection and nothing else."""
