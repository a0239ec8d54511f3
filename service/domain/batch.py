"""What a batch import answers, item by item (candidates and applications alike)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from service.domain.errors import DomainError


@dataclass
class BatchOutcome:
    """Per input index: the new id, or the error that stopped that item."""

    created: dict[int, uuid.UUID] = field(default_factory=dict)
    failed: dict[int, DomainError] = field(default_factory=dict)
