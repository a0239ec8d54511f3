"""Response bodies of /v1/jobs and /v1/rejection-reasons, as :mod:`.schemas` documents them."""

from __future__ import annotations

from typing import Any

from service.api.jsonio import rfc3339
from service.domain.applications import StageRow
from service.domain.jobs import current_stages
from service.models import Job, JobStage, RejectionReason


def stage_body(stage: JobStage | StageRow) -> dict[str, Any]:
    return {
        "id": stage.id,  # a UUID: json_response writes it
        "name": stage.name,
        "kind": stage.kind,
        "position": stage.position,
    }


def _time(value: Any) -> str | None:
    return None if value is None else rfc3339(value)


def job_body(job: Job, role_key: str) -> dict[str, Any]:
    return {
        "id": str(job.id),
        "title": job.title,
        "role": role_key,
        "department": job.department,
        "location": job.location,
        "status": job.status,
        "openings": job.openings,
        "hired": job.hired,
        "stages": [stage_body(s) for s in current_stages(job)],
        "opened_at": _time(job.opened_at),
        "closed_at": _time(job.closed_at),
        "created_at": rfc3339(job.created_at),
        "updated_at": rfc3339(job.updated_at),
    }


def reason_body(reason: RejectionReason) -> dict[str, Any]:
    return {"key": reason.key, "name": reason.name, "type": reason.type, "active": reason.active}
