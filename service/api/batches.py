"""How a batch endpoint answers: one result per item, in order, whatever becomes of the others.

Shared by ``POST /v1/candidates/batch`` and ``POST /v1/applications/batch``: each item is loaded
with the single-item schema (a bad shape is that item's 422), the domain creates the good ones
set-based (:class:`~service.domain.batch.BatchOutcome`), and each failure is a problem document
of its own, located in the request body by ``instance``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, ValidationError

from service.api.errors import domain_problem_body, flatten_errors, problem_body
from service.domain.batch import BatchOutcome


class BatchResults:
    """The results of one batch request over the list ``collection`` of its body."""

    def __init__(self, collection: str) -> None:
        self.collection = collection
        self.results: dict[int, dict[str, Any]] = {}

    def instance(self, index: int) -> str:
        return f"/v1/{self.collection}/batch#/{self.collection}/{index}"

    def load(
        self,
        items: list[Any],
        schema: Schema,
        check: Callable[[dict[str, Any]], None] | None = None,
    ) -> list[tuple[int, dict[str, Any]]]:
        """The items that load, with their index; the others get their 422 result. ``check``
        runs on each loaded item (it may refuse the whole request, e.g. a missing scope)."""
        loaded = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                what = f"each item must be an object, as for POST /v1/{self.collection}"
                self._invalid(index, {"_schema": [what]})
                continue
            try:
                data = schema.load(item)
            except ValidationError as error:
                self._invalid(index, flatten_errors(error.messages))
                continue
            if check is not None:
                check(data)
            loaded.append((index, data))
        return loaded

    def body(self, outcome: BatchOutcome) -> dict[str, Any]:
        """``{"results": [...]}`` in item order."""
        for index, created_id in outcome.created.items():
            self.results[index] = {"index": index, "status": 201, "id": str(created_id)}
        for index, failure in outcome.failed.items():
            self._problem(index, domain_problem_body(failure, instance=self.instance(index)))
        return {"results": [self.results[i] for i in sorted(self.results)]}

    def _invalid(self, index: int, errors: dict[str, list[str]]) -> None:
        detail = "the item has invalid fields; see errors"
        problem = problem_body(
            422, "Validation failed", detail, errors=errors, instance=self.instance(index)
        )
        self._problem(index, problem)

    def _problem(self, index: int, problem: dict[str, Any]) -> None:
        self.results[index] = {"index": index, "status": problem["status"], "problem": problem}


def created_ids(body: dict[str, Any]) -> list[Any]:
    """The ids a batch response created (for the audit trail)."""
    return [item["id"] for item in body["results"] if item["status"] == 201]
