"""The firm's voucher wallet: grants, balances, movements, applications."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("wallet", __name__, url_prefix="/my/vouchers")
