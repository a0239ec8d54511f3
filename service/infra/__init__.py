"""The only place that knows drivers, threads and clients.

Engines and their pools (:mod:`.database`), the declarative base and column types (:mod:`.orm`),
time-ordered ids (:mod:`.ids`), the fast statements the hot paths and bulk loads use
(:mod:`.driver_query`, :mod:`.bulk`), the buffered audit writer and its thread
(:mod:`.audit_writer`), rate-limit counters in Redis or SQL (:mod:`.rate_limit_counters`), the
per-process catalog cache (:mod:`.catalog_cache`), the Idempotency-Key store
(:mod:`.idempotency_store`) and the fast path for request bodies (:mod:`.fast_schema`).

Nothing here imports Flask or the domain. Every speed trick states, in its docstring, the
measurement that justified it.
"""
