"""Keyword search that works for Chinese.

Chinese has no spaces, so word indexes and trigram indexes both miss the
common two-character query (质谱, 色谱). Each searchable row therefore keeps

* ``search_text``: its searchable fields, lower-cased, joined by newlines;
* ``search_tokens``: overlapping CJK bigrams and single CJK characters, plus
  whole Latin/digit words.

A query is split the same way. On PostgreSQL the tokens are matched by a GIN
index on the token array (``@>``), then ``search_text LIKE '%term%'`` keeps
only rows where the term is contiguous. SQLite has no array index and
simply scans ``search_text`` (fine for one machine's catalogue).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import JSON, Text, TypeEngine

# CJK Unified Ideographs (+ extension A) and compatibility ideographs.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(r"[0-9a-z]+(?:[.\-/][0-9a-z]+)*")


def token_array_type() -> TypeEngine[Any]:
    """A text[] on PostgreSQL (GIN-indexable); JSON elsewhere (unused there)."""
    return JSON().with_variant(postgresql.ARRAY(Text()), "postgresql")


def normalise(text: str) -> str:
    """NFKC (full-width → half-width), lower case, collapse spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(text.split())


def tokens(text: str) -> set[str]:
    """Every token a row with this text is findable by."""
    text = normalise(text)
    found: set[str] = set()
    for run in _CJK_RUN.findall(text):
        found.update(run)
        found.update(run[i : i + 2] for i in range(len(run) - 1))
    for word in _WORD.findall(text):
        found.add(word)
        # Model numbers like "LC-MS/MS" are also found by their parts.
        found.update(p for p in re.split(r"[.\-/]", word) if p)
    return found


def query_tokens(term: str) -> set[str]:
    """The tokens a row must carry to contain `term` as a substring.

    A CJK run of one character needs that character; longer runs need all
    their bigrams. A Latin word needs the word itself.
    """
    term = normalise(term)
    needed: set[str] = set()
    for run in _CJK_RUN.findall(term):
        if len(run) == 1:
            needed.add(run)
        else:
            needed.update(run[i : i + 2] for i in range(len(run) - 1))
    for word in _WORD.findall(term):
        needed.update(p for p in re.split(r"[.\-/]", word) if p)
    return needed


def search_fields(*parts: str | None) -> tuple[str, list[str]]:
    """(search_text, sorted search_tokens) for the given field values."""
    text = "\n".join(normalise(p) for p in parts if p)
    return text, sorted(tokens(text))


def split_terms(q: str) -> list[str]:
    """Terms of a query, separated by white space; empty terms dropped."""
    return [t for t in normalise(q).split(" ") if t]


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def keyword_condition(
    text_column: ColumnElement[str],
    tokens_column: ColumnElement[list[str]],
    terms: Iterable[str],
    dialect: str,
) -> ColumnElement[bool]:
    """A WHERE condition requiring every term as a substring of the text."""
    conditions: list[ColumnElement[bool]] = []
    for term in terms:
        conditions.append(text_column.like(f"%{_escape_like(term)}%", escape="\\"))
        needed = query_tokens(term)
        if dialect == "postgresql" and needed:
            conditions.append(
                tokens_column.op("@>")(
                    func.cast(
                        literal(sorted(needed), postgresql.ARRAY(Text())), postgresql.ARRAY(Text())
                    )
                )
            )
    return and_(*conditions)
