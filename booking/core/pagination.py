"""Pagination and query-string parsing that never fails on bad input."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select

from booking.extensions import db

T = TypeVar("T")

_INTEGER = re.compile(r"-?[0-9]{1,12}")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    def window(self, around: int = 2) -> list[int | None]:
        """Page numbers to show: first, last and a few around the current one;
        None marks a gap."""
        shown = {1, self.pages, *range(self.number - around, self.number + around + 1)}
        numbers = sorted(n for n in shown if 1 <= n <= self.pages)
        out: list[int | None] = []
        for n in numbers:
            if out and n - (out[-1] or 0) > 1:
                out.append(None)
            out.append(n)
        return out


def parse_int(raw: str | None, default: int, lo: int, hi: int) -> int:
    """An integer from a query string, clamped to [lo, hi]; junk gives default."""
    if raw is None:
        return default
    raw = raw.strip()
    # ASCII digits only: str.isdigit() also accepts "²" and "٣", which int() refuses.
    if not _INTEGER.fullmatch(raw):
        return default
    return min(max(int(raw), lo), hi)


def parse_sort(raw: str | None, allowed: Collection[str], default: str) -> str:
    """A sort key from a query string: one of `allowed`, optionally "-"-prefixed
    for descending; anything else gives `default`."""
    if raw is None or raw.count("-") > 1 or raw.lstrip("-") not in allowed:
        return default
    return raw


def paginate(stmt: Select[Any], page: int, per_page: int) -> Page[Any]:
    """Run `stmt` for one page. A page past the end shows the last page."""
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    total = int(total or 0)
    last = max(1, -(-total // per_page))
    page = min(max(page, 1), last)
    items = list(db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)))
    return Page(items=items, number=page, per_page=per_page, total=total)
