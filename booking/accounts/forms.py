"""Forms for accounts and the admin pages. They check shape only (required,
lengths, email format, password confirmation); business rules live in
`booking.accounts.services`. Also the display labels of the accounts enums."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, ValidationError

from booking.accounts.models import (
    EnterpriseCategory,
    OrgKind,
    ProviderType,
    UserRole,
    VerificationStatus,
)

# --- labels shown for stored enum values ------------------------------------------

KIND_LABELS: dict[str, Any] = {
    OrgKind.ENTERPRISE: _l("企业"),
    OrgKind.PROVIDER: _l("服务机构"),
    OrgKind.AUTHORITY: _l("主管部门"),
    OrgKind.PLATFORM: _l("平台运营方"),
}
STATUS_LABELS: dict[str, Any] = {
    VerificationStatus.PENDING: _l("待认证"),
    VerificationStatus.VERIFIED: _l("已认证"),
    VerificationStatus.REJECTED: _l("已驳回"),
}
CATEGORY_LABELS: dict[str, Any] = {
    EnterpriseCategory.TECH_SME: _l("科技型中小企业"),
    EnterpriseCategory.HIGH_TECH: _l("高新技术企业"),
    EnterpriseCategory.OTHER: _l("其他企业"),
}
PROVIDER_TYPE_LABELS: dict[str, Any] = {
    ProviderType.UNIVERSITY: _l("高等院校"),
    ProviderType.INSTITUTE: _l("科研院所"),
    ProviderType.TESTING_BODY: _l("检验检测机构"),
    ProviderType.ENGINEERING_CENTRE: _l("企业工程中心"),
}
ROLE_LABELS: dict[str, Any] = {
    UserRole.ADMIN: _l("机构管理员"),
    UserRole.STAFF: _l("工作人员"),
}

ACTION_LABELS: dict[str, Any] = {
    "organization.register": _l("提交注册"),
    "organization.verify": _l("通过认证"),
    "organization.reject": _l("驳回认证"),
    "organization.create": _l("创建机构"),
    "organization.add_user": _l("添加用户"),
}

LABELS = {
    "action": ACTION_LABELS,
    "kind": KIND_LABELS,
    "status": STATUS_LABELS,
    "category": CATEGORY_LABELS,
    "provider_type": PROVIDER_TYPE_LABELS,
    "role": ROLE_LABELS,
}

# --- shared validators ------------------------------------------------------------

REQUIRED = _l("此项为必填项。")


def required() -> DataRequired:
    return DataRequired(message=REQUIRED)


def max_length(n: int) -> Length:
    return Length(max=n, message=_l("不能超过 %(max)d 个字符。"))


def email_format() -> Email:
    return Email(message=_l("请输入有效的邮箱地址。"))


class ChoiceField(SelectField):  # type: ignore[misc]
    """A select whose refusal of a tampered value speaks Chinese like the rest."""

    data: Any

    def pre_validate(self, form: Any) -> None:
        values = {str(value) for value, *_ in self.iter_choices()}
        if self.data is None or str(self.data) not in values:
            raise ValidationError(_l("请从列表中选择。"))

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None


# --- sign-in and passwords ---------------------------------------------------------


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(_l("邮箱"), validators=[required(), max_length(254)])
    password = PasswordField(_l("密码"), validators=[required(), max_length(128)])
    remember = BooleanField(_l("在此设备上保持登录 7 天"))
    submit = SubmitField(_l("登录"))


class ChangePasswordForm(FlaskForm):  # type: ignore[misc]
    current_password = PasswordField(_l("当前密码"), validators=[required(), max_length(128)])
    new_password = PasswordField(
        _l("新密码"),
        validators=[required(), max_length(128)],
        description=_l("至少 10 个字符，须同时包含字母和数字。"),
    )
    confirm = PasswordField(
        _l("确认新密码"),
        validators=[required(), EqualTo("new_password", message=_l("两次输入的密码不一致。"))],
    )
    submit = SubmitField(_l("修改密码"))


# --- enterprise self-registration -------------------------------------------------------


class RegistrationForm(FlaskForm):  # type: ignore[misc]
    name_zh = StringField(_l("企业名称"), validators=[required(), max_length(128)])
    name_en = StringField(_l("英文名称"), validators=[Optional(), max_length(200)])
    uscc = StringField(
        _l("统一社会信用代码"),
        validators=[required(), max_length(32)],
        description=_l("18 位，见营业执照。"),
    )
    region_id = ChoiceField(_l("所属区域"), coerce=int, validators=[required()])
    enterprise_category = ChoiceField(_l("企业类别"), validators=[required()])
    controller_name = StringField(_l("实际控制人"), validators=[required(), max_length(128)])
    address = StringField(_l("通讯地址"), validators=[Optional(), max_length(255)])
    contact_name = StringField(_l("联系人姓名"), validators=[required(), max_length(64)])
    contact_phone = StringField(_l("联系电话"), validators=[required(), max_length(32)])
    email = EmailField(_l("登录邮箱"), validators=[required(), email_format(), max_length(254)])
    password = PasswordField(
        _l("密码"),
        validators=[required(), max_length(128)],
        description=_l("至少 10 个字符，须同时包含字母和数字。"),
    )
    confirm = PasswordField(
        _l("确认密码"),
        validators=[required(), EqualTo("password", message=_l("两次输入的密码不一致。"))],
    )
    submit = SubmitField(_l("提交注册"))

    def __init__(self, regions: list[tuple[int, str]], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.region_id.choices = [(0, _l("请选择区域")), *regions]
        self.enterprise_category.choices = list(CATEGORY_LABELS.items())


# --- admin pages -------------------------------------------------------------------------


class RejectForm(FlaskForm):  # type: ignore[misc]
    reason = TextAreaField(
        _l("驳回原因"),
        validators=[required(), max_length(500)],
        description=_l("申请企业将看到此原因。"),
    )
    submit = SubmitField(_l("驳回"))


class VerifyForm(FlaskForm):  # type: ignore[misc]
    submit = SubmitField(_l("通过认证"))


class OrganizationForm(FlaskForm):  # type: ignore[misc]
    kind = ChoiceField(_l("机构类型"), validators=[required()])
    name_zh = StringField(_l("机构名称"), validators=[required(), max_length(128)])
    name_en = StringField(_l("英文名称"), validators=[Optional(), max_length(200)])
    uscc = StringField(_l("统一社会信用代码"), validators=[required(), max_length(32)])
    uscc_override_reason = TextAreaField(
        _l("校验位例外原因"),
        validators=[Optional(), max_length(500)],
        description=_l("仅当代码真实有效但未通过校验位检查时填写，将记入审计记录。"),
    )
    region_id = ChoiceField(_l("所属区域"), coerce=int, validators=[required()])
    provider_type = ChoiceField(_l("服务机构类别"), validators=[Optional()])
    contact_name = StringField(_l("联系人"), validators=[Optional(), max_length(64)])
    contact_phone = StringField(_l("联系电话"), validators=[Optional(), max_length(32)])
    address = StringField(_l("地址"), validators=[Optional(), max_length(255)])
    submit = SubmitField(_l("创建机构"))

    def __init__(self, regions: list[tuple[int, str]], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind.choices = [
            (OrgKind.PROVIDER, KIND_LABELS[OrgKind.PROVIDER]),
            (OrgKind.AUTHORITY, KIND_LABELS[OrgKind.AUTHORITY]),
        ]
        self.region_id.choices = [(0, _l("请选择区域")), *regions]
        self.provider_type.choices = [
            ("", _l("（主管部门不填）")),
            *PROVIDER_TYPE_LABELS.items(),
        ]


class NewUserForm(FlaskForm):  # type: ignore[misc]
    name = StringField(_l("姓名"), validators=[required(), max_length(64)])
    email = EmailField(_l("登录邮箱"), validators=[required(), email_format(), max_length(254)])
    phone = StringField(_l("电话"), validators=[Optional(), max_length(32)])
    role = ChoiceField(_l("角色"), validators=[required()])
    password = PasswordField(
        _l("初始密码"),
        validators=[required(), max_length(128)],
        description=_l("至少 10 个字符，须同时包含字母和数字。"),
    )
    confirm = PasswordField(
        _l("确认密码"),
        validators=[required(), EqualTo("password", message=_l("两次输入的密码不一致。"))],
    )
    submit = SubmitField(_l("添加用户"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = list(ROLE_LABELS.items())
