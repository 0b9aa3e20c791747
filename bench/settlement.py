"""Settlement at scale: time `vouchers.settlement.settle()` for one period
over 100,000 and 1,000,000 approved claims on PostgreSQL.

For each size, a fresh database (DATABASE_URL's server, or
postgresql://postgres@127.0.0.1:5432; created and dropped here unless
--keep) gets the schema from the migrations, then a small alliance through
the ORM (3 regions, each with an authority and a monthly programme; 200
recognised providers — the payees, 通兑 — and 300 enterprises with a grant
in every programme), then the bulk rows with INSERT … SELECT over
generate_series: one closed booking, one used voucher use and one approved
claim (approved in October 2026) per claim, spread over providers,
enterprises and authorities. After VACUUM ANALYZE (what autovacuum does
after a bulk load), it times, each in its own transaction:

- settle("2026-10"): the batches, statements and region matrices;
- settle("2026-10") again: finds the batches, changes nothing;
- record_payment on the largest batch: claims paid, audit and notifications.

Usage: bench/settlement.py [--sizes 100000,1000000] [--keep]
(also `bench/run.py --only settlement`). Target: settle < 30 s at 1,000,000.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ADMIN_URL = os.environ.get("DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET_SECONDS = 30.0
PROVIDERS = 200
ENTERPRISES = 300
APPROVED_AT = datetime(2026, 10, 15, 2, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def _database(name: str) -> str:
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def _seed_world() -> dict[str, Any]:
    """The alliance through the ORM: small, so its cost does not matter."""
    from booking.accounts import uscc
    from booking.accounts.models import Organization, OrgKind, Region, User
    from booking.extensions import db
    from instruments import services as catalogue
    from vouchers.models import Grant, GrantStatus, Programme, RecognisedProvider

    regions = [
        Region(code=f"b{i}", name_zh=name, name_en=name, division_code=code)
        for i, (name, code) in enumerate(
            (("嘉定", "310114"), ("苏州", "320500"), ("温州", "330300"))
        )
    ]
    db.session.add_all(regions)
    db.session.flush()
    serial = iter(range(1, 10**6))

    def org(kind: str, region: Region, name: str) -> Organization:
        made = Organization(
            kind=kind,
            name_zh=name,
            name_en=name,
            uscc=uscc.make(region.division_code, 700000 + next(serial)),
            region=region,
            status="verified",
            provider_type="university" if kind == OrgKind.PROVIDER else None,
            enterprise_category="tech_sme" if kind == OrgKind.ENTERPRISE else None,
        )
        db.session.add(made)
        return made

    authorities = [org(OrgKind.AUTHORITY, r, f"{r.name_zh}科委") for r in regions]
    providers = [org(OrgKind.PROVIDER, regions[i % 3], f"服务机构{i}") for i in range(PROVIDERS)]
    enterprises = [org(OrgKind.ENTERPRISE, regions[i % 3], f"企业{i}") for i in range(ENTERPRISES)]
    db.session.flush()
    users = []
    for enterprise in enterprises:
        user = User(organization=enterprise, email=f"u{enterprise.id}@bench.cn", name="用户")
        user.password_hash = "!"  # noqa: S105 -- not a hash: nobody can sign in as a bench user
        users.append(user)
    db.session.add_all(users)
    instruments = [
        catalogue.create_instrument(
            provider,
            {
                "internal_no": f"B{provider.id}",
                "name_zh": "液相色谱仪",
                "name_en": "LC",
                "classification_code": "010501",
                "model": "LC-20AD",
                "manufacturer": "岛津",
                "original_value_fen": 85_000_000,
                "location": "A201",
            },
            {"entrusted": 20_000},
            actor=None,
        )
        for provider in providers
    ]
    programmes = []
    for index, authority in enumerate(authorities):
        programme = Programme(
            authority_id=authority.id,
            code=f"B{index}",
            name_zh=f"{authority.name_zh}创新券",
            fiscal_year=2026,
            budget_fen=10**13,
            subsidy_percent=50,
            enterprise_cap_fen=10**11,
            mode="provider_redeems",
            eligible_categories=[],
            eligible_kinds=["instrument_time"],
            applications_open_on=date(2026, 1, 1),
            applications_close_on=date(2026, 12, 31),
            valid_until=date(2026, 12, 31),
            claim_deadline=date(2027, 3, 31),
            settlement_cycle="monthly",
        )
        programme.recognised = [RecognisedProvider(provider_id=p.id) for p in providers]
        programmes.append(programme)
    db.session.add_all(programmes)
    db.session.flush()
    db.session.add_all(
        Grant(
            programme_id=programme.id,
            enterprise_id=enterprise.id,
            status=GrantStatus.APPROVED,
            requested_fen=10**11,
            approved_fen=10**11,
            available_fen=10**11,
        )
        for programme in programmes
        for enterprise in enterprises
    )
    db.session.flush()
    return {
        "instruments": [i.id for i in instruments],
        "enterprises": [e.id for e in enterprises],
        "users": [u.id for u in users],
        "programmes": [p.id for p in programmes],
    }


def _bulk(n: int, ids: dict[str, Any]) -> None:
    """n closed bookings, used voucher uses and approved claims, set-based."""
    from sqlalchemy import text

    from booking.extensions import db

    base = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)
    db.session.execute(
        text(
            """
            INSERT INTO booking (instrument_id, enterprise_id, user_id, service_mode, starts_at,
                ends_at, status, purpose, sample_notes, price_fen_per_hour, quote_fen, policy,
                checked_in_at, checked_out_at, charge_fen, created_at, updated_at)
            SELECT (CAST(:instruments AS integer[]))[1 + i % :ni],
                   (CAST(:enterprises AS integer[]))[1 + i % :ne],
                   (CAST(:users AS integer[]))[1 + i % :ne],
                   'entrusted', ts, ts + interval '1 hour', 'closed', '', '', 20000, 20000, '{}',
                   ts, ts + interval '1 hour', 20000, ts, ts
            FROM generate_series(1, :n) AS i,
                 LATERAL (SELECT CAST(:base AS timestamptz) + i * interval '1 minute' AS ts) t
            """
        ),
        {
            "instruments": ids["instruments"],
            "enterprises": ids["enterprises"],
            "users": ids["users"],
            "ni": len(ids["instruments"]),
            "ne": len(ids["enterprises"]),
            "n": n,
            "base": base,
        },
    )
    db.session.execute(
        text(
            """
            INSERT INTO voucher_use (grant_id, programme_id, enterprise_id, provider_id, booking_id,
                service_kind, item_key, status, price_fen, share_fen, used_fen, rules, split_flag,
                claim_deadline, created_at, used_at)
            SELECT g.id, g.programme_id, b.enterprise_id, ins.provider_id, b.id,
                   'instrument_time', 'instrument:' || b.instrument_id, 'used', 20000, 10000, 10000,
                   '{"mode": "provider_redeems", "subsidy_percent": 50}', false,
                   DATE '2027-03-31', b.created_at, b.ends_at
            FROM booking b
            JOIN instrument ins ON ins.id = b.instrument_id
            JOIN voucher_grant g ON g.enterprise_id = b.enterprise_id
                AND g.programme_id = (CAST(:programmes AS integer[]))[1 + b.id % 3]
            """
        ),
        {"programmes": ids["programmes"]},
    )
    db.session.execute(
        text(
            """
            INSERT INTO voucher_claim (voucher_use_id, programme_id, authority_id, payee_id,
                issuing_region_id, provider_region_id, amount_fen, status, invoice_number,
                invoice_amount_fen, payee_account_name, payee_bank, payee_account_no,
                submitted_at, decided_at, approved_at)
            SELECT u.id, u.programme_id, p.authority_id, u.provider_id, a.region_id, pr.region_id,
                   u.used_fen, 'approved', 'INV' || u.id, 20000, pr.name_zh, '中国银行',
                   '6216' || pr.id,
                   :approved, :approved, :approved
            FROM voucher_use u
            JOIN voucher_programme p ON p.id = u.programme_id
            JOIN organization a ON a.id = p.authority_id
            JOIN organization pr ON pr.id = u.provider_id
            """
        ),
        {"approved": APPROVED_AT},
    )


def run_size(n: int, keep: bool) -> dict[str, float]:
    from flask_migrate import upgrade
    from sqlalchemy import func, select, text

    from booking import create_app
    from booking.accounts.models import User
    from booking.extensions import db
    from vouchers import settlement
    from vouchers.models import Claim, SettlementBatch

    name = f"bench_settlement_{os.getpid()}_{n}"
    _admin(f'DROP DATABASE IF EXISTS "{name}"')
    _admin(f'CREATE DATABASE "{name}"')
    url = _database(name)
    figures: dict[str, float] = {}
    try:
        app = create_app("development", SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade()
            started = time.perf_counter()
            ids = _seed_world()
            _bulk(n, ids)
            db.session.commit()
            figures["load_s"] = time.perf_counter() - started
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
            count = db.session.scalar(select(func.count()).select_from(Claim))
            assert count == n, count

            started = time.perf_counter()
            result = settlement.settle("2026-10", NOW)
            db.session.commit()
            figures["settle_s"] = time.perf_counter() - started
            assert result.claims == n, result

            started = time.perf_counter()
            again = settlement.settle("2026-10", NOW)
            db.session.commit()
            figures["rerun_s"] = time.perf_counter() - started
            assert again.batches == 0

            largest = db.session.scalar(
                select(SettlementBatch).order_by(SettlementBatch.claim_count.desc()).limit(1)
            )
            assert largest is not None
            payer = User(
                organization_id=largest.authority_id,
                email="pay@bench.cn",
                name="付款",
                password_hash="!",  # noqa: S106 -- not a hash: no sign-in
            )
            db.session.add(payer)
            db.session.commit()
            started = time.perf_counter()
            settlement.record_payment(largest.id, payer, "BENCH-PAY", NOW + timedelta(days=3))
            db.session.commit()
            figures["payment_s"] = time.perf_counter() - started
            figures["payment_claims"] = float(largest.claim_count)
            db.session.remove()
            db.engine.dispose()
    finally:
        if not keep:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return figures


def table(results: dict[int, dict[str, float]]) -> str:
    lines = [
        "",
        "Settlement on PostgreSQL (one period, 3 authorities, 200 payees, 3×3 regions)",
        "",
        f"{'claims':>10}  {'load s':>8}  {'settle s':>9}  {'re-run s':>9}  {'payment s':>10}",
        "-" * 56,
    ]
    for n, f in results.items():
        flag = "  > target" if f["settle_s"] >= TARGET_SECONDS else ""
        lines.append(
            f"{n:>10,}  {f['load_s']:>8.1f}  {f['settle_s']:>9.2f}  {f['rerun_s']:>9.2f}"
            f"  {f['payment_s']:>10.2f}{flag}"
        )
    lines.append(
        f"\nTarget: settle < {TARGET_SECONDS:.0f} s at 1,000,000 claims. Payment covers the"
        " largest batch (its claims paid, audited and its payees notified)."
    )
    return "\n".join(lines)


def run(sizes: list[int], keep: bool = False, progress: Any = print) -> dict[int, dict[str, float]]:
    results = {}
    for n in sizes:
        progress(f"[settlement {n:,}] loading and settling …")
        results[n] = run_size(n, keep)
        progress(f"[settlement {n:,}] settle {results[n]['settle_s']:.2f} s")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()
    results = run([int(s) for s in options.sizes.split(",")], options.keep)
    print(table(results), flush=True)


if __name__ == "__main__":
    main()
