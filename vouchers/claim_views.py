"""Claims (兑付) for the payee, and claim review and settlement for the authority."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("claims", __name__, url_prefix="/claims")
settlement_bp = Blueprint("voucher_settlement", __name__, url_prefix="/authority/settlement")
