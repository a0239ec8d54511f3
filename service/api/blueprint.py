"""The project's flask-smorest ``Blueprint``: request bodies are parsed once.

``@write`` already parses and vets every JSON body (:func:`service.api.writes.check_json_body`);
without this, webargs would parse the same bytes again before the schema sees them.
"""

from __future__ import annotations

from typing import Any

import flask
import flask_smorest
from flask import g
from webargs.flaskparser import FlaskParser


class _BodyOnceParser(FlaskParser):
    def _raw_load_json(self, req: flask.Request) -> Any:
        if "json_body" in g:
            return g.json_body
        return super()._raw_load_json(req)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = _BodyOnceParser()
