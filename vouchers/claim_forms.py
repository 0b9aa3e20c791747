"""Forms of the claim pages: filing and correcting a claim, the authority's
decisions, closing a period and recording a payment.

Forms check shape only (required, length, an amount that parses); the rules
(evidence complete, invoice amount = contract amount, one invoice one claim,
account in the payee's own name, deadlines, states) live in vouchers.claims
and vouchers.settlement and come back as DomainErrors shown on the field.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from booking.core.validators import plain_text
from vouchers.forms import VoucherForm, _strip

MAX_FEN = 10**13  # ¥100 billion: anything above is a typo


def yuan_to_fen(text: str | None) -> int | None:
    """ "1,234.5" -> 123450; None when it is not an amount in yuan."""
    raw = (text or "").strip().replace(",", "").replace("，", "").lstrip("¥￥")
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0 or value.as_tuple().exponent < -2:  # type: ignore[operator]
        return None
    if value >= Decimal(MAX_FEN) / 100:  # also keeps quantize within decimal precision
        return None
    fen = int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return fen if fen < MAX_FEN else None


class ClaimForm(VoucherForm):
    """A new claim or a corrected one (files then replace only what is given)."""

    invoice_number = StringField(
        _l("发票号码"),
        [DataRequired(_l("请填写发票号码。")), Length(max=64), plain_text],
        filters=[_strip],
    )
    invoice_amount = StringField(
        _l("发票金额（元）"),
        [DataRequired(_l("请填写发票金额。")), Length(max=20)],
        filters=[_strip],
        description=_l("须与订单结算金额（合同金额）一致。"),
    )
    payee_account_name = StringField(
        _l("收款账户名称"),
        [DataRequired(_l("请填写收款账户名称。")), Length(max=128), plain_text],
        filters=[_strip],
        description=_l("须为收款单位本身的名称。"),
    )
    payee_bank = StringField(
        _l("开户银行"),
        [DataRequired(_l("请填写开户银行。")), Length(max=128), plain_text],
        filters=[_strip],
    )
    payee_account_no = StringField(
        _l("银行账号"),
        [DataRequired(_l("请填写银行账号。")), Length(max=64), plain_text],
        filters=[_strip],
    )
    contract = FileField(_l("合同（PDF）"))
    invoice = FileField(_l("发票（PDF）"))
    payment_proof = FileField(_l("企业付款凭证（PDF）"))
    usage_record = FileField(
        _l("签字的使用记录（PDF，可选）"),
        description=_l("预约的上机记录或检测报告已随订单附上；如有签字的使用记录可一并上传。"),
    )

    def validate_invoice_amount(self, field: Any) -> None:
        if yuan_to_fen(field.data) is None:
            raise ValidationError(_l("请输入以元为单位的金额，如 1234.50。"))

    @property
    def invoice_amount_fen(self) -> int | None:
        return yuan_to_fen(self.invoice_amount.data)


class ApproveForm(VoucherForm):
    """Approve a claim; nothing to enter."""


class ReasonForm(VoucherForm):
    """Return, void or claw back: the reason is required and shown to the payee."""

    reason = TextAreaField(
        _l("理由"),
        [DataRequired(_l("请填写理由。")), Length(max=1000), plain_text],
        filters=[_strip],
    )


class CloseForm(VoucherForm):
    period = StringField(
        _l("结算期"),
        [DataRequired(_l("请填写结算期。")), Length(max=8), plain_text],
        filters=[_strip],
        description=_l("月度如 2026-10，季度如 2026-Q4。"),
    )


class PaymentForm(VoucherForm):
    reference = StringField(
        _l("付款凭证号"),
        [DataRequired(_l("请填写付款凭证号。")), Length(max=128), plain_text],
        filters=[_strip],
    )
