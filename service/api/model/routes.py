"""GET /v1/model: the model card (EU AI Act Art. 13), generated from the scoring constants."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from service.api.audit.recording import audited
from service.api.auth import requires
from service.api.blueprint import Blueprint
from service.api.jsonio import json_response
from service.api.model.schemas import ModelCardSchema
from service.domain.model_card import model_card

blp = Blueprint("model", __name__, description="The scoring model card.")


@blp.route("/v1/model")
class ModelCard(MethodView):
    @requires("roles:read")
    @blp.response(200, ModelCardSchema)
    @blp.doc(operationId="getModelCard")
    @audited("read", "model")
    def get(self) -> Any:
        """The scoring model as data: version, formula, every constant, guarantees, intended
        use ("ranks candidates for human review; never rejects anyone by itself"), known
        limits, how to read a breakdown, and the human oversight rules.

        Built from the very constants the scoring code uses, never a second copy.
        """
        return json_response(model_card())
