"""Self-identification never reaches a score: proved from the code, then by behaviour.

From the code: the modules that score, match, rank or explain fit (``scoring``, ``fit``,
``matching`` with its SQL, ``rankings``, ``catalog``), every service module they import, and
every module that imports them (their callers) are parsed; none imports the self-identification
model, its domain module or the bias audit, nor names the table, its columns or its values. Only
two callers are allowed to know of it, each for one reason: the bias audit itself (which reads
the answers into aggregates and only calls the scoring code for the month's refresh) and the
model card (which names the audit's method version); erasure (``candidates``) may call
``erase_self_identification`` and nothing else, and the app factory may register the bias
audits' blueprint.

By behaviour: writing and changing a candidate's self-identification changes no stored score,
no ``inputs_hash``, no ``computed_at`` (nothing was rescored), no match read and no ranking.
"""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.models import Match

ROOT = Path(__file__).resolve().parent.parent
SCORING = {
    "service.domain.scoring",
    "service.domain.fit",
    "service.domain.matching",
    "service.domain.rankings",
    "service.domain.catalog",
}
# The accountability code itself; see the module docstring for why each may call scoring code.
ACCOUNTABILITY = {
    "service.domain.bias_audits",
    "service.domain.model_card",
    "service.domain.self_identification",
    "service.models.accountability",
}
FORBIDDEN_MODULES = ACCOUNTABILITY | {"service.api.bias_audits"}
FORBIDDEN_NAMES = {
    "SelfIdentification",
    "BiasAudit",
    "SEXES",
    "RACES_ETHNICITIES",
    "DECLINED",
    "sex",
    "race_ethnicity",
    "self_identification",
    "self_identifications",
}
FORBIDDEN_TEXT = ("self_identification", "self-identification", "race_ethnicity")
# What a caller of the scoring code may import from the accountability modules, and why.
ALLOWED = {
    ("service.domain.candidates", "service.domain.self_identification"): {
        "erase_self_identification"  # erasure deletes the answers with the person
    },
    # The app factory registers every blueprint; it calls the catalog code only to give the
    # key cache the catalog token's SQL.
    ("service", "service.api.bias_audits.routes"): {"blp"},
}


def _modules() -> dict[str, ast.Module]:
    modules = {}
    for path in (ROOT / "service").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = ast.parse(path.read_text(), str(path))
    return modules


def _imports(tree: ast.Module, known: set[str] = frozenset()) -> dict[str, set[str]]:
    """Module imported -> the names taken from it (empty for ``import x``); ``from p import m``
    of a module ``p.m`` in ``known`` counts as importing ``p.m`` too."""
    found: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.setdefault(alias.name, set())
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                # ``from service.domain import matching`` imports the module service.domain.matching
                if f"{node.module}.{alias.name}" in known:
                    found.setdefault(f"{node.module}.{alias.name}", set())
                found.setdefault(node.module, set()).add(alias.name)
    return found


def _names_and_text(tree: ast.Module) -> tuple[set[str], list[str]]:
    names: set[str] = set()
    texts: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.arg | ast.keyword) and node.arg:
            names.add(node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts.append(node.value)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[-1])
    return names, texts


def _scoring_closure(modules: dict[str, ast.Module]) -> set[str]:
    """The scoring modules and every service module they import, transitively (the package
    ``service.models`` only registers the models: what matters is which ones a module uses)."""
    packages = {"service.models", "service", "service.domain", "service.api", "service.infra"}
    closure: set[str] = set()
    todo = list(SCORING)
    while todo:
        name = todo.pop()
        if name in closure or name not in modules or name in packages:
            continue
        closure.add(name)
        todo.extend(m for m in _imports(modules[name], set(modules)) if m.startswith("service."))
    return closure


def test_the_scoring_modules_are_where_the_test_looks() -> None:
    modules = _modules()
    assert set(modules) >= SCORING
    assert {"service.domain.bias_audits", "service.models.accountability"} <= set(modules)
    # The check below would catch a scoring module that read the table (the test tests itself).
    planted = ast.parse("from service.models import SelfIdentification\nx = 'race_ethnicity'")
    names, texts = _names_and_text(planted)
    assert "SelfIdentification" in names and any("race_ethnicity" in t for t in texts)


def test_no_scoring_code_can_reach_self_identification() -> None:
    modules = _modules()
    closure = _scoring_closure(modules)
    assert {"service.domain.scoring", "service.domain.matching", "service.infra.orm"} <= closure
    callers = {
        name
        for name, tree in modules.items()
        if name not in ACCOUNTABILITY and any(m in SCORING for m in _imports(tree, set(modules)))
    }
    assert {"service.domain.candidates", "service.api.matching.routes"} <= callers
    problems = []
    for name in sorted(closure | callers):
        tree = modules[name]
        for imported, taken in _imports(tree, set(modules)).items():
            allowed = ALLOWED.get((name, imported))
            forbidden = any(
                imported == f or imported.startswith(f + ".") for f in FORBIDDEN_MODULES
            )
            if forbidden and (allowed is None or not taken <= allowed):
                problems.append(f"{name} imports {imported} {sorted(taken)}")
            if imported == "service.models" and taken & FORBIDDEN_NAMES:
                problems.append(f"{name} imports {sorted(taken & FORBIDDEN_NAMES)} from models")
        names, texts = _names_and_text(tree)
        allowed_names = set().union(*(v for (m, _), v in ALLOWED.items() if m == name))
        for bad in sorted((names & FORBIDDEN_NAMES) - allowed_names):
            problems.append(f"{name} names {bad}")
        for text in texts:
            if any(word in text for word in FORBIDDEN_TEXT):
                problems.append(f"{name} has the text {text[:60]!r}")
    assert problems == [], "\n".join(problems)


def _without_computed_at(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_computed_at(v) for k, v in value.items() if k != "computed_at"}
    if isinstance(value, list):
        return [_without_computed_at(v) for v in value]
    return value


def test_setting_self_identification_changes_no_score(
    client: FlaskClient, admin_headers, session: Session
) -> None:
    records = [
        {"competency": "technical-depth", "level": 4, "evidence": "interview"},
        {"competency": "strategic-alignment", "level": 3, "last_used": "2020-01"},
        {"competency": "stakeholder-communication", "level": 5},
    ]
    ids = [
        client.post(
            "/v1/candidates",
            json={"name": f"N{i}", "competencies": records[: i + 1]},
            headers=admin_headers,
        ).get_json()["id"]
        for i in range(3)
    ]

    def observed() -> tuple[object, ...]:
        session.rollback()
        stored = session.execute(
            select(
                Match.role_id,
                Match.candidate_id,
                Match.score_hundredths,
                Match.band,
                Match.must_haves_met,
                Match.inputs_hash,
                Match.computed_at,
            )
            .where(Match.candidate_id.in_([uuid.UUID(i) for i in ids]))
            .order_by(Match.role_id, Match.candidate_id)
        ).all()

        def read(url: str) -> object:
            # A read's computed_at is the moment of the read; the stored one is compared above.
            return _without_computed_at(client.get(url, headers=admin_headers).get_json())

        reads = [read(f"/v1/candidates/{i}/matches") for i in ids]
        fits = [read(f"/v1/candidates/{i}/fit?roles=tpm,tmp") for i in ids]
        return (
            stored,
            reads,
            fits,
            read("/v1/roles/tpm/matches"),
            read("/v1/roles/tmp/matches/summary"),
        )

    before = observed()
    assert len(before[0]) >= 6
    for answers in (
        {"sex": "female", "race_ethnicity": "asian"},
        {"sex": "male", "race_ethnicity": "black-or-african-american"},
        {"sex": "declined"},
        {},
    ):
        for cid in ids:
            response = client.put(
                f"/v1/candidates/{cid}/self-identification", json=answers, headers=admin_headers
            )
            assert response.status_code == 204
        assert observed() == before
