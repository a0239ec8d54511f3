"""The database baseline: one indexed SELECT by id per request, no auth, no audit, no metrics.

Served with the same gunicorn settings as rolefit (``bench.common.gunicorn("bench.one_query:app",
...)``) against the same database (``ROLEFIT_DATABASE_URL``), it is the floor for any endpoint
that must read the database once: rolefit's hot reads are reported as a ratio to it.
"""

from __future__ import annotations

import os
import uuid

from flask import Flask, abort
from sqlalchemy import create_engine, text

app = Flask(__name__)
engine = create_engine(
    os.environ.get("ROLEFIT_DATABASE_URL", "sqlite://"), pool_size=4, pool_pre_ping=False
)
SELECT_CANDIDATE = text("SELECT id, name, headline, updated_at FROM candidates WHERE id = :id")


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/candidates/<uuid:candidate_id>")
def candidate(candidate_id: uuid.UUID) -> dict[str, str | None]:
    with engine.connect() as connection:
        row = connection.execute(SELECT_CANDIDATE, {"id": candidate_id}).one_or_none()
    if row is None:
        abort(404)
    return {
        "id": str(row.id),
        "name": row.name,
        "headline": row.headline,
        "updated_at": row.updated_at.isoformat(),
    }
