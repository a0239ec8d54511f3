"""openapi.yaml is usable by a real client: openapi-python-client generates a typed package from
it without a warning, and that package runs a hiring flow against the app.

The client is generated once per session into pytest's tmp dir and imported from there. It talks
to the in-process app through httpx's WSGI transport, no server: it creates candidates whose
records name competencies by alias, reads their matches and the TPM ranking (one cursor
followed), and gets problem documents parsed as the generated ``Problem`` model. Function names
come from operationIds (``getCandidateMatches`` -> ``get_candidate_matches``), so every
operation needs one: without it the generator silently names functions after the path.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import yaml
from flask import Flask

OPENAPI_DOCUMENT = Path(__file__).resolve().parents[2] / "openapi.yaml"
PACKAGE = "rolefit_generated_client"
BASE_URL = "http://testserver"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Post hooks off: the default ones run `ruff check --fix` and `ruff format` on the output, which
# is slower and warns "ruff is not in PATH" when the venv is not activated.
GENERATOR_CONFIG = "post_hooks: []\n"
UNKNOWN_ID = uuid.UUID("00000000-0000-4000-8000-000000000000")


@dataclass(frozen=True)
class Generation:
    returncode: int
    output: str
    package: ModuleType

    def module(self, dotted: str) -> ModuleType:
        return importlib.import_module(f"{self.package.__name__}.{dotted}")

    def endpoint(self, tag: str, operation_id: str) -> ModuleType:
        """The generated module of an operation: ``api/<tag>/<operation_id in snake_case>``."""
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()
        try:
            return self.module(f"api.{tag}.{name}")
        except ModuleNotFoundError:
            package = Path(self.package.__file__ or "").parent
            generated = sorted(p.stem for p in (package / "api" / tag).glob("[!_]*.py"))
            pytest.fail(
                f"no generated function {tag}.{name}: operationId {operation_id!r} is missing"
                f" from openapi.yaml (the generator made {generated})"
            )

    @property
    def models(self) -> ModuleType:
        return self.module("models")


def _forget(package: str) -> None:
    for name in [n for n in sys.modules if n == package or n.startswith(f"{package}.")]:
        del sys.modules[name]


@pytest.fixture(scope="session")
def generation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generation]:
    root = tmp_path_factory.mktemp("openapi-client")
    config = root / "generator.yaml"
    config.write_text(GENERATOR_CONFIG, encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "openapi_python_client",
        "generate",
        "--path",
        str(OPENAPI_DOCUMENT),
        "--output-path",
        str(root / PACKAGE),
        "--meta",
        "none",
        "--config",
        str(config),
        "--fail-on-warning",
    ]
    result = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, timeout=120, check=False
    )
    output = f"{result.stdout}\n{result.stderr}".strip()
    if not (root / PACKAGE / "__init__.py").is_file():
        pytest.fail(f"openapi-python-client generated no client:\n{output}")
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        yield Generation(result.returncode, output, importlib.import_module(PACKAGE))
    finally:
        sys.path.remove(str(root))
        _forget(PACKAGE)


@pytest.fixture
def api(generation: Generation, app: Flask, make_key: Callable[[str], str]) -> Iterator[Any]:
    """A generated ``AuthenticatedClient`` with an admin key, wired to the app in process."""
    client = generation.package.AuthenticatedClient(
        base_url=BASE_URL,
        token=make_key("admin"),
        httpx_args={"transport": httpx.WSGITransport(app=app)},
        raise_on_unexpected_status=True,
    )
    with client:
        yield client


def test_the_generator_reports_nothing_about_the_document(generation: Generation) -> None:
    # Every warning means "some pieces may be missing" (a schema, response or operation it
    # skipped); with post hooks off, nothing but the document can cause one.
    assert generation.returncode == 0, generation.output
    assert "Warning" not in generation.output, generation.output
    assert "Error" not in generation.output, generation.output


def test_every_operation_has_a_unique_camel_case_operation_id() -> None:
    document = yaml.safe_load(OPENAPI_DOCUMENT.read_text(encoding="utf-8"))
    ids: dict[str, str] = {}
    missing: list[str] = []
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if method not in item:
                continue
            operation = f"{method.upper()} {path}"
            operation_id = item[method].get("operationId")
            if operation_id is None:
                missing.append(operation)
                continue
            assert re.fullmatch(r"[a-z][a-zA-Z0-9]*", operation_id), operation
            assert operation_id not in ids, f"{operation} reuses {ids.get(operation_id)}'s id"
            ids[operation_id] = operation
    assert not missing, f"operations without an operationId: {missing}"


def test_a_hiring_flow_through_the_generated_client(generation: Generation, api: Any) -> None:
    models = generation.models
    create_candidate = generation.endpoint("candidates", "createCandidate")
    get_candidate = generation.endpoint("candidates", "getCandidate")
    get_candidate_matches = generation.endpoint("matching", "getCandidateMatches")
    get_role_ranking = generation.endpoint("matching", "getRoleRanking")

    def record(name: str, level: int) -> Any:
        return models.CompetencyRecord(
            competency=name, level=level, evidence=models.CompetencyRecordEvidence.ASSESSMENT
        )

    # 1. Records name competencies by alias (case ignored); they come back under their keys.
    strong = models.CandidateCreate(
        name="Ada Alias",
        headline="TPM, platform",
        competencies=[
            record("Systems Design", 5),
            record("working with engineers", 5),
            record("requirements engineering", 5),
            record("PROJECT MANAGEMENT", 5),
            record("stakeholder management", 4),
        ],
    )
    response = create_candidate.sync_detailed(client=api, body=strong)
    assert response.status_code == HTTPStatus.CREATED, response.content
    created = response.parsed
    assert isinstance(created, models.Candidate), response.content
    assert isinstance(created.id, uuid.UUID)
    assert response.headers["Location"].endswith(f"/v1/candidates/{created.id}")
    canonical = {
        "technical-depth": 5,
        "engineering-collaboration": 5,
        "technical-requirements": 5,
        "project-lifecycle": 5,
        "stakeholder-communication": 4,
    }
    assert {r.competency: r.level for r in created.competencies} == canonical
    fetched = get_candidate.sync(candidate_id=created.id, client=api)
    assert isinstance(fetched, models.Candidate)
    assert fetched.id == created.id
    assert {r.competency: r.level for r in fetched.competencies} == canonical

    weak = create_candidate.sync(
        client=api,
        body=models.CandidateCreate(name="Wes Weak", competencies=[record("communication", 2)]),
    )
    assert isinstance(weak, models.Candidate)
    assert [r.competency for r in weak.competencies] == ["stakeholder-communication"]

    # 2. The candidate's matches, typed down to the breakdown rows.
    matches = get_candidate_matches.sync(candidate_id=created.id, client=api)
    assert isinstance(matches, models.CandidateMatches)
    assert matches.candidate_id == created.id
    by_role = {m.role: m for m in matches.matches}
    assert {"tpm", "tmp"} <= set(by_role)
    tpm = by_role["tpm"]
    assert isinstance(tpm, models.Match)
    assert isinstance(tpm.band, models.MatchBand)
    assert tpm.must_haves_met is True
    assert all(isinstance(row, models.BreakdownRow) for row in tpm.breakdown)
    assert sum(row.contribution for row in tpm.breakdown) == pytest.approx(tpm.score, abs=0.05)
    depth = next(row for row in tpm.breakdown if row.competency == "technical-depth")
    assert (depth.must_have, depth.candidate_level, depth.met) == (True, 5, True)

    # 3. The TPM ranking, one candidate a page: must-haves met first, then the cursor.
    first = get_role_ranking.sync(key="tpm", client=api, limit=1)
    assert isinstance(first, models.RankingPage)
    assert [item.candidate.id for item in first.data] == [created.id]
    (item,) = first.data
    assert isinstance(item, models.RankingItem)
    assert isinstance(item.candidate, models.RankedCandidate)
    assert (item.candidate.name, item.candidate.headline) == ("Ada Alias", "TPM, platform")
    assert item.must_haves_met is True
    assert item.score == pytest.approx(tpm.score, abs=0.01)
    assert isinstance(first.next_cursor, str)
    second = get_role_ranking.sync(key="tpm", client=api, limit=1, cursor=first.next_cursor)
    assert isinstance(second, models.RankingPage)
    assert [item.candidate.id for item in second.data] == [weak.id]
    assert second.data[0].must_haves_met is False
    assert second.next_cursor is None


def test_errors_are_parsed_as_problem_documents(generation: Generation, api: Any) -> None:
    models = generation.models
    get_candidate = generation.endpoint("candidates", "getCandidate")
    get_candidate_matches = generation.endpoint("matching", "getCandidateMatches")

    # 4. A documented 404, then one that only the `default` response covers: both are Problems.
    for endpoint, path in [
        (get_candidate, f"/v1/candidates/{UNKNOWN_ID}"),
        (get_candidate_matches, f"/v1/candidates/{UNKNOWN_ID}/matches"),
    ]:
        response = endpoint.sync_detailed(candidate_id=UNKNOWN_ID, client=api)
        assert response.status_code == HTTPStatus.NOT_FOUND, path
        problem = response.parsed
        assert isinstance(problem, models.Problem), response.content
        assert (problem.status, problem.title, problem.instance) == (404, "Not found", path)
        assert str(UNKNOWN_ID) in problem.detail
        assert problem.request_id
        assert problem.request_id == response.headers["X-Request-ID"]
