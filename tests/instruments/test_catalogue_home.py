"""The home page counts per region what the public catalogue lists."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask.testing import FlaskClient

from booking.accounts.models import Organization, OrgKind, Region
from booking.extensions import db
from instruments.models import Instrument, ServiceItem


def test_home_figures_match_the_public_catalogue(
    client: FlaskClient,
    make_region: Callable[..., Region],
    make_org: Callable[..., Organization],
    make_instrument: Callable[..., Instrument],
    make_service_item: Callable[..., ServiceItem],
) -> None:
    region = make_region("jd", name_zh="嘉定区", name_en="Jiading")
    verified = make_org(OrgKind.PROVIDER, region)
    pending = make_org(OrgKind.PROVIDER, region, status="pending")
    make_instrument(verified)
    make_instrument(verified)
    make_instrument(verified, sharing_mode="internal")
    make_instrument(pending)
    make_service_item(verified)
    make_service_item(verified, active=False)
    make_service_item(pending)
    db.session.commit()

    home = client.get("/").get_data(as_text=True)
    row = re.search(r"<td>嘉定区</td>(.*?)</tr>", home, re.S)
    assert row is not None
    assert re.findall(r">(\d+)<", row.group(1)) == ["1", "2", "1"]

    listed = client.get("/instruments?region=jd").get_data(as_text=True)
    assert 'data-total="2"' in listed
    services = client.get("/services?region=jd").get_data(as_text=True)
    assert 'data-total="1"' in services
