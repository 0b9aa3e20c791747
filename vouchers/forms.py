"""Forms of the voucher pages: programmes (authority), applications (firm),
decisions on applications and grants (authority).

Forms check shape only: required fields, lengths, date formats, and money
as yuan with at most two decimals (the catalogue's own validator and exact
Decimal conversion, plus "more than zero"). Rules across fields or rows come
back from `vouchers.programmes` as DomainErrors, which `attach_domain_error`
puts next to the field they name.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    DateField,
    DecimalField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from booking.accounts.forms import CATEGORY_LABELS
from booking.core.validators import plain_text, plausible_year
from booking.errors import DomainError
from instruments.forms import (
    MAX_YUAN,
    NOT_DATE,
    NOT_INTEGER,
    NOT_NUMBER,
    REQUIRED,
    MultiCheckboxField,
    _Yuan,
    choice,
    fen_to_yuan,
    yuan_to_fen,
)
from vouchers.models import Programme
from vouchers.programmes import (
    CYCLE_LABELS,
    MODE_LABELS,
    SERVICE_KIND_LABELS,
    Application,
    ProgrammeInput,
)

DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d"]


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class _PositiveYuan(_Yuan):
    """Yuan as the catalogue accepts it (finite, ≤ 2 decimals, bounded) and
    more than zero: a voucher amount of nothing is a typing slip."""

    def __call__(self, form: Any, field: Any) -> None:
        super().__call__(form, field)
        if field.data is not None and field.data <= 0:
            raise ValidationError(_l("金额必须大于零。"))


def _yuan(label: Any, *, required: bool = True, description: Any = "") -> Any:
    first = InputRequired(REQUIRED) if required else Optional()
    return DecimalField(
        label,
        [first, _PositiveYuan(MAX_YUAN)],
        places=None,
        invalid_value_message=NOT_NUMBER,
        description=description,
        render_kw={"inputmode": "decimal", "step": "0.01", "min": "0.01"},
    )


def _fen(value: Decimal | None) -> int | None:
    return None if value is None else yuan_to_fen(value)


def _date(label: Any, description: Any = "") -> Any:
    return DateField(
        label,
        [InputRequired(REQUIRED), plausible_year],
        format=DATE_FORMATS,
        invalid_value_message=NOT_DATE,
        description=description,
    )


def _reason_field(label: Any) -> Any:
    return StringField(
        label,
        [DataRequired(_l("请填写理由。")), Length(max=500), plain_text],
        filters=[_strip],
    )


def _coerce_id(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class VoucherForm(FlaskForm):  # type: ignore[misc]
    """CSRF, and a service's refusal shown next to the field it names."""

    def attach_domain_error(self, error: DomainError) -> None:
        target = self._fields.get(error.field) if error.field else None
        if target is None or target.name == "csrf_token":
            self.form_errors.append(str(error))
        else:
            target.errors = [*target.errors, str(error)]


class ProgrammeForm(VoucherForm):
    """A programme's settings; money in yuan."""

    code = StringField(
        _l("券种编号"),
        [
            DataRequired(REQUIRED),
            Length(max=32),
            Regexp(r"^[A-Za-z0-9_-]+$", message=_l("只能使用字母、数字、- 和 _。")),
        ],
        filters=[_strip],
    )
    name_zh = StringField(
        _l("中文名称"), [DataRequired(REQUIRED), Length(max=128), plain_text], filters=[_strip]
    )
    name_en = StringField(
        _l("英文名称"), [Optional(), Length(max=200), plain_text], filters=[_strip]
    )
    fiscal_year = IntegerField(
        _l("年度"),
        [InputRequired(REQUIRED), NumberRange(2000, 2100, _l("请输入 2000 到 2100 之间的年份。"))],
        invalid_value_message=NOT_INTEGER,
    )
    budget = _yuan(_l("总预算（元）"))
    subsidy_percent = IntegerField(
        _l("补贴比例（%）"),
        [InputRequired(REQUIRED), NumberRange(1, 100, _l("请输入 1 到 100 之间的整数。"))],
        invalid_value_message=NOT_INTEGER,
        description=_l("创新券支付合同金额的比例。"),
    )
    enterprise_cap = _yuan(_l("每家企业年度上限（元）"))
    order_cap = _yuan(_l("单笔订单上限（元）"), required=False, description=_l("留空表示不限制。"))
    group_cap = _yuan(
        _l("同一实际控制人上限（元）"),
        required=False,
        description=_l("同一实际控制人名下企业共用的上限；留空表示不限制。"),
    )
    mode = SelectField(
        _l("兑付方式"),
        [InputRequired(REQUIRED)],
        choices=[choice(k, v) for k, v in MODE_LABELS.items()],
        invalid_choice_message=_l("请从列表中选择。"),
    )
    eligible_categories = MultiCheckboxField(
        _l("适用企业类别"),
        [Optional()],
        choices=[choice(k, v) for k, v in CATEGORY_LABELS.items()],
        invalid_choice_message=_l("请从列表中选择。"),
        description=_l("不选表示所有类别的企业均可申请。"),
    )
    eligible_kinds = MultiCheckboxField(
        _l("可支付的服务类型"),
        [DataRequired(_l("请至少选择一种可支付的服务类型。"))],
        choices=[choice(k, v) for k, v in SERVICE_KIND_LABELS.items()],
        invalid_choice_message=_l("请从列表中选择。"),
    )
    providers = SelectMultipleField(
        _l("认可的服务机构"),
        [Optional()],
        coerce=_coerce_id,
        choices=[],
        invalid_choice_message=_l("请从列表中选择。"),
        description=_l("可选择其他区域的服务机构（跨区域通用通兑）。"),
        render_kw={"size": 8},
    )
    applications_open_on = _date(_l("申请开始日期"))
    applications_close_on = _date(_l("申请截止日期"))
    valid_until = _date(_l("券种有效期至"), _l("此后创新券不能再用于新的订单。"))
    claim_deadline = _date(_l("兑付申请截止日期"))
    settlement_cycle = SelectField(
        _l("结算周期"),
        [InputRequired(REQUIRED)],
        choices=[choice(k, v) for k, v in CYCLE_LABELS.items()],
        invalid_choice_message=_l("请从列表中选择。"),
    )
    split_window_days = IntegerField(
        _l("拆单识别期（天）"),
        [InputRequired(REQUIRED), NumberRange(1, 366, _l("请输入 1 到 366 之间的整数。"))],
        default=30,
        invalid_value_message=NOT_INTEGER,
        description=_l(
            "同一企业在此期限内向同一机构同一项目下的多笔订单合计超过单笔上限时标记为疑似拆单。"
        ),
    )

    def __init__(self, *args: Any, providers: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.providers.choices = [choice(str(i), label) for i, label in providers]

    @classmethod
    def data_of(cls, programme: Programme) -> dict[str, Any]:
        """The form's initial values for editing `programme`."""
        return {
            "code": programme.code,
            "name_zh": programme.name_zh,
            "name_en": programme.name_en,
            "fiscal_year": programme.fiscal_year,
            "budget": fen_to_yuan(programme.budget_fen),
            "subsidy_percent": programme.subsidy_percent,
            "enterprise_cap": fen_to_yuan(programme.enterprise_cap_fen),
            "order_cap": None
            if programme.order_cap_fen is None
            else fen_to_yuan(programme.order_cap_fen),
            "group_cap": None
            if programme.group_cap_fen is None
            else fen_to_yuan(programme.group_cap_fen),
            "mode": programme.mode,
            "eligible_categories": list(programme.eligible_categories),
            "eligible_kinds": list(programme.eligible_kinds),
            "providers": [link.provider_id for link in programme.recognised],
            "applications_open_on": programme.applications_open_on,
            "applications_close_on": programme.applications_close_on,
            "valid_until": programme.valid_until,
            "claim_deadline": programme.claim_deadline,
            "settlement_cycle": programme.settlement_cycle,
            "split_window_days": programme.split_window_days,
        }

    def to_input(self) -> ProgrammeInput:
        return ProgrammeInput(
            code=self.code.data,
            name_zh=self.name_zh.data,
            name_en=self.name_en.data or "",
            fiscal_year=self.fiscal_year.data,
            budget_fen=yuan_to_fen(self.budget.data),
            subsidy_percent=self.subsidy_percent.data,
            enterprise_cap_fen=yuan_to_fen(self.enterprise_cap.data),
            order_cap_fen=_fen(self.order_cap.data),
            group_cap_fen=_fen(self.group_cap.data),
            mode=self.mode.data,
            eligible_categories=list(self.eligible_categories.data or []),
            eligible_kinds=list(self.eligible_kinds.data or []),
            provider_ids=[i for i in (self.providers.data or []) if i],
            applications_open_on=self.applications_open_on.data,
            applications_close_on=self.applications_close_on.data,
            valid_until=self.valid_until.data,
            claim_deadline=self.claim_deadline.data,
            settlement_cycle=self.settlement_cycle.data,
            split_window_days=self.split_window_days.data,
        )


class ApplicationForm(VoucherForm):
    """A firm's application for a grant, with its certificate."""

    amount = _yuan(_l("申请金额（元）"))
    purpose = TextAreaField(
        _l("用途说明"),
        [Optional(), Length(max=500), plain_text],
        filters=[_strip],
        render_kw={"rows": 3},
    )
    category = SelectField(
        _l("企业类别"),
        [InputRequired(REQUIRED)],
        choices=[choice(k, v) for k, v in CATEGORY_LABELS.items()],
        invalid_choice_message=_l("请从列表中选择。"),
    )
    certificate_no = StringField(
        _l("证书编号"), [DataRequired(REQUIRED), Length(max=64), plain_text], filters=[_strip]
    )
    certificate_valid_from = _date(_l("证书有效期起"))
    certificate_valid_until = _date(_l("证书有效期至"))
    evidence = FileField(
        _l("证书扫描件（PDF）"),
        [FileRequired(_l("请上传证书的 PDF 文件。"))],
        render_kw={"accept": "application/pdf,.pdf"},
    )
    # One key per rendered form: a double submit makes one application.
    idempotency_key = HiddenField(
        validators=[Optional(), Regexp(r"^[A-Za-z0-9_-]{1,64}$", message=_l("请求无效。"))]
    )

    def to_application(self) -> Application:
        return Application(
            amount_fen=yuan_to_fen(self.amount.data),
            category=self.category.data,
            certificate_no=self.certificate_no.data,
            certificate_valid_from=self.certificate_valid_from.data,
            certificate_valid_until=self.certificate_valid_until.data,
            purpose=self.purpose.data or "",
            idempotency_key=self.idempotency_key.data or None,
        )


class ApproveGrantForm(VoucherForm):
    approved_amount = _yuan(
        _l("批准金额（元）"), required=False, description=_l("留空按申请金额批准。")
    )

    def amount_fen(self) -> int | None:
        return _fen(self.approved_amount.data)


class RejectGrantForm(VoucherForm):
    reason = _reason_field(_l("驳回理由"))


class SuspendGrantForm(VoucherForm):
    reason = _reason_field(_l("暂停理由"))


class ActionForm(VoucherForm):
    """A button with CSRF protection and nothing else."""
