"""Typed domain errors.

Services raise these; they never flash or abort. Each carries a message
that is safe to show to the user and translated lazily, so the web page,
the CLI and a JSON API present the same error in the caller's language.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A business rule refused the request; nothing was written."""

    code = "refused"

    def __init__(self, message: Any, *, field: str | None = None, **context: Any) -> None:
        super().__init__(str(message))
        self.message = message  # a lazy string: str() it in the request's locale
        self.field = field
        self.context = context

    def __str__(self) -> str:
        return str(self.message)


class NotFound(DomainError):
    """The object does not exist, or belongs to another tenant (both answer 404)."""

    code = "not_found"


class PermissionDenied(DomainError):
    code = "forbidden"


class InvalidTransition(DomainError):
    """The object is not in a state that allows this action."""

    code = "invalid_transition"
