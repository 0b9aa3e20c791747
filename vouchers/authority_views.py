"""The authority's voucher pages: programmes, applications, grants, budget burn."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("voucher_admin", __name__, url_prefix="/authority/vouchers")
