"""SQLAlchemy models, one module per aggregate. Importing this package registers them all."""

from service.models.accountability import BiasAudit, SelfIdentification
from service.models.apikey import ApiKey
from service.models.application import Application, Transition
from service.models.audit import AuditEvent, AuditSeal
from service.models.candidate import Candidate, CandidateCompetency
from service.models.catalog import CatalogState
from service.models.competency import Competency, CompetencyAlias
from service.models.erasure import CandidateTombstone
from service.models.event import Event, OutboxCursor
from service.models.funnel import JobCountStamp, JobProgressCount, JobStageCount, JobStayCount
from service.models.idempotency import IdempotencyRecord
from service.models.job import Job, JobStage, RejectionReason
from service.models.match import Match, RoleScoreCount, RoleScorePointCount
from service.models.ratelimit import RateLimitCounter
from service.models.role import Responsibility, Role, RoleVersion
from service.models.webhook import Delivery, DeliveryAttempt, WebhookEndpoint

__all__ = [
    "ApiKey",
    "Application",
    "AuditEvent",
    "AuditSeal",
    "BiasAudit",
    "Candidate",
    "CandidateCompetency",
    "CandidateTombstone",
    "CatalogState",
    "Competency",
    "CompetencyAlias",
    "Delivery",
    "DeliveryAttempt",
    "Event",
    "IdempotencyRecord",
    "Job",
    "JobCountStamp",
    "JobProgressCount",
    "JobStage",
    "JobStageCount",
    "JobStayCount",
    "Match",
    "OutboxCursor",
    "RateLimitCounter",
    "RejectionReason",
    "Responsibility",
    "Role",
    "RoleScoreCount",
    "RoleScorePointCount",
    "RoleVersion",
    "SelfIdentification",
    "Transition",
    "WebhookEndpoint",
]
