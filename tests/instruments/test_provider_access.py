"""Who may use the provider's catalogue pages: only staff of a provider,
only on their own objects. Everyone else signed in gets 404 on every page,
anonymous visitors are sent to sign in, and another provider's instrument,
service item or downtime answers 404 and stays unchanged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from booking.accounts.models import Organization, OrgKind, User
from booking.audit.models import AuditEvent
from booking.extensions import db
from instruments import services as catalogue
from instruments.models import Downtime, Instrument, ServiceItem
from tests.instruments.test_provider_instruments import instrument_form_data

LoginAs = Callable[[User], FlaskClient]

# Every page of the blueprint with placeholders for ids: (method, url).
PAGES = [
    ("GET", "/provider/instruments"),
    ("GET", "/provider/instruments/new"),
    ("POST", "/provider/instruments/new"),
    ("GET", "/provider/instruments/{instrument}/edit"),
    ("POST", "/provider/instruments/{instrument}/edit"),
    ("GET", "/provider/instruments/{instrument}/downtime"),
    ("POST", "/provider/instruments/{instrument}/downtime"),
    ("POST", "/provider/instruments/{instrument}/downtime/{downtime}/delete"),
    ("GET", "/provider/services"),
    ("GET", "/provider/services/new"),
    ("POST", "/provider/services/new"),
    ("GET", "/provider/services/{service}/edit"),
    ("POST", "/provider/services/{service}/edit"),
    ("GET", "/provider/import"),
    ("POST", "/provider/import"),
    ("GET", "/provider/import/template?kind=instruments&format=csv"),
    ("GET", "/provider/export?kind=instruments&format=xlsx"),
]
# The pages that name one object of the catalogue.
OBJECT_PAGES = [p for p in PAGES if "{" in p[1]]


@pytest.fixture
def foreign(
    make_org: Callable[..., Organization],
    make_instrument: Callable[..., Instrument],
    make_service_item: Callable[..., ServiceItem],
) -> dict[str, int]:
    """Objects of a provider nobody in these tests belongs to."""
    other = make_org(kind=OrgKind.PROVIDER)
    instrument = make_instrument(provider=other)
    item = make_service_item(provider=other)
    downtime = catalogue.add_downtime(
        instrument,
        datetime(2099, 1, 1, tzinfo=UTC),
        datetime(2099, 1, 2, tzinfo=UTC),
        "maintenance",
        "",
        actor=None,
    )
    db.session.flush()
    return {"instrument": instrument.id, "service": item.id, "downtime": downtime.id}


def _request(client: FlaskClient, method: str, url: str) -> int:
    if method == "GET":
        return client.get(url).status_code
    return client.post(url, data=instrument_form_data()).status_code


@pytest.mark.parametrize(("method", "url"), PAGES)
def test_anonymous_is_sent_to_sign_in(
    client: FlaskClient, foreign: dict[str, int], method: str, url: str
) -> None:
    db.session.commit()
    response = (
        client.get(url.format(**foreign))
        if method == "GET"
        else client.post(url.format(**foreign), data={})
    )
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("kind", [OrgKind.ENTERPRISE, OrgKind.AUTHORITY, OrgKind.PLATFORM])
@pytest.mark.parametrize(("method", "url"), PAGES)
def test_other_kinds_of_users_get_404_everywhere(
    login_as: LoginAs,
    make_user: Callable[..., User],
    foreign: dict[str, int],
    kind: str,
    method: str,
    url: str,
) -> None:
    client = login_as(make_user(kind=kind))
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    assert _request(client, method, url.format(**foreign)) == 404
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before
    assert db.session.scalar(select(func.count()).select_from(Instrument)) == 1


@pytest.mark.parametrize(("method", "url"), OBJECT_PAGES)
def test_another_providers_objects_answer_404_and_stay_unchanged(
    login_as: LoginAs,
    make_user: Callable[..., User],
    foreign: dict[str, int],
    method: str,
    url: str,
) -> None:
    client = login_as(make_user(kind=OrgKind.PROVIDER))
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    assert _request(client, method, url.format(**foreign)) == 404
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before
    instrument = db.session.get(Instrument, foreign["instrument"])
    assert instrument is not None and instrument.name_zh != instrument_form_data()["name_zh"]
    assert db.session.get(Downtime, foreign["downtime"]) is not None


def test_downtime_of_own_instrument_addressed_through_another_is_404(
    login_as: LoginAs,
    make_user: Callable[..., User],
    make_instrument: Callable[..., Instrument],
    foreign: dict[str, int],
) -> None:
    staff = make_user(kind=OrgKind.PROVIDER)
    own = make_instrument(provider=staff.organization)
    client = login_as(staff)
    # Own instrument id, foreign downtime id: still not theirs.
    response = client.post(f"/provider/instruments/{own.id}/downtime/{foreign['downtime']}/delete")
    assert response.status_code == 404
    assert db.session.get(Downtime, foreign["downtime"]) is not None


@pytest.mark.parametrize(
    "url",
    [
        "/provider/instruments/999999/edit",
        "/provider/instruments/99999999999999999999999/edit",
        "/provider/instruments/0/downtime",
        "/provider/services/99999999999999999999999/edit",
        "/provider/instruments/1/downtime/99999999999999999999/delete",
        "/provider/instruments/abc/edit",
    ],
)
def test_unknown_and_absurd_ids_answer_404(
    login_as: LoginAs, make_user: Callable[..., User], url: str
) -> None:
    client = login_as(make_user(kind=OrgKind.PROVIDER))
    method = client.post if url.endswith("/delete") else client.get
    assert method(url).status_code == 404


def test_provider_navigation_links_to_the_catalogue_pages(
    login_as: LoginAs, make_user: Callable[..., User]
) -> None:
    client = login_as(make_user(kind=OrgKind.PROVIDER))
    html = client.get("/provider/instruments").get_data(as_text=True)
    for path in ("/provider/instruments", "/provider/services", "/provider/import"):
        assert f'href="{path}"' in html


def test_own_objects_are_reachable(
    login_as: LoginAs,
    make_user: Callable[..., User],
    make_instrument: Callable[..., Instrument],
    make_service_item: Callable[..., ServiceItem],
) -> None:
    """The counterpart of the 404 tests: the same pages work for the owner."""
    staff = make_user(kind=OrgKind.PROVIDER)
    instrument = make_instrument(provider=staff.organization)
    item = make_service_item(provider=staff.organization)
    client = login_as(staff)
    for url in (
        f"/provider/instruments/{instrument.id}/edit",
        f"/provider/instruments/{instrument.id}/downtime",
        f"/provider/services/{item.id}/edit",
    ):
        assert client.get(url).status_code == 200, url
