"""One row whose token changes with every change to the taxonomy or the roles.

Workers cache the catalog (competencies, aliases, current role profiles) keyed by this token and
read the token with each request's authentication query, so a change made through any worker
or instance is seen by all of them on their next request, at no extra round trip.
"""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class CatalogState(Base):
    __tablename__ = "catalog_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32))
