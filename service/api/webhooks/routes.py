"""/v1/webhook-endpoints: where rolefit sends its events, signed (events.md)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app, url_for
from flask.views import MethodView

from service.api.audit.recording import audited
from service.api.auth import requires
from service.api.blueprint import Blueprint
from service.api.errors import abort
from service.api.jsonio import json_response
from service.api.openapi import (
    ETAG_HEADER,
    LOCATION_HEADER,
    REPLAYED_HEADER,
    idempotency_doc,
    if_match_doc,
    problem_doc,
)
from service.api.pagination import LINK_HEADER, decode_cursor, page_response, parse_uuid_cursor
from service.api.schemas import PageArgsSchema
from service.api.unit_of_work import check_if_match, etag_for, request_session, write
from service.api.webhooks.bodies import attempt_body, endpoint_body
from service.api.webhooks.schemas import (
    DeliveryAttemptPageSchema,
    RecoverQueuedSchema,
    RecoverSchema,
    TestQueuedSchema,
    WebhookEndpointPageSchema,
    WebhookEndpointPatchSchema,
    WebhookEndpointSchema,
    WebhookEndpointWithSecretSchema,
)
from service.config import Config
from service.domain import webhooks
from service.infra.secrets import SecretBox, SecretKeyMissing

blp = Blueprint(
    "webhooks", __name__, description="Webhook endpoints: signed deliveries of the events."
)

_NOT_FOUND = "No webhook endpoint with this id"


def _config() -> Config:
    config: Config = current_app.extensions["rolefit.config"]
    return config


def _box() -> SecretBox:
    """The key that seals signing secrets; 503 when the service has none."""
    try:
        return SecretBox(_config().secret_key)
    except SecretKeyMissing as error:
        abort(503, str(error))


def _policy() -> webhooks.UrlPolicy:
    config = _config()
    return webhooks.UrlPolicy(config.webhooks_allow_http, config.webhooks_allow_private)


def _with_secret(endpoint: Any, secret: str) -> dict[str, Any]:
    return {**endpoint_body(endpoint), "secret": secret}


@blp.route("/v1/webhook-endpoints")
class WebhookEndpoints(MethodView):
    @requires("webhooks:admin")
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, WebhookEndpointPageSchema, headers=LINK_HEADER)
    @problem_doc(blp, 400, "The cursor is invalid or belongs to another list")
    @blp.doc(operationId="listWebhookEndpoints")
    @audited("list", "webhook-endpoint")
    def get(self, args: dict[str, Any]) -> Any:
        """List the webhook endpoints.

        Oldest first; their secrets are never shown again after registration.
        """
        after = None
        if "cursor" in args:
            (last,) = decode_cursor(args["cursor"], "webhook-endpoints", (str,))
            after = parse_uuid_cursor(last)
        found = webhooks.list_endpoints(request_session(), limit=args["limit"] + 1, after=after)
        body, headers = page_response(
            [endpoint_body(e) for e in found],
            args["limit"],
            "webhook-endpoints",
            lambda e: [e["id"]],
        )
        return json_response(body, headers=headers)

    @requires("webhooks:admin")
    @write
    @blp.arguments(WebhookEndpointSchema)
    @blp.response(
        201,
        WebhookEndpointWithSecretSchema,
        headers={**LOCATION_HEADER, **ETAG_HEADER, **REPLAYED_HEADER},
    )
    @idempotency_doc(blp)
    @blp.doc(operationId="createWebhookEndpoint")
    @audited("create", "webhook-endpoint", ids=lambda body: [body["id"]])
    def post(self, data: dict[str, Any]) -> Any:
        """Register an endpoint; the answer carries its signing `secret`, this once.

        Deliveries are signed as Standard Webhooks says (`webhook-id`, `webhook-timestamp`,
        `webhook-signature`); verify them with the secret. The URL must be `https` and must
        not name a private, loopback or link-local address (a 422).
        """
        endpoint, secret = webhooks.create_endpoint(request_session(), data, _box(), _policy())
        headers = {
            "Location": url_for("webhooks.WebhookEndpointItem", endpoint_id=endpoint.id),
            "ETag": etag_for(endpoint.row_version),
        }
        return json_response(_with_secret(endpoint, secret), 201, headers)


@blp.route("/v1/webhook-endpoints/<uuid:endpoint_id>")
class WebhookEndpointItem(MethodView):
    @requires("webhooks:admin")
    @blp.response(200, WebhookEndpointSchema, headers=ETAG_HEADER)
    @problem_doc(blp, 404, _NOT_FOUND)
    @blp.doc(operationId="getWebhookEndpoint")
    @audited("read", "webhook-endpoint", id_arg="endpoint_id")
    def get(self, endpoint_id: uuid.UUID) -> Any:
        """Get an endpoint.

        Without its secret; the ETag is for PATCH. `disabled_reason` says why a disabled one
        stopped receiving.
        """
        endpoint = webhooks.get_endpoint(request_session(), endpoint_id)
        return json_response(
            endpoint_body(endpoint), headers={"ETag": etag_for(endpoint.row_version)}
        )

    @requires("webhooks:admin")
    @write
    @blp.arguments(WebhookEndpointPatchSchema)
    @blp.response(200, WebhookEndpointSchema, headers=ETAG_HEADER)
    @if_match_doc(blp)
    @problem_doc(blp, 404, _NOT_FOUND)
    @blp.doc(operationId="updateWebhookEndpoint")
    @audited("update", "webhook-endpoint", id_arg="endpoint_id")
    def patch(self, changes: dict[str, Any], endpoint_id: uuid.UUID) -> Any:
        """Change an endpoint's `url`, `description`, `event_types` or `enabled`, If-Match.

        Enabling a disabled endpoint clears `disabled_reason`; what it missed meanwhile is not
        replayed (POST .../recover does that).
        """
        session = request_session()
        endpoint = webhooks.get_endpoint(session, endpoint_id)
        check_if_match(etag_for(endpoint.row_version))
        webhooks.update_endpoint(session, endpoint, changes, _policy())
        return json_response(
            endpoint_body(endpoint), headers={"ETag": etag_for(endpoint.row_version)}
        )

    @requires("webhooks:admin")
    @write
    @blp.response(204)
    @problem_doc(blp, 404, _NOT_FOUND)
    @blp.doc(operationId="deleteWebhookEndpoint")
    @audited("delete", "webhook-endpoint", id_arg="endpoint_id")
    def delete(self, endpoint_id: uuid.UUID) -> Any:
        """Remove an endpoint.

        Its waiting deliveries and its attempt log go with it; nothing more is sent to it.
        """
        session = request_session()
        webhooks.delete_endpoint(session, webhooks.get_endpoint(session, endpoint_id))
        return None


@blp.route("/v1/webhook-endpoints/<uuid:endpoint_id>/rotate-secret")
class RotateSecret(MethodView):
    @requires("webhooks:admin")
    @write
    @blp.response(200, WebhookEndpointWithSecretSchema, headers={**ETAG_HEADER, **REPLAYED_HEADER})
    @idempotency_doc(blp)
    @problem_doc(blp, 404, _NOT_FOUND)
    @blp.doc(operationId="rotateWebhookSecret")
    @audited("update", "webhook-endpoint", id_arg="endpoint_id")
    def post(self, endpoint_id: uuid.UUID) -> Any:
        """Rotate the signing secret.

        The new secret is shown this once; for 24 hours deliveries carry signatures with the
        old one and the new one (switch the receiver, then the old one expires).
        """
        session = request_session()
        endpoint = webhooks.get_endpoint(session, endpoint_id)
        secret = webhooks.rotate_secret(session, endpoint, _box())
        return json_response(
            _with_secret(endpoint, secret), headers={"ETag": etag_for(endpoint.row_version)}
        )


@blp.route("/v1/webhook-endpoints/<uuid:endpoint_id>/test")
class TestEndpoint(MethodView):
    @requires("webhooks:admin")
    @write
    @blp.response(202, TestQueuedSchema, headers=REPLAYED_HEADER)
    @idempotency_doc(blp)
    @problem_doc(blp, 404, _NOT_FOUND)
    @blp.doc(operationId="testWebhookEndpoint")
    @audited("create", "webhook-delivery", id_arg="endpoint_id")
    def post(self, endpoint_id: uuid.UUID) -> Any:
        """Send the endpoint a test event.

        A `webhook.test` event for this endpoint only (whatever its event types), signed like
        every delivery; its attempts show in .../deliveries.
        """
        session = request_session()
        event_id = webhooks.send_test(session, webhooks.get_endpoint(session, endpoint_id))
        return json_response({"event_id": event_id}, 202)


@blp.route("/v1/webhook-endpoints/<uuid:endpoint_id>/deliveries")
class Deliveries(MethodView):
    @requires("webhooks:admin")
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, DeliveryAttemptPageSchema, headers=LINK_HEADER)
    @problem_doc(blp, 400, "The cursor is invalid or belongs to another list")
    @problem_doc(blp, 404, _NOT_FOUND)
    @blp.doc(operationId="listWebhookDeliveries")
    @audited("list", "webhook-delivery", id_arg="endpoint_id")
    def get(self, args: dict[str, Any], endpoint_id: uuid.UUID) -> Any:
        """The endpoint's attempt log.

        Newest first: event, attempt number, time, HTTP status or error, duration, and when
        the next attempt is due. Payloads are never kept here.
        """
        session = request_session()
        endpoint = webhooks.get_endpoint(session, endpoint_id)
        list_name = f"webhook-endpoints/{endpoint_id}/deliveries"
        after = None
        if "cursor" in args:
            (last,) = decode_cursor(args["cursor"], list_name, (str,))
            after = parse_uuid_cursor(last)
        found = webhooks.list_attempts(session, endpoint, limit=args["limit"] + 1, after=after)
        # The cursor is the attempt's id, which its body does not show: pair them for paging.
        rows = [(str(a.id), attempt_body(a)) for a in found]
        body, headers = page_response(rows, args["limit"], list_name, lambda r: [r[0]])
        body["data"] = [item for _id, item in body["data"]]
        return json_response(body, headers=headers)


@blp.route("/v1/webhook-endpoints/<uuid:endpoint_id>/recover")
class Recover(MethodView):
    @requires("webhooks:admin")
    @write
    @blp.arguments(RecoverSchema)
    @blp.response(202, RecoverQueuedSchema, headers=REPLAYED_HEADER)
    @idempotency_doc(blp)
    @problem_doc(blp, 404, _NOT_FOUND)
    @blp.doc(operationId="recoverWebhookEndpoint")
    @audited("update", "webhook-delivery", id_arg="endpoint_id")
    def post(self, data: dict[str, Any], endpoint_id: uuid.UUID) -> Any:
        """Replay what the endpoint missed.

        After an outage on the receiver's side: every event since `since` that this endpoint
        did not receive with a 2xx (by its event types as they are now) is sent again.
        """
        session = request_session()
        endpoint = webhooks.get_endpoint(session, endpoint_id)
        return json_response({"queued": webhooks.recover(session, endpoint, data["since"])}, 202)
