"""Small text helpers shared by the taxonomy and candidate name resolution."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def normalize_name(value: str) -> str:
    r"""Casefold and collapse white space: how competency keys and aliases are compared.

    ``str.split()`` splits on exactly the characters that ``\s`` matches, so this is
    ``re.sub(r"\s+", " ", value).strip()`` at a third of the cost (it runs for every
    competency name of every request that sends records).
    """
    return " ".join(value.split()).casefold()


def closest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The known names nearest to ``name``, best first, for "did you mean" messages."""
    return difflib.get_close_matches(normalize_name(name), list(candidates), n=n, cutoff=0.5)
