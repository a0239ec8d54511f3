"""/v1/jobs and /v1/rejection-reasons: the frame of the hiring pipeline."""

from __future__ import annotations

import uuid
from typing import Any

from flask import url_for
from flask.views import MethodView

from service.api.applications.bodies import job_application_body
from service.api.applications.schemas import JobApplicationPageSchema, JobApplicationsArgsSchema
from service.api.audit.recording import audited
from service.api.auth import requires
from service.api.blueprint import Blueprint
from service.api.jobs.bodies import job_body, reason_body
from service.api.jobs.schemas import (
    FunnelArgsSchema,
    FunnelSchema,
    JobCreateSchema,
    JobPageSchema,
    JobPatchSchema,
    JobQueryArgsSchema,
    JobSchema,
    RejectionReasonPageSchema,
    RejectionReasonPatchSchema,
    RejectionReasonSchema,
    StagesBodySchema,
)
from service.api.jsonio import json_response
from service.api.openapi import (
    ETAG_HEADER,
    LOCATION_HEADER,
    REPLAYED_HEADER,
    idempotency_doc,
    if_match_doc,
    key_parameter,
    links_doc,
    problem_doc,
)
from service.api.pagination import LINK_HEADER, decode_cursor, page_response, parse_uuid_cursor
from service.api.schemas import PageArgsSchema
from service.api.unit_of_work import (
    check_if_match,
    etag_for,
    request_connection,
    request_session,
    write,
)
from service.domain import applications as pipeline
from service.domain import funnel, jobs
from service.models import Job

blp = Blueprint("jobs", __name__, description="Jobs and their stages; rejection reasons.")

_ITEM = {"job_id": "$response.body#/id"}
_NEXT = {
    "GetJob": {"operationId": "getJob", "parameters": _ITEM},
    "UpdateJob": {
        "operationId": "updateJob",
        "parameters": {**_ITEM, "header.If-Match": "$response.header.ETag"},
    },
    "GetJobApplications": {"operationId": "listJobApplications", "parameters": _ITEM},
    "GetJobFunnel": {"operationId": "getJobFunnel", "parameters": _ITEM},
}


def _job(job: Job) -> dict[str, Any]:
    return job_body(job, jobs.role_keys(request_session())[job.role_id])


def _job_response(job: Job, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    return json_response(_job(job), status, {"ETag": etag_for(job.row_version), **(headers or {})})


@blp.route("/v1/jobs")
class Jobs(MethodView):
    @requires("pipeline:read")
    @blp.arguments(JobQueryArgsSchema, location="query")
    @blp.response(200, JobPageSchema, headers=LINK_HEADER)
    @problem_doc(blp, 400, "The cursor is invalid or belongs to another list")
    @blp.doc(operationId="listJobs")
    @audited("list", "job")
    def get(self, args: dict[str, Any]) -> Any:
        """List jobs in creation order.

        Filters: `status`, `role` (a role key) and `q`, a case-insensitive substring of the
        title, department or location.
        """
        after = None
        if "cursor" in args:
            (cursor_id,) = decode_cursor(args["cursor"], "jobs", (str,))
            after = parse_uuid_cursor(cursor_id)
        found = jobs.list_jobs(
            request_session(),
            limit=args["limit"] + 1,
            after=after,
            status=args.get("status"),
            role_key=args.get("role"),
            q=args.get("q"),
        )
        keys = jobs.role_keys(request_session())
        rows = [job_body(j, keys[j.role_id]) for j in found]
        body, headers = page_response(rows, args["limit"], "jobs", lambda r: [r["id"]])
        return json_response(body, headers=headers)

    @requires("pipeline:write")
    @write
    @blp.arguments(JobCreateSchema)
    @blp.response(201, JobSchema, headers={**LOCATION_HEADER, **ETAG_HEADER, **REPLAYED_HEADER})
    @idempotency_doc(blp)
    @problem_doc(blp, 404, "No role with this key")
    @links_doc(blp, 201, _NEXT)
    @blp.doc(operationId="createJob")
    @audited("create", "job", ids=lambda body: [body["id"]])
    def post(self, data: dict[str, Any]) -> Any:
        """Open a job against a role profile (draft unless `status` says otherwise).

        Without `stages` the job gets Applied, Screen, Assessment, Interview and Offer. Its
        applications are scored against the role's current version.
        """
        job = jobs.create_job(request_session(), data)
        location = url_for("jobs.JobItem", job_id=job.id)
        return _job_response(job, 201, {"Location": location})


@blp.route("/v1/jobs/<uuid:job_id>")
class JobItem(MethodView):
    @requires("pipeline:read")
    @blp.response(200, JobSchema, headers=ETAG_HEADER)
    @problem_doc(blp, 404, "No job with this id")
    @links_doc(blp, 200, _NEXT)
    @blp.doc(operationId="getJob")
    @audited("read", "job", id_arg="job_id")
    def get(self, job_id: uuid.UUID) -> Any:
        """Get a job with its stages; the ETag is for PATCH and PUT stages.

        `hired` counts the job's current hires; `stages` are the current ones, in order.
        """
        return _job_response(jobs.get_job(request_session(), job_id))

    @requires("pipeline:write")
    @write
    @blp.arguments(JobPatchSchema)
    @blp.response(200, JobSchema, headers=ETAG_HEADER)
    @if_match_doc(blp)
    @problem_doc(blp, 404, "No job with this id")
    @problem_doc(blp, 409, "The status move is not allowed, or openings would fall below hired")
    @links_doc(blp, 200, _NEXT)
    @blp.doc(operationId="updateJob")
    @audited("update", "job", id_arg="job_id")
    def patch(self, changes: dict[str, Any], job_id: uuid.UUID) -> Any:
        """Change a job (If-Match required): title, department, location, openings, status.

        Status moves: draft -> open -> closed -> archived, and closed -> open; any other is a
        409. A job is never deleted.
        """
        session = request_session()
        job = jobs.get_job(session, job_id)
        check_if_match(etag_for(job.row_version))
        jobs.update_job(session, job, changes)
        return _job_response(job)


@blp.route("/v1/jobs/<uuid:job_id>/stages")
class JobStages(MethodView):
    @requires("pipeline:write")
    @write
    @blp.arguments(StagesBodySchema)
    @blp.response(200, JobSchema, headers=ETAG_HEADER)
    @if_match_doc(blp)
    @problem_doc(blp, 404, "No job with this id, or a stage id that is not the job's")
    @problem_doc(blp, 409, "A stage this would remove holds active applications")
    @blp.doc(operationId="replaceJobStages")
    @audited("update", "job", id_arg="job_id")
    def put(self, body: dict[str, Any], job_id: uuid.UUID) -> Any:
        """Replace the job's ordered stages (If-Match of the job).

        A stage sent with its `id` is kept (renamed, moved), one without is new, one left out
        is removed; removing a stage that holds active applications is a 409 naming how many.
        Removed stages stay in the history of the applications that went through them.
        """
        session = request_session()
        job = jobs.get_job(session, job_id)
        check_if_match(etag_for(job.row_version))
        jobs.replace_stages(session, job, body["stages"])
        return _job_response(job)


@blp.route("/v1/jobs/<uuid:job_id>/applications")
class JobApplications(MethodView):
    @requires("pipeline:read")
    @blp.arguments(JobApplicationsArgsSchema, location="query")
    @blp.response(200, JobApplicationPageSchema, headers=LINK_HEADER)
    @problem_doc(blp, 400, "The cursor is invalid or belongs to another list")
    @problem_doc(blp, 404, "No job with this id")
    @blp.doc(operationId="listJobApplications")
    @audited("list", "application", id_arg="job_id")
    def get(self, args: dict[str, Any], job_id: uuid.UUID) -> Any:
        """The recruiter's view of a job: its applications, best match first.

        Ordered by must-haves met, then score (the stored match against the job's role), then
        application id. Filters: `status`, `stage`, `min_score`, `must_haves_met`.
        """
        after = None
        list_name = f"jobs/{job_id}/applications"
        if "cursor" in args:
            rank, last = decode_cursor(args["cursor"], list_name, (int, str))
            after = (rank, parse_uuid_cursor(last))
        min_score = args.get("min_score")
        rows = pipeline.job_ranking(
            request_connection(),
            job_id,
            limit=args["limit"] + 1,
            after=after,
            status=args.get("status"),
            stage_id=args.get("stage"),
            min_score_hundredths=round(min_score * 100) if min_score is not None else None,
            must_haves_met=args.get("must_haves_met"),
        )
        if not rows:
            jobs.get_job(request_session(), job_id)  # 404 for no job; else an empty page
        ranks = {r.view.application.id: r.rank_key for r in rows}
        body, headers = page_response(
            [job_application_body(r) for r in rows],
            args["limit"],
            list_name,
            lambda i: [ranks[i["id"]], str(i["id"])],
        )
        return json_response(body, headers=headers)


@blp.route("/v1/jobs/<uuid:job_id>/funnel")
class JobFunnel(MethodView):
    @requires("pipeline:read")
    @blp.arguments(FunnelArgsSchema, location="query")
    @blp.response(200, FunnelSchema)
    @problem_doc(blp, 404, "No job with this id")
    @blp.doc(operationId="getJobFunnel")
    @audited("read", "job-funnel", id_arg="job_id")
    def get(self, args: dict[str, Any], job_id: uuid.UUID) -> Any:
        """The job's funnel: how far its applications got, stage by stage.

        The whole job is read from counts that every action keeps up to date; a cohort is
        computed in SQL from its applications' transitions (the same numbers). Per stage:
        `reached` (ever in it or a later one), `advanced` (of those, got further or hired),
        `conversion`, `current`, `rejected_here` and days in stage over completed stays;
        time to hire, and applications and hires per source. Cohort filters: `applied_after`,
        `applied_before`, `source`. Erased candidates' applications still count.
        """
        session = request_session()
        job = jobs.get_job(session, job_id)
        return json_response(
            funnel.job_funnel(
                session,
                job,
                applied_after=args.get("applied_after"),
                applied_before=args.get("applied_before"),
                source=args.get("source"),
            )
        )


# --------------------------------------------------------------------------- rejection reasons

_REASON = {"key": "$response.body#/key"}


@blp.route("/v1/rejection-reasons")
class RejectionReasons(MethodView):
    @requires("pipeline:read")
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, RejectionReasonPageSchema, headers=LINK_HEADER)
    @problem_doc(blp, 400, "The cursor is invalid or belongs to another list")
    @blp.doc(operationId="listRejectionReasons")
    @audited("list", "rejection-reason")
    def get(self, args: dict[str, Any]) -> Any:
        """List rejection reasons, ordered by key.

        Retired ones (`active: false`) are listed too: applications keep the reason they were
        rejected with.
        """
        after = None
        if "cursor" in args:
            (after,) = decode_cursor(args["cursor"], "rejection-reasons", (str,))
        found = jobs.list_reasons(request_session(), limit=args["limit"] + 1, after=after)
        rows = [reason_body(r) for r in found]
        body, headers = page_response(
            rows, args["limit"], "rejection-reasons", lambda r: [r["key"]]
        )
        return json_response(body, headers=headers)

    @requires("pipeline:write")
    @write
    @blp.arguments(RejectionReasonSchema)
    @blp.response(
        201, RejectionReasonSchema, headers={**LOCATION_HEADER, **ETAG_HEADER, **REPLAYED_HEADER}
    )
    @idempotency_doc(blp, conflict="A rejection reason with this key exists")
    @links_doc(
        blp,
        201,
        {
            "UpdateRejectionReason": {
                "operationId": "updateRejectionReason",
                "parameters": {**_REASON, "header.If-Match": "$response.header.ETag"},
            }
        },
    )
    @blp.doc(operationId="createRejectionReason")
    @audited("create", "rejection-reason", ids=lambda body: [body["key"]])
    def post(self, data: dict[str, Any]) -> Any:
        """Add a rejection reason.

        `type` says whose decision it was: ours (`we_rejected`), the candidate's
        (`candidate_withdrew`), or `other`. A key that exists is a 409.
        """
        reason = jobs.create_reason(request_session(), data)
        headers = {
            "Location": url_for("jobs.RejectionReasonItem", key=reason.key),
            "ETag": etag_for(reason.row_version),
        }
        return json_response(reason_body(reason), 201, headers)


@blp.route("/v1/rejection-reasons/<string:key>", parameters=key_parameter("rejection reason"))
class RejectionReasonItem(MethodView):
    @requires("pipeline:read")
    @blp.response(200, RejectionReasonSchema, headers=ETAG_HEADER)
    @problem_doc(blp, 404, "No rejection reason with this key")
    @blp.doc(operationId="getRejectionReason")
    @audited("read", "rejection-reason", id_arg="key")
    def get(self, key: str) -> Any:
        """Get a rejection reason; the ETag is for PATCH.

        An unknown key is a 404.
        """
        reason = jobs.get_reason(request_session(), key)
        return json_response(reason_body(reason), headers={"ETag": etag_for(reason.row_version)})

    @requires("pipeline:write")
    @write
    @blp.arguments(RejectionReasonPatchSchema)
    @blp.response(200, RejectionReasonSchema, headers=ETAG_HEADER)
    @if_match_doc(blp)
    @problem_doc(blp, 404, "No rejection reason with this key")
    @blp.doc(operationId="updateRejectionReason")
    @audited("update", "rejection-reason", id_arg="key")
    def patch(self, changes: dict[str, Any], key: str) -> Any:
        """Rename a rejection reason or retire it (`active: false`), If-Match required.

        A retired reason stays on the applications rejected with it; new rejections cannot use
        it.
        """
        session = request_session()
        reason = jobs.get_reason(session, key)
        check_if_match(etag_for(reason.row_version))
        jobs.update_reason(session, reason, changes)
        return json_response(reason_body(reason), headers={"ETag": etag_for(reason.row_version)})
