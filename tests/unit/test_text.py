"""Name normalisation: how competency keys and aliases are compared."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from service.domain.text import normalize_name

_WHITESPACE = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\xa0", "\u2003", "\u2028"]


@given(st.text(alphabet=st.one_of(st.sampled_from(_WHITESPACE), st.characters())))
def test_white_space_collapses_exactly_as_the_regular_expression_does(value: str) -> None:
    assert normalize_name(value) == re.sub(r"\s+", " ", value).strip().casefold()


def test_examples() -> None:
    assert normalize_name("  Program\tManagement \n") == "program management"
    assert normalize_name("TECHNICAL\u2003DEPTH") == "technical depth"
    assert normalize_name("   ") == ""
