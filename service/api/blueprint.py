"""The project's flask-smorest ``Blueprint``, and how to find the handler that serves a request.

Request bodies are parsed once and strictly (:func:`service.api.jsonio.request_json`): webargs
gets that value instead of parsing the bytes again with the standard library's lenient parser,
and the Idempotency-Key fingerprint uses the same value.
"""

from __future__ import annotations

from typing import Any

import flask
import flask_smorest
from webargs.flaskparser import FlaskParser

from service.api.jsonio import request_json


class _BodyOnceParser(FlaskParser):
    def _raw_load_json(self, req: flask.Request) -> Any:
        return request_json()


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    ARGUMENTS_PARSER = _BodyOnceParser()

    def arguments(self, schema: Any, *args: Any, **kwargs: Any) -> Any:
        """flask-smorest's ``arguments``, with a schema class made an instance once, here:
        given a class, webargs makes a new instance for every request, and a marshmallow
        schema's ``__init__`` copies all its fields: 31 µs for the query of a job's ranked
        applications, 58 µs for a candidate PATCH body (timeit), on every request. Instances
        hold no state between loads."""
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)


def view_handler(app: flask.Flask, endpoint: str, method: str) -> Any:
    """The function that serves ``method`` at ``endpoint`` (a MethodView's method, or the view
    function), with the attributes its decorators left on it (scope, unit of work, audit)."""
    view = app.view_functions.get(endpoint)
    view_class = getattr(view, "view_class", None)
    if view_class is None:
        return view
    return getattr(view_class, "get" if method == "HEAD" else method.lower(), None)
