"""The competency taxonomy: what a role can require and a candidate can have."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.infra.orm import Base, UTCDateTime, utcnow


class Competency(Base):
    __tablename__ = "competencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(64), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    row_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    aliases: Mapped[list[CompetencyAlias]] = relationship(
        back_populates="competency",
        cascade="all, delete-orphan",
        order_by="CompetencyAlias.position",
        lazy="selectin",
    )

    __mapper_args__ = {"version_id_col": row_version}


class CompetencyAlias(Base):
    """Another name for a competency; ``normalized`` (casefolded, single-spaced) is unique."""

    __tablename__ = "competency_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    competency_id: Mapped[int] = mapped_column(
        ForeignKey("competencies.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    alias: Mapped[str] = mapped_column(String(200))
    normalized: Mapped[str] = mapped_column(String(200), unique=True)

    competency: Mapped[Competency] = relationship(back_populates="aliases")
