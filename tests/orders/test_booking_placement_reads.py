"""Placing a booking reads what it needs once, under the instrument's lock,
and the shortcuts that buys change no answer:

- the confirm view's public look-up is the locked read the engine reuses;
- on PostgreSQL a taken slot is found by the exclusion constraint on the
  INSERT (no overlap SELECT first), with the same SlotTaken, and the
  caller's transaction stays usable;
- what the engine decides on is read under the lock, not whatever an
  earlier read left in the session;
- the booking is not read back after the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, func, select, update

from booking.accounts.models import User
from booking.audit.models import AuditEvent
from booking.audit.services import record
from booking.errors import DomainError
from booking.extensions import db
from booking.orders.clock import local
from booking.orders.models import Booking, OrderStatus, Suspension
from booking.orders.services import SlotTaken, place_booking
from instruments.models import Instrument
from tests.orders.conftest import NOW, request_for
from tests.orders.test_views_booking import book_url, booking_count, booking_form, key_of


@contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements sent while the block runs, whitespace squeezed."""
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(" ".join(sql.split()))

    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)


def test_confirm_reads_the_instrument_once_under_its_lock_and_not_the_booking_after(
    postgres: None,
    login_as: Callable[[User], FlaskClient],
    instrument: Instrument,
    firm_user: User,
) -> None:
    client = login_as(firm_user)
    url = book_url(instrument)
    key = key_of(client.post(url, data=booking_form(10, 9)))
    db.session.expunge_all()  # as in a fresh worker, the request finds everything itself
    with statements() as sent:
        done = client.post(f"{url}/confirm", data=booking_form(10, 9, idempotency_key=key))
    assert done.status_code == 302
    reads = [s for s in sent if " FROM instrument" in s]
    assert len(reads) == 1, reads
    assert reads[0].endswith("FOR UPDATE OF instrument")
    # No overlap SELECT: the exclusion constraint answers on the INSERT.
    assert not [s for s in sent if s.startswith("SELECT booking.id FROM booking WHERE")]
    # Nothing reads the booking back after the INSERT (its id made the redirect).
    insert = next(i for i, s in enumerate(sent) if s.startswith("INSERT INTO booking "))
    assert not [s for s in sent[insert:] if "FROM booking" in s]
    booking_id = db.session.scalar(select(Booking.id))
    assert done.headers["Location"].endswith(f"/my/orders/booking/{booking_id}")


def test_confirm_on_an_instrument_the_public_may_not_see_is_404(
    login_as: Callable[[User], FlaskClient], instrument: Instrument, firm_user: User
) -> None:
    client = login_as(firm_user)
    key = key_of(client.post(book_url(instrument), data=booking_form(10, 9)))
    instrument.sharing_mode = "internal"
    db.session.commit()
    confirm = client.post(
        f"{book_url(instrument)}/confirm", data=booking_form(10, 9, idempotency_key=key)
    )
    assert confirm.status_code == 404
    assert booking_count() == 0


def test_an_invalid_confirm_form_still_shows_the_form_with_its_choices(
    login_as: Callable[[User], FlaskClient], instrument: Instrument, firm_user: User
) -> None:
    client = login_as(firm_user)
    page = client.post(f"{book_url(instrument)}/confirm", data=booking_form(10, 9))
    assert page.status_code == 422
    assert "表单有误，请重新填写。" in page.text
    assert 'id="week-calendar"' in page.text
    # The duration choices were built for the page (a booking that goes
    # through never builds them).
    assert "1 小时</option>" in page.text
    assert booking_count() == 0


def test_a_taken_slot_leaves_the_callers_transaction_usable(
    instrument: Instrument, make_firm_user: Callable[..., User]
) -> None:
    place_booking(make_firm_user(), request_for(instrument, 10, 9, 2), NOW)
    db.session.commit()
    late = make_firm_user()
    # Work the caller did earlier in the same transaction ...
    record(late, "test.before", "booking", 0, now=NOW)
    with pytest.raises(SlotTaken) as taken:
        place_booking(late, request_for(instrument, 10, 10, 1), NOW)
    assert taken.value.field == "starts_at"
    assert "该时段刚刚被其他用户预约" in str(taken.value)
    # ... survives the refusal, which wrote nothing itself.
    db.session.commit()
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "test.before")) == 1
    assert booking_count() == 1


def test_the_engine_decides_on_the_instrument_as_read_under_the_lock(
    instrument: Instrument, firm_user: User
) -> None:
    assert instrument.approval_required  # loaded into the session ...
    with db.engine.begin() as other:  # ... then changed by someone else
        other.execute(
            update(Instrument).where(Instrument.id == instrument.id).values(approval_required=False)
        )
    booking = place_booking(firm_user, request_for(instrument), NOW)
    assert booking.status == OrderStatus.CONFIRMED


def test_a_suspension_names_its_latest_end(instrument: Instrument, firm_user: User) -> None:
    for days in (5, 30):
        db.session.add(
            Suspension(
                enterprise_id=firm_user.organization_id,
                reason="no-shows",
                starts_at=NOW - timedelta(days=1),
                ends_at=NOW + timedelta(days=days),
            )
        )
    db.session.commit()
    until = local(NOW + timedelta(days=30)).strftime("%Y-%m-%d %H:%M")
    with pytest.raises(DomainError, match=f"暂停至 {until}"):
        place_booking(firm_user, request_for(instrument), NOW)
    db.session.rollback()
    assert booking_count() == 0


def test_someone_elses_idempotency_key_is_refused(
    instrument: Instrument, make_firm_user: Callable[..., User]
) -> None:
    first = make_firm_user()
    place_booking(first, request_for(instrument, 10, 9, idempotency_key="k-1"), NOW)
    db.session.commit()
    with pytest.raises(DomainError, match="重复的提交标识"):
        place_booking(make_firm_user(), request_for(instrument, 10, 12, idempotency_key="k-1"), NOW)
    db.session.rollback()
    again = place_booking(first, request_for(instrument, 10, 12, idempotency_key="k-1"), NOW)
    assert again.starts_at == request_for(instrument, 10, 9).starts_at  # the first booking
    assert booking_count() == 1
