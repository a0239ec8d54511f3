"""GET /v1/model: the scoring model card."""
