"""Small text helpers shared by the taxonomy and candidate name resolution."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

_SPACES = re.compile(r"\s+")


def normalize_name(value: str) -> str:
    """Casefold and collapse white space: how competency keys and aliases are compared."""
    return _SPACES.sub(" ", value).strip().casefold()


def closest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The known names nearest to ``name``, best first, for "did you mean" messages."""
    return difflib.get_close_matches(normalize_name(name), list(candidates), n=n, cutoff=0.5)
