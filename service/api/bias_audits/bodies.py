"""Response bodies of /v1/bias-audits, as JSON (:mod:`.schemas`) and as CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from service.api.jsonio import rfc3339
from service.models import BiasAudit

_REPORT_FIELDS = (
    "method_version",
    "model_version",
    "role",
    "role_version",
    "job_id",
    "selection",
    "window",
    "exclude_small_categories",
    "justification",
    "population",
    "median",
    "ties_at_median",
    "share_above",
    "inputs_hash",
    "dimensions",
)
# One row per category; the report's own fields repeat on every row, so that each row stands
# alone in a spreadsheet.
CSV_COLUMNS = (
    "audit_id",
    "method_version",
    "model_version",
    "role",
    "role_version",
    "job_id",
    "selection",
    "window_from",
    "window_to",
    "population",
    "median",
    "ties_at_median",
    "share_above",
    "inputs_hash",
    "dimension",
    "unknown",
    "benchmark_scoring",
    "benchmark_selection",
    "category",
    "n",
    "scored_above",
    "scoring_rate",
    "scoring_impact_ratio",
    "selected",
    "selection_rate",
    "selection_impact_ratio",
    "excluded",
    "low_n",
    "four_fifths_flag_scoring",
    "four_fifths_flag_selection",
    "fisher_p_scoring",
    "fisher_p_selection",
)


def bias_audit_body(audit: BiasAudit) -> dict[str, Any]:
    report = audit.report
    return {
        "id": str(audit.id),
        "created_at": rfc3339(audit.created_at),
        **{name: report[name] for name in _REPORT_FIELDS},
    }


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def bias_audit_csv(audit: BiasAudit) -> str:
    """The report as CSV (RFC 4180, CRLF line ends), one row per category of each dimension."""
    report = audit.report
    window = report["window"] or {}
    common = {
        "audit_id": str(audit.id),
        **{name: report[name] for name in CSV_COLUMNS if name in report},
        "window_from": window.get("from"),
        "window_to": window.get("to"),
    }
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for dimension in report["dimensions"]:
        head = {k: dimension[k] for k in ("dimension", "unknown") if k in dimension}
        head["benchmark_scoring"] = dimension["benchmark_scoring"]
        head["benchmark_selection"] = dimension["benchmark_selection"]
        for category in dimension["categories"]:
            row = {**common, **head, **category}
            writer.writerow({k: _cell(row.get(k)) for k in CSV_COLUMNS})
    return out.getvalue()
