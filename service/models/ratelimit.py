"""Rate-limit counters when no Redis is configured: one row per API key and window."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from service.infra.orm import Base


class RateLimitCounter(Base):
    __tablename__ = "rate_limit_counters"

    api_key_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # Start of the window, in seconds since the epoch (a multiple of the window length).
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hits: Mapped[int]
