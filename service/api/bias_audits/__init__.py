"""/v1/bias-audits, PUT /v1/candidates/{id}/self-identification and GET /v1/model."""
