"""Role profiles: a role points at its current version; versions are immutable rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.infra.orm import Base, UTCDateTime, utcnow


class Role(Base):
    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    current_version: Mapped[int] = mapped_column(default=1)
    # Month index (year*12 + month-1) for which all of this role's stored matches were last
    # recomputed; when the month moves on, recency changes and the role is rescored.
    scored_month: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    versions: Mapped[list[RoleVersion]] = relationship(
        back_populates="role", order_by="RoleVersion.version", cascade="all, delete-orphan"
    )

    # current_version doubles as the optimistic-concurrency counter: a PUT that raced another
    # PUT finds the version moved and writes nothing.
    __mapper_args__ = {"version_id_col": current_version, "version_id_generator": False}


class RoleVersion(Base):
    __tablename__ = "role_versions"
    __table_args__ = (UniqueConstraint("role_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"))
    version: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    focus: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_key_id: Mapped[str | None] = mapped_column(String(36))

    role: Mapped[Role] = relationship(back_populates="versions")
    responsibilities: Mapped[list[Responsibility]] = relationship(
        back_populates="role_version",
        order_by="Responsibility.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class Responsibility(Base):
    __tablename__ = "responsibilities"
    __table_args__ = (
        UniqueConstraint("role_version_id", "competency_id"),
        CheckConstraint("importance BETWEEN 1 AND 5", name="importance_range"),
        CheckConstraint("level BETWEEN 1 AND 5", name="level_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    role_version_id: Mapped[int] = mapped_column(ForeignKey("role_versions.id", ondelete="CASCADE"))
    position: Mapped[int]
    competency_id: Mapped[int] = mapped_column(ForeignKey("competencies.id"), index=True)
    importance: Mapped[int]
    level: Mapped[int]
    must_have: Mapped[bool] = mapped_column(default=False)
    rationale: Mapped[str] = mapped_column(Text, default="")

    role_version: Mapped[RoleVersion] = relationship(back_populates="responsibilities")
