"""Loads the built-in taxonomy and role profiles (``service/data/builtin.yaml``) and the
built-in rejection reasons (:data:`service.domain.jobs.BUILTIN_REASONS`).

Only what is missing is added: a competency or role that already exists, edited by the
deployment or not, is left exactly as it is, so running the loader again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain.competencies import create_competency
from service.domain.jobs import load_builtin_reasons
from service.domain.roles import RoleDraft, create_role
from service.models import Competency, Role


@dataclass
class LoadReport:
    competencies_added: list[str] = field(default_factory=list)
    roles_added: list[str] = field(default_factory=list)
    reasons_added: list[str] = field(default_factory=list)


def builtin_data() -> dict[str, Any]:
    text = resources.files("service.data").joinpath("builtin.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def load_builtin(session: Session) -> LoadReport:
    """Add the built-in competencies and roles that the database does not have yet."""
    data = builtin_data()
    report = LoadReport()
    existing = set(session.scalars(select(Competency.key)))
    for item in data["competencies"]:
        if item["key"] in existing:
            continue
        create_competency(
            session,
            key=item["key"],
            name=item["name"],
            category=item["category"],
            description=item.get("description", ""),
            aliases=item.get("aliases", []),
        )
        report.competencies_added.append(item["key"])
    existing_roles = set(session.scalars(select(Role.key)))
    for item in data["roles"]:
        if item["key"] in existing_roles:
            continue
        draft = RoleDraft(
            title=item["title"],
            summary=item.get("summary", ""),
            focus=item.get("focus", ""),
            responsibilities=item["responsibilities"],
        )
        create_role(session, item["key"], draft, by_key=None)
        report.roles_added.append(item["key"])
    report.reasons_added = load_builtin_reasons(session)
    return report
