"""/v1/audit-events, and the recording of audit events from HTTP requests."""
