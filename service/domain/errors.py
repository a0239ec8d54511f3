"""Domain exceptions. The API layer renders each as an RFC 9457 problem; the CLI prints it."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every expected failure; ``extra`` members are added to the problem body."""

    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(DomainError):
    slug = "not-found"
    title = "Not found"


class Conflict(DomainError):
    slug = "conflict"
    title = "Conflict"


class StageConflict(Conflict):
    """A move that names a ``from_stage`` the application is no longer in."""

    slug = "stage-conflict"
    title = "Stage conflict"


class Invalid(DomainError):
    """Input that parsed but breaks a rule; ``errors`` maps field paths to messages."""

    slug = "validation-error"
    title = "Validation failed"

    def __init__(self, detail: str, errors: dict[str, list[str]] | None = None, **extra: Any):
        super().__init__(detail, **extra)
        self.errors = errors or {}


class PreconditionFailed(DomainError):
    slug = "precondition-failed"
    title = "Precondition failed"
