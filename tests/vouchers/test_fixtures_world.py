"""The shared voucher fixtures leave the ledger and the cache in agreement."""

from __future__ import annotations

from typing import Any

from booking.accounts.models import OrgKind
from vouchers import ledger
from vouchers.models import UseStatus


def test_fixture_world_balances_match_the_ledger(
    make_org: Any, make_programme: Any, make_grant: Any, make_use: Any
) -> None:
    provider = make_org(kind=OrgKind.PROVIDER)
    programme = make_programme(providers=[provider])
    grant = make_grant(programme, amount_fen=5_000_000)
    make_use(grant, provider, share_fen=1_000_000, status=UseStatus.USED)
    make_use(grant, provider, share_fen=500_000, status=UseStatus.LOCKED)
    make_use(grant, provider, share_fen=200_000, status=UseStatus.HELD)
    make_use(grant, provider, share_fen=300_000, status=UseStatus.RELEASED)

    assert (grant.available_fen, grant.locked_fen, grant.used_fen) == (
        3_500_000,
        500_000,
        1_000_000,
    )
    assert grant.held_fen == 200_000
    assert programme.granted_fen == 5_000_000
    assert ledger.mismatches() == []
    assert ledger.ledger_balances([grant.id])[grant.id]["available"] == 3_500_000
