"""Claims (兑付) for the payee, and claim review and settlement for the authority.

Blueprint `claims` (/claims) is the payee's desk — the provider under 通兑,
the enterprise under 通用: the uses it may claim, filing and correcting a
claim, its claims with evidence and history, its settlement statements
(print view, PDF, CSV/XLSX).

Blueprint `voucher_settlement` (/authority/settlement) is the issuing
authority's: the review queue (filter, sort, paginate; navigation badge
`pending_claims`), one claim with its evidence and the decisions its state
allows, closing a period, batches with their per-payee statement and
cross-region matrix, recording the payment, print views, PDFs and exports.

Every object is looked up through the caller's organization: another
payee's or another authority's claim or batch is a 404, as is any page of
the other blueprint. Evidence is served to the payee and the issuing
authority only. Views stay thin: the services decide and audit; the view
commits once or rolls back and shows the message (409 for a state that does
not allow the action, 422 for other refused input).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn
from xml.sax.saxutils import escape

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from booking.accounts.loader import current_actor, restrict_blueprint
from booking.accounts.models import OrgKind
from booking.audit.services import actor_names, history
from booking.core.navigation import BADGE_COUNTERS
from booking.core.pagination import paginate, parse_int, parse_sort
from booking.core.spreadsheets import download, export_format, local_text, yuan_cell, yuan_text
from booking.core.uploads import MAX_PDF_BYTES, resolve
from booking.errors import DomainError, InvalidTransition, NotFound
from booking.extensions import db, utcnow
from booking.i18n import current_locale, money
from booking.orders import service_orders as so
from booking.orders.models import ServiceOrder

# The order desk's export plumbing (CSV with BOM / XLSX, formula-safe cells).
from vouchers import claims, settlement
from vouchers.claim_forms import (
    ApproveForm,
    ClaimForm,
    CloseForm,
    PaymentForm,
    ReasonForm,
)
from vouchers.forms import VoucherForm
from vouchers.models import (
    BatchStatus,
    Claim,
    ClaimStatus,
    Programme,
    SettlementBatch,
    StatementLine,
    VoucherUse,
)

bp = Blueprint("claims", __name__, url_prefix="/claims")
settlement_bp = Blueprint("voucher_settlement", __name__, url_prefix="/authority/settlement")

restrict_blueprint(bp, OrgKind.PROVIDER, OrgKind.ENTERPRISE)
restrict_blueprint(settlement_bp, OrgKind.AUTHORITY)
BADGE_COUNTERS["pending_claims"] = claims.pending_claim_count

PAGE_SIZE = 20
# One export is one authority's claims; this bounds one file (a few MB).
EXPORT_MAX_ROWS = 50_000
PDF_MIMETYPE = "application/pdf"

STATUS_BADGES = {
    ClaimStatus.SUBMITTED: "bg-warning text-dark",
    ClaimStatus.RETURNED: "bg-info text-dark",
    ClaimStatus.APPROVED: "bg-primary",
    ClaimStatus.PAID: "bg-success",
    ClaimStatus.VOIDED: "bg-dark",
    ClaimStatus.CLAWED_BACK: "bg-danger",
}


@bp.app_template_global()
def claim_status_label(status: str) -> str:
    return claims.status_label(status)


@bp.app_template_global()
def claim_status_badge(status: str) -> str:
    return (
        STATUS_BADGES.get(ClaimStatus(status), "bg-secondary") if status in set(ClaimStatus) else ""
    )


@bp.app_template_global()
def batch_status_label(status: str) -> str:
    return str(_("已付款") if status == BatchStatus.PAID else _("待付款"))


# --- shared helpers ---------------------------------------------------------------------


def _org_id() -> int:
    return current_actor().organization_id


def _not_found() -> NoReturn:
    abort(404)


def _page(name: str = "page") -> int:
    return parse_int(request.args.get(name), 1, 1, 100_000)


def _upload_root() -> Path:
    return Path(str(current_app.config["UPLOAD_DIR"]))


def _uploads() -> dict[str, claims.Upload | None]:
    found: dict[str, claims.Upload | None] = {}
    for kind in claims.UPLOAD_KINDS:
        storage = request.files.get(kind.value)
        if storage is not None and storage.filename:
            found[kind.value] = claims.Upload(storage.stream, storage.filename)
    return found


def _details(form: ClaimForm) -> claims.ClaimDetails:
    return claims.ClaimDetails(
        invoice_number=form.invoice_number.data or "",
        invoice_amount_fen=form.invoice_amount_fen,
        payee_account_name=form.payee_account_name.data or "",
        payee_bank=form.payee_bank.data or "",
        payee_account_no=form.payee_account_no.data or "",
    )


def _history(claim_id: int) -> dict[str, Any]:
    events = history(claims.OBJECT_TYPE, claim_id)
    return {
        "events": events,
        "actor_names": actor_names(events),
        "action_labels": claims.ACTION_LABELS,
    }


def _send_evidence(claim: Claim, kind: str) -> ResponseReturnValue:
    evidence = claims.evidence_of(claim, kind)
    if evidence is None or not claims.may_read_evidence(claim, current_actor()):
        _not_found()
    path = resolve(_upload_root(), evidence.path)
    if path is None or not path.is_file():
        _not_found()
    response = send_file(
        path, mimetype=PDF_MIMETYPE, as_attachment=True, download_name=evidence.original_name
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _send_report(claim: Claim) -> ResponseReturnValue:
    """The service order's test report, attached to the claim by reference."""
    if not claims.may_read_evidence(claim, current_actor()) or claim.use.service_order_id is None:
        _not_found()
    order = db.session.get(ServiceOrder, claim.use.service_order_id)
    if order is None or not order.report_path:
        _not_found()
    path = resolve(so.reports_dir(current_app.config), order.report_path)
    if path is None or not path.is_file():
        _not_found()
    response = send_file(
        path,
        mimetype=PDF_MIMETYPE,
        as_attachment=True,
        download_name=order.report_name or "report.pdf",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _claim_context(claim: Claim) -> dict[str, Any]:
    return {
        "claim": claim,
        "use": claim.use,
        "usage": claims.usage_record(claim.use),
        "evidence_labels": claims.EVIDENCE_LABELS,
        "evidence": {e.kind: e for e in claim.evidence},
        "history": _history(claim.id),
    }


# --- PDF --------------------------------------------------------------------------------

_FONT = "STSong-Light"


def _pdf(title: str, lines: Sequence[str], tables: Sequence[tuple[str, list[list[str]]]]) -> bytes:
    """A plain A4 document: a title, a few lines, then titled tables.
    Chinese needs a CJK font: reportlab's built-in CID font STSong-Light
    (the reader's own font renders it; nothing is embedded)."""
    from reportlab.lib import colors  # type: ignore[import-untyped]
    from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
    from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
    from reportlab.lib.units import mm  # type: ignore[import-untyped]
    from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont  # type: ignore[import-untyped]
    from reportlab.platypus import (  # type: ignore[import-untyped]
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(_FONT))
    heading = ParagraphStyle("h", fontName=_FONT, fontSize=15, leading=20, spaceAfter=6)
    body = ParagraphStyle("b", fontName=_FONT, fontSize=9.5, leading=14)
    small = ParagraphStyle("s", fontName=_FONT, fontSize=8.5, leading=11)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=title,
    )
    story: list[Any] = [Paragraph(escape(title), heading)]
    story += [Paragraph(escape(line), body) for line in lines]
    for caption, rows in tables:
        story += [Spacer(1, 4 * mm), Paragraph(escape(caption), body), Spacer(1, 2 * mm)]
        cells = [[Paragraph(escape(str(c)), small) for c in row] for row in rows]
        table = Table(cells, repeatRows=1)
        table.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        story.append(table)
    doc.build(story)
    return buffer.getvalue()


def _send_pdf(data: bytes, name: str) -> ResponseReturnValue:
    response = send_file(
        io.BytesIO(data), mimetype=PDF_MIMETYPE, as_attachment=True, download_name=f"{name}.pdf"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# --- statements (shared by the payee and the authority) ----------------------------------


def _batch_claims(batch_id: int, payee_id: int | None = None) -> list[Claim]:
    stmt = (
        select(Claim)
        .where(Claim.batch_id == batch_id)
        .options(
            selectinload(Claim.use).selectinload(VoucherUse.enterprise),
            selectinload(Claim.use).selectinload(VoucherUse.provider),
            selectinload(Claim.programme),
            selectinload(Claim.payee),
        )
        .order_by(Claim.payee_id, Claim.id)
        .limit(EXPORT_MAX_ROWS)
    )
    if payee_id is not None:
        stmt = stmt.where(Claim.payee_id == payee_id)
    return list(db.session.scalars(stmt))


def _claim_row(claim: Claim, xlsx: bool) -> list[Any]:
    amount: Any = yuan_cell(claim.amount_fen, xlsx)
    return [
        claim.id,
        claim.programme.name(current_locale()),
        claim.payee.name_zh,
        claim.use.enterprise.name_zh,
        claim.use.provider.name_zh,
        claim.invoice_number,
        amount,
        claims.status_label(claim.status),
        local_text(claim.submitted_at),
        local_text(claim.approved_at),
        claim.batch.period if claim.batch else "",
        local_text(claim.paid_at),
    ]


def _claim_header() -> list[str]:
    return [
        _("编号"),
        _("项目"),
        _("收款单位"),
        _("企业"),
        _("服务机构"),
        _("发票号码"),
        _("兑付金额（元）"),
        _("状态"),
        _("提交时间"),
        _("通过时间"),
        _("结算期"),
        _("付款时间"),
    ]


def _statement_context(batch: SettlementBatch, payee_id: int) -> dict[str, Any]:
    line = db.session.scalar(
        select(StatementLine).where(
            StatementLine.batch_id == batch.id, StatementLine.payee_id == payee_id
        )
    )
    if line is None:
        _not_found()
    return {
        "batch": batch,
        "line": line,
        "payee": line.payee,
        "authority": batch.authority,
        "claims": _batch_claims(batch.id, payee_id),
        "printed_at": utcnow(),
    }


def _statement_pdf(context: dict[str, Any]) -> bytes:
    batch, line = context["batch"], context["line"]
    rows = [[_("编号"), _("企业"), _("服务机构"), _("发票号码"), _("收款账户"), _("金额")]]
    rows += [
        [
            f"#{c.id}",
            c.use.enterprise.name_zh,
            c.use.provider.name_zh,
            c.invoice_number,
            f"{c.payee_bank} {c.payee_account_no}",
            money(c.amount_fen),
        ]
        for c in context["claims"]
    ]
    rows.append([_("合计"), "", "", "", _("%(n)d 笔", n=line.claim_count), money(line.amount_fen)])
    lines = [
        _("发放单位：%(name)s", name=batch.authority.name_zh),
        _("收款单位：%(name)s（%(uscc)s）", name=line.payee.name_zh, uscc=line.payee.uscc or ""),
        _("结算期：%(period)s", period=batch.period),
        _("状态：%(status)s", status=batch_status_label(batch.status)),
    ]
    if batch.payment_reference:
        lines.append(_("付款凭证号：%(ref)s", ref=batch.payment_reference))
    return _pdf(_("创新券兑付结算单"), lines, [(_("兑付明细"), rows)])


def _statement_export(context: dict[str, Any], fmt: str) -> ResponseReturnValue:
    xlsx = fmt == "xlsx"
    rows = [_claim_row(c, xlsx) for c in context["claims"]]
    batch, payee = context["batch"], context["payee"]
    return download(f"statement-{batch.period}-{payee.id}", fmt, _claim_header(), rows, _("结算单"))


# === the payee ===========================================================================


def _own_use(use_id: int) -> VoucherUse:
    try:
        return claims.claimable_use(_org_id(), use_id)
    except NotFound:
        _not_found()


def _own_claim(claim_id: int) -> Claim:
    try:
        return claims.payee_claim(_org_id(), claim_id)
    except NotFound:
        _not_found()


@bp.get("/")
def index() -> ResponseReturnValue:
    """The payee's desk: uses it may claim now, its claims, its statements."""
    now = utcnow()
    status = request.args.get("status", "")
    status = status if status in set(ClaimStatus) else ""
    claimable = paginate(claims.claimable_uses(_org_id(), now), _page("upage"), PAGE_SIZE)
    mine = paginate(claims.payee_claims(_org_id(), status or None), _page(), PAGE_SIZE)
    return render_template(
        "vouchers/claims/index.html",
        claimable=claimable,
        mine=mine,
        status=status,
        statuses=list(ClaimStatus),
        args={"status": status} if status else {},
        statements=settlement.payee_statements(_org_id())[:5],
    )


def _new_page(use: VoucherUse, form: ClaimForm, status: int = 200) -> ResponseReturnValue:
    return render_template(
        "vouchers/claims/new.html",
        use=use,
        form=form,
        usage=claims.usage_record(use),
        idempotency_key=request.form.get("idempotency_key") or uuid.uuid4().hex,
    ), status


@bp.route("/uses/<int:use_id>/claim", methods=["GET", "POST"])
def new(use_id: int) -> ResponseReturnValue:
    """File a claim on one used voucher share: fields and evidence."""
    use = _own_use(use_id)
    if request.method == "GET":
        usage = claims.usage_record(use)
        form = ClaimForm(
            formdata=None,
            data={
                "payee_account_name": current_actor().organization.name_zh,
                "invoice_amount": yuan_text(usage.charge_fen) if usage.charge_fen else "",
            },
        )
        return _new_page(use, form)
    form = ClaimForm()
    status = 422
    if form.validate_on_submit():
        try:
            claim = claims.file_claim(
                use.id,
                current_actor(),
                _details(form),
                _uploads(),
                _upload_root(),
                utcnow(),
                max_bytes=int(current_app.config.get("MAX_REPORT_BYTES", MAX_PDF_BYTES)),
                idempotency_key=(request.form.get("idempotency_key") or "")[:64] or None,
            )
        except InvalidTransition as error:
            db.session.rollback()  # the message may read the database (locale)
            form.attach_domain_error(error)
            status = 409
        except DomainError as error:
            db.session.rollback()  # the message may read the database (locale)
            form.attach_domain_error(error)
        else:
            db.session.commit()
            flash(_("兑付申请 #%(id)s 已提交，等待发放单位审核。", id=claim.id), "success")
            return redirect(url_for("claims.detail", claim_id=claim.id))
    db.session.rollback()
    return _new_page(_own_use(use_id), form, status)


def _detail_page(
    claim: Claim, form: ClaimForm | None = None, status: int = 200
) -> ResponseReturnValue:
    if form is None and claim.status == ClaimStatus.RETURNED:
        form = ClaimForm(
            formdata=None,
            data={
                "invoice_number": claim.invoice_number,
                "invoice_amount": yuan_text(claim.invoice_amount_fen),
                "payee_account_name": claim.payee_account_name,
                "payee_bank": claim.payee_bank,
                "payee_account_no": claim.payee_account_no,
            },
        )
    return render_template(
        "vouchers/claims/detail.html", form=form, **_claim_context(claim)
    ), status


@bp.get("/<int:claim_id>")
def detail(claim_id: int) -> ResponseReturnValue:
    """One of the payee's claims: fields, evidence, usage record, history;
    the correction form when it was returned."""
    return _detail_page(_own_claim(claim_id))


@bp.post("/<int:claim_id>/resubmit")
def resubmit(claim_id: int) -> ResponseReturnValue:
    """Correct a returned claim and submit it again."""
    claim = _own_claim(claim_id)
    form = ClaimForm()
    status = 422
    if form.validate_on_submit():
        try:
            claims.resubmit_claim(
                claim.id,
                current_actor(),
                _details(form),
                _uploads(),
                _upload_root(),
                utcnow(),
                max_bytes=int(current_app.config.get("MAX_REPORT_BYTES", MAX_PDF_BYTES)),
            )
        except InvalidTransition as error:
            db.session.rollback()  # the message may read the database (locale)
            form.attach_domain_error(error)
            status = 409
        except DomainError as error:
            db.session.rollback()  # the message may read the database (locale)
            form.attach_domain_error(error)
        else:
            db.session.commit()
            flash(_("兑付申请已重新提交。"), "success")
            return redirect(url_for("claims.detail", claim_id=claim_id))
    db.session.rollback()
    return _detail_page(_own_claim(claim_id), form, status)


@bp.get("/<int:claim_id>/evidence/<kind>")
def evidence(claim_id: int, kind: str) -> ResponseReturnValue:
    """One evidence file of the payee's own claim."""
    return _send_evidence(_own_claim(claim_id), kind)


@bp.get("/<int:claim_id>/report")
def report(claim_id: int) -> ResponseReturnValue:
    """The service order's test report the claim refers to."""
    return _send_report(_own_claim(claim_id))


@bp.get("/statements")
def statements() -> ResponseReturnValue:
    """The payee's settlement statements and payments."""
    return render_template(
        "vouchers/claims/statements.html", rows=settlement.payee_statements(_org_id())
    )


def _own_statement(batch_id: int) -> dict[str, Any]:
    try:
        _line, batch = settlement.payee_statement(_org_id(), batch_id)
    except NotFound:
        _not_found()
    return _statement_context(batch, _org_id())


@bp.get("/statements/<int:batch_id>")
def statement(batch_id: int) -> ResponseReturnValue:
    """The payee's statement in one batch, as a clean page to print."""
    return render_template("vouchers/settlement/print_statement.html", **_own_statement(batch_id))


@bp.get("/statements/<int:batch_id>/pdf")
def statement_pdf(batch_id: int) -> ResponseReturnValue:
    context = _own_statement(batch_id)
    return _send_pdf(_statement_pdf(context), f"statement-{context['batch'].period}")


@bp.get("/statements/<int:batch_id>/export")
def statement_export(batch_id: int) -> ResponseReturnValue:
    """The payee's claims in one batch as CSV or XLSX."""
    fmt = export_format()
    return _statement_export(_own_statement(batch_id), fmt)


# === the issuing authority ====================================================================


def _authority_id() -> int:
    return current_actor().organization_id


def _authority_claim(claim_id: int) -> Claim:
    try:
        return claims.authority_claim(_authority_id(), claim_id)
    except NotFound:
        _not_found()


def _authority_batch(batch_id: int) -> SettlementBatch:
    try:
        return settlement.authority_batch(_authority_id(), batch_id)
    except NotFound:
        _not_found()


def _claim_filter() -> tuple[claims.ClaimFilter, dict[str, str], str]:
    status = request.args.get("status", ClaimStatus.SUBMITTED.value)
    if status != "all" and status not in set(ClaimStatus):
        status = ClaimStatus.SUBMITTED.value
    programme_raw = request.args.get("programme", "")
    programme_id = parse_int(programme_raw, 0, 0, 2**31 - 1) or None
    q = request.args.get("q", "").strip()[:64]
    sort = parse_sort(request.args.get("sort"), claims.CLAIM_SORTS, "-submitted")
    args = {"status": status, "sort": sort}
    if programme_id:
        args["programme"] = str(programme_id)
    if q:
        args["q"] = q
    filters = claims.ClaimFilter(
        status=None if status == "all" else status, programme_id=programme_id, payee=q
    )
    return filters, args, sort


@settlement_bp.get("/claims", endpoint="claims")
def claims_queue() -> ResponseReturnValue:
    """The authority's claims: by default those waiting for review."""
    filters, args, sort = _claim_filter()
    page = paginate(claims.authority_claims(_authority_id(), filters, sort), _page(), PAGE_SIZE)
    programmes = list(
        db.session.scalars(
            select(Programme)
            .where(Programme.authority_id == _authority_id())
            .order_by(Programme.fiscal_year.desc(), Programme.code)
        )
    )
    return render_template(
        "vouchers/settlement/claims.html",
        page=page,
        args=args,
        sort=sort,
        filters=filters,
        status=args["status"],
        statuses=list(ClaimStatus),
        programmes=programmes,
    )


@settlement_bp.get("/claims/export")
def claims_export() -> ResponseReturnValue:
    """The filtered claims as CSV or XLSX (at most EXPORT_MAX_ROWS rows)."""
    fmt = export_format()
    filters, _args, sort = _claim_filter()
    stmt = claims.authority_claims(_authority_id(), filters, sort).options(
        selectinload(Claim.use).selectinload(VoucherUse.enterprise),
        selectinload(Claim.use).selectinload(VoucherUse.provider),
        selectinload(Claim.batch),
    )
    rows = [_claim_row(c, fmt == "xlsx") for c in db.session.scalars(stmt.limit(EXPORT_MAX_ROWS))]
    return download("claims", fmt, _claim_header(), rows, _("兑付申请"))


def _review_page(claim: Claim, status: int = 200, **forms: VoucherForm) -> ResponseReturnValue:
    defaults: dict[str, Callable[[], VoucherForm]] = {
        "approve_form": lambda: ApproveForm(formdata=None),
        "return_form": lambda: ReasonForm(formdata=None, prefix="return"),
        "void_form": lambda: ReasonForm(formdata=None, prefix="void"),
        "clawback_form": lambda: ReasonForm(formdata=None, prefix="clawback"),
    }
    for name, make in defaults.items():
        forms.setdefault(name, make())
    return render_template(
        "vouchers/settlement/claim.html", **_claim_context(claim), **forms
    ), status


@settlement_bp.get("/claims/<int:claim_id>")
def claim(claim_id: int) -> ResponseReturnValue:
    """One claim: fields, evidence, usage record, history and the decisions
    its state allows."""
    return _review_page(_authority_claim(claim_id))


def _decide(
    claim_id: int,
    form: VoucherForm,
    form_name: str,
    apply: Callable[[Claim, datetime], str],
) -> ResponseReturnValue:
    claim = _authority_claim(claim_id)
    status = 422
    if form.validate_on_submit():
        try:
            message = apply(claim, utcnow())
        except InvalidTransition as error:
            db.session.rollback()  # the message may read the database (locale)
            form.attach_domain_error(error)
            status = 409
        except DomainError as error:
            db.session.rollback()  # the message may read the database (locale)
            form.attach_domain_error(error)
        else:
            db.session.commit()
            flash(message, "success")
            return redirect(url_for("voucher_settlement.claim", claim_id=claim_id))
    db.session.rollback()
    return _review_page(_authority_claim(claim_id), status, **{form_name: form})


@settlement_bp.post("/claims/<int:claim_id>/approve")
def approve(claim_id: int) -> ResponseReturnValue:
    """Approve a submitted claim: it joins the next batch of its cycle."""

    def apply(claim: Claim, now: datetime) -> str:
        claims.approve_claim(claim.id, current_actor(), now)
        return str(_("兑付申请 #%(id)s 已审核通过。", id=claim.id))

    return _decide(claim_id, ApproveForm(), "approve_form", apply)


@settlement_bp.post("/claims/<int:claim_id>/return", endpoint="return_claim")
def return_(claim_id: int) -> ResponseReturnValue:
    """Return a submitted claim for correction, with the reason."""
    form = ReasonForm(prefix="return")

    def apply(claim: Claim, now: datetime) -> str:
        claims.return_claim(claim.id, current_actor(), form.reason.data or "", now)
        return str(_("兑付申请 #%(id)s 已退回修改。", id=claim.id))

    return _decide(claim_id, form, "return_form", apply)


@settlement_bp.post("/claims/<int:claim_id>/void")
def void(claim_id: int) -> ResponseReturnValue:
    """Void a claim before payment (fraud): the voucher share is voided."""
    form = ReasonForm(prefix="void")

    def apply(claim: Claim, now: datetime) -> str:
        claims.void_claim(claim.id, current_actor(), form.reason.data or "", now)
        return str(_("兑付申请 #%(id)s 已作废。", id=claim.id))

    return _decide(claim_id, form, "void_form", apply)


@settlement_bp.post("/claims/<int:claim_id>/claw-back")
def claw_back(claim_id: int) -> ResponseReturnValue:
    """Claw back a paid claim (fraud found after payment)."""
    form = ReasonForm(prefix="clawback")

    def apply(claim: Claim, now: datetime) -> str:
        claims.claw_back_claim(claim.id, current_actor(), form.reason.data or "", now)
        return str(_("兑付申请 #%(id)s 已登记追回。", id=claim.id))

    return _decide(claim_id, form, "clawback_form", apply)


@settlement_bp.get("/claims/<int:claim_id>/evidence/<kind>")
def claim_evidence(claim_id: int, kind: str) -> ResponseReturnValue:
    return _send_evidence(_authority_claim(claim_id), kind)


@settlement_bp.get("/claims/<int:claim_id>/report")
def claim_report(claim_id: int) -> ResponseReturnValue:
    return _send_report(_authority_claim(claim_id))


# --- batches ---------------------------------------------------------------------------------


def _batches_page(form: CloseForm | None = None, status: int = 200) -> ResponseReturnValue:
    page = paginate(settlement.authority_batches(_authority_id()), _page(), PAGE_SIZE)
    waiting = db.session.scalar(
        select(func.count())
        .select_from(Claim)
        .where(
            Claim.authority_id == _authority_id(),
            Claim.status == ClaimStatus.APPROVED,
            Claim.batch_id.is_(None),
        )
    )
    return render_template(
        "vouchers/settlement/batches.html",
        page=page,
        form=form or CloseForm(formdata=None),
        waiting=int(waiting or 0),
        args={},
    ), status


@settlement_bp.get("/batches")
def batches() -> ResponseReturnValue:
    """The authority's settlement batches, newest period first."""
    return _batches_page()


@settlement_bp.post("/batches/close")
def close_period() -> ResponseReturnValue:
    """Close one ended period for this authority (the nightly job does the same)."""
    form = CloseForm()
    status = 422
    if form.validate_on_submit():
        try:
            result = settlement.settle(
                form.period.data or "",
                utcnow(),
                authority_id=_authority_id(),
                actor=current_actor(),
            )
        except DomainError as error:
            db.session.rollback()  # the message may read the database (locale)
            form.attach_domain_error(error)
        else:
            db.session.commit()
            if result.batch_ids:
                flash(
                    _(
                        "已生成结算批次：%(n)d 笔，合计 %(amount)s。",
                        n=result.claims,
                        amount=money(result.total_fen),
                    ),
                    "success",
                )
                return redirect(url_for("voucher_settlement.batch", batch_id=result.batch_ids[0]))
            flash(_("该结算期没有待结算的申请，或批次已生成。"), "info")
            return redirect(url_for("voucher_settlement.batches"))
    db.session.rollback()
    return _batches_page(form, status)


def _batch_context(batch: SettlementBatch) -> dict[str, Any]:
    return {
        "batch": batch,
        "lines": settlement.statement_lines(batch.id),
        "matrix": settlement.matrix(batch.id, current_locale()),
        "authority": batch.authority,
        "events": history(settlement.OBJECT_TYPE, batch.id),
        "printed_at": utcnow(),
    }


@settlement_bp.get("/batches/<int:batch_id>")
def batch(batch_id: int, form: PaymentForm | None = None, status: int = 200) -> ResponseReturnValue:
    """One batch: statement per payee, cross-region matrix, payment."""
    context = _batch_context(_authority_batch(batch_id))
    names = actor_names(context["events"])
    return render_template(
        "vouchers/settlement/batch.html",
        form=form or PaymentForm(formdata=None),
        actor_names=names,
        **context,
    ), status


@settlement_bp.post("/batches/<int:batch_id>/payment")
def record_payment(batch_id: int) -> ResponseReturnValue:
    """Record the payment reference: the batch and its claims become paid."""
    _authority_batch(batch_id)
    form = PaymentForm()
    status = 422
    if form.validate_on_submit():
        try:
            settlement.record_payment(
                batch_id, current_actor(), form.reference.data or "", utcnow()
            )
        except InvalidTransition as error:
            db.session.rollback()  # the message may read the database (locale)
            form.attach_domain_error(error)
            status = 409
        except DomainError as error:
            db.session.rollback()  # the message may read the database (locale)
            form.attach_domain_error(error)
        else:
            db.session.commit()
            flash(_("已登记付款。"), "success")
            return redirect(url_for("voucher_settlement.batch", batch_id=batch_id))
    db.session.rollback()
    return batch(batch_id, form, status)


@settlement_bp.get("/batches/<int:batch_id>/print")
def batch_print(batch_id: int) -> ResponseReturnValue:
    """The batch as a clean page to print."""
    return render_template(
        "vouchers/settlement/print_batch.html", **_batch_context(_authority_batch(batch_id))
    )


def _batch_pdf(context: dict[str, Any]) -> bytes:
    batch, matrix = context["batch"], context["matrix"]
    statement = [[_("收款单位"), _("统一社会信用代码"), _("笔数"), _("金额")]]
    statement += [
        [line.payee.name_zh, line.payee.uscc or "", str(line.claim_count), money(line.amount_fen)]
        for line in context["lines"]
    ]
    statement.append([_("合计"), "", str(batch.claim_count), money(batch.total_fen)])
    grid = [[_("发放地区 \\ 服务机构地区"), *(name for _id, name in matrix.providing), _("合计")]]
    for issuing_id, issuing_name in matrix.issuing:
        row = [issuing_name]
        for provider_id, _name in matrix.providing:
            cell = matrix.cell(issuing_id, provider_id)
            row.append(f"{money(cell[0])} / {cell[1]}" if cell else "—")
        total = matrix.row_total(issuing_id)
        row.append(f"{money(total[0])} / {total[1]}")
        grid.append(row)
    lines = [
        _("发放单位：%(name)s", name=batch.authority.name_zh),
        _(
            "结算期：%(period)s（%(start)s 至 %(end)s 前）",
            period=batch.period,
            start=batch.period_start,
            end=batch.period_end,
        ),
        _("状态：%(status)s", status=batch_status_label(batch.status)),
        _("合计：%(n)d 笔，%(amount)s", n=batch.claim_count, amount=money(batch.total_fen)),
    ]
    if batch.payment_reference:
        lines.append(_("付款凭证号：%(ref)s", ref=batch.payment_reference))
    return _pdf(
        _("创新券兑付结算批次"),
        lines,
        [(_("收款单位结算单"), statement), (_("跨区域结算矩阵（金额 / 笔数）"), grid)],
    )


@settlement_bp.get("/batches/<int:batch_id>/pdf")
def batch_pdf(batch_id: int) -> ResponseReturnValue:
    context = _batch_context(_authority_batch(batch_id))
    return _send_pdf(_batch_pdf(context), f"settlement-{context['batch'].period}")


def _authority_statement(batch_id: int, payee_id: int) -> dict[str, Any]:
    return _statement_context(_authority_batch(batch_id), payee_id)


@settlement_bp.get("/batches/<int:batch_id>/statements/<int:payee_id>")
def statement_print(batch_id: int, payee_id: int) -> ResponseReturnValue:
    """One payee's statement in the batch, as a clean page to print."""
    return render_template(
        "vouchers/settlement/print_statement.html", **_authority_statement(batch_id, payee_id)
    )


@settlement_bp.get("/batches/<int:batch_id>/statements/<int:payee_id>/pdf")
def payee_statement_pdf(batch_id: int, payee_id: int) -> ResponseReturnValue:
    context = _authority_statement(batch_id, payee_id)
    return _send_pdf(_statement_pdf(context), f"statement-{context['batch'].period}-{payee_id}")


@settlement_bp.get("/batches/<int:batch_id>/export")
def batch_export(batch_id: int) -> ResponseReturnValue:
    """The batch as CSV or XLSX: ?part=statement (per payee), matrix or claims.
    XLSX holds all three as sheets."""
    fmt = export_format()
    part = request.args.get("part", "statement")
    if part not in ("statement", "matrix", "claims"):
        abort(400, description=_("part 只能是 statement、matrix 或 claims。"))
    context = _batch_context(_authority_batch(batch_id))
    xlsx = fmt == "xlsx"
    batch_ = context["batch"]

    def amount(fen: int) -> Any:
        return yuan_cell(fen, xlsx)

    statement_head = [_("收款单位"), _("统一社会信用代码"), _("笔数"), _("金额（元）")]
    statement_rows: list[list[Any]] = [
        [line.payee.name_zh, line.payee.uscc or "", line.claim_count, amount(line.amount_fen)]
        for line in context["lines"]
    ]
    matrix = context["matrix"]
    matrix_head = [_("发放地区"), _("服务机构地区"), _("笔数"), _("金额（元）")]
    matrix_rows: list[list[Any]] = [
        [i_name, p_name, cell[1], amount(cell[0])]
        for i_id, i_name in matrix.issuing
        for p_id, p_name in matrix.providing
        if (cell := matrix.cell(i_id, p_id)) is not None
    ]
    claim_rows = [_claim_row(c, xlsx) for c in _batch_claims(batch_id)]
    name = f"settlement-{batch_.period}"
    if xlsx:
        return download(
            name,
            fmt,
            statement_head,
            statement_rows,
            _("结算单"),
            extra_sheets=[
                (_("跨区域矩阵"), matrix_head, matrix_rows),
                (_("兑付明细"), _claim_header(), claim_rows),
            ],
        )
    if part == "matrix":
        return download(f"{name}-matrix", fmt, matrix_head, matrix_rows, _("跨区域矩阵"))
    if part == "claims":
        return download(f"{name}-claims", fmt, _claim_header(), claim_rows, _("兑付明细"))
    return download(name, fmt, statement_head, statement_rows, _("结算单"))
