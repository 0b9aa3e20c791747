"""Innovation vouchers (双创券): programmes, grants, the ledger, voucher uses
on orders, claims and settlement.

The order engine never imports this package: `vouchers.spending` subscribes
to its events (`booking.orders.signals`) and moves money inside the order's
own transaction.

Modules: models (tables), ledger (money primitives), programmes (programmes,
applications and grants), spending (voucher share on orders), claims,
settlement, jobs; views per face: authority_views, firm_views, claim_views.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from vouchers import spending
    from vouchers.authority_views import bp as authority_bp
    from vouchers.claim_views import bp as claims_bp
    from vouchers.claim_views import settlement_bp
    from vouchers.firm_views import bp as wallet_bp

    spending.init_app(app)
    app.register_blueprint(authority_bp)
    app.register_blueprint(settlement_bp)
    app.register_blueprint(claims_bp)
    app.register_blueprint(wallet_bp)
