"""``rolefit worker``: fans events out to deliveries, claims them, POSTs them, records how.

One loop in the main thread owns the database; a pool of ``concurrency`` threads sends, sharing
one HTTP client (:class:`service.infra.webhook_http.WebhookClient`), so many deliveries are in
flight at once. Each turn of the loop is one transaction that records the outcomes finished
since the last turn and claims as many due deliveries as there are free threads
(:mod:`service.domain.delivery`); fan-out is its own short transaction.

- A database outage (any SQLAlchemy error) is logged and waited out, backing off from 0.5 s
  doubling to ``max_backoff``; outcomes not yet recorded are kept and recorded once it is back
  (if their lease ran out meanwhile and another worker took them over, theirs counts).
- SIGTERM or SIGINT: stop claiming, finish the deliveries in flight, record them, exit 0.
- SIGKILL, a crash, a lost machine: the leases run out (60 s) and any worker sends again.
- One log line per attempt (``webhook.attempt``: ids, attempt, status or error, duration,
  result, next attempt), never the payload or a secret.
- Metrics ``rolefit_webhook_deliveries_total{outcome}`` and
  ``rolefit_webhook_delivery_duration_seconds``, served on ``--metrics-address`` when given
  (the outbox backlog is in the web app's ``/metrics``, computed from the database).
"""

from __future__ import annotations

import logging
import os
import queue
import random
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import structlog
from prometheus_client import Counter, Histogram
from sqlalchemy import event as sa_event
from sqlalchemy.exc import SQLAlchemyError

from service.config import Config
from service.domain import delivery
from service.infra.database import Database
from service.infra.orm import utcnow
from service.infra.secrets import SecretBox
from service.infra.webhook_http import WebhookClient

DELIVERIES = Counter(
    "rolefit_webhook_deliveries_total",
    "Webhook delivery attempts by outcome: delivered, retry, failed (given up), gone (410), "
    "stale (lease lost to another worker)",
    ["outcome"],
)
DELIVERY_LATENCY = Histogram(
    "rolefit_webhook_delivery_duration_seconds",
    "Time from sending a webhook to the receiver's answer (or the failure)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

TESTING_SECRET_KEY = "test key"  # noqa: S105 (the tests' key, refused outside testing)
log = structlog.get_logger("rolefit.worker")


def user_agent() -> str:
    try:
        version = metadata.version("rolefit")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        version = "0"
    return f"rolefit-webhooks/{version}"


@dataclass
class Settings:
    concurrency: int = 16  # threads sending, one connection each at most
    prefetch: int = 0  # deliveries claimed ahead (0: 4 x concurrency, at least 200)
    poll_interval: float = 1.0
    fan_out_batch: int = 1000
    lease_seconds: float = delivery.LEASE_SECONDS
    max_backoff: float = 30.0


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{random.randrange(16**4):04x}"


class Worker:
    """The loop; :meth:`stop` (from a signal handler) makes :meth:`run` finish and return."""

    def __init__(self, database: Database, config: Config, settings: Settings) -> None:
        key = config.secret_key or (TESTING_SECRET_KEY if config.testing else None)
        self.box = SecretBox(key)  # raises SecretKeyMissing without a key
        self.database = database
        if database.dialect == "postgresql":
            sa_event.listen(database.engine, "connect", _no_commit_wait)
        self.settings = settings
        self.name = worker_name()
        self.user_agent = user_agent()
        self.client = WebhookClient(
            allow_http=config.webhooks_allow_http,
            allow_private=config.webhooks_allow_private,
            max_connections=settings.concurrency,
            user_agent=self.user_agent,
        )
        self._stopping = threading.Event()
        self._claims = 0
        self._last_fan_out = 0.0
        self._fan_out_full = True

    def stop(self) -> None:
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # ------------------------------------------------------------------ the loop

    def run(self, once: bool = False) -> None:
        """Deliver until stopped; with ``once``, until nothing is due or in flight."""
        settings = self.settings
        prefetch = settings.prefetch or max(4 * settings.concurrency, 200)
        pool = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="webhook")
        # Claimed and not yet recorded: sending, or queued for a free thread.
        inflight: dict[Future[tuple[str, delivery.Outcome | None]], tuple[str, delivery.Claimed]]
        inflight = {}
        # Sends put themselves here when done: the loop takes what is done in O(1) a delivery
        # (concurrent.futures.wait over the ~200 futures in flight cost O(n) a wake-up, and
        # with 16 threads a wake-up per delivery: 1,000 -> see README "Webhooks" figures).
        completed: queue.SimpleQueue[Future[tuple[str, delivery.Outcome | None]]]
        completed = queue.SimpleQueue()
        finished: list[tuple[str, delivery.Outcome]] = []
        unsent: list[tuple[str, delivery.Claimed]] = []
        backoff = 0.0
        last_record = 0.0
        log.info("worker.started", worker=self.name, concurrency=settings.concurrency)
        try:
            while True:
                if self.stopping:
                    # Queued deliveries are handed back (due at once for any worker); the ones
                    # being sent finish.
                    for future in [f for f in inflight if f.cancel()]:
                        unsent.append(inflight.pop(future))
                    # Done once nothing is in flight and all is recorded, or recording failed
                    # for a few seconds (the leases cover what was not recorded).
                    if not inflight and (not (finished or unsent) or backoff >= 2):
                        break
                claimed: list[tuple[str, delivery.Claimed]] = []
                fanned = 0
                try:
                    if not self.stopping:
                        fanned = self._fan_out()
                    # Claims come in large batches, topped up when half is used: the database
                    # work of one batch overlaps the sending of the previous.
                    room = prefetch - len(inflight)
                    want = room if not self.stopping and room * 2 >= prefetch else 0
                    # Outcomes wait up to 0.1 s to be recorded together (fewer round trips
                    # a delivery), unless there are many, a claim is due, or all is done.
                    recent = time.monotonic() - last_record < 0.1
                    if want or not recent or not inflight or len(finished) * 4 >= prefetch:
                        claimed = self._record_and_claim(finished, unsent, want)
                        finished, unsent = [], []
                        last_record = time.monotonic()
                    if backoff:
                        log.info("worker.database_back", worker=self.name)
                    backoff = 0.0
                except SQLAlchemyError as error:
                    backoff = min(max(backoff * 2, 0.5), settings.max_backoff)
                    log.warning(
                        "worker.database_unavailable",
                        worker=self.name,
                        error=type(error).__name__,
                        retry_in_s=backoff,
                        unrecorded=len(finished),
                    )
                for token, item in claimed:
                    future = pool.submit(self._send, token, item, time.monotonic())
                    inflight[future] = (token, item)
                    future.add_done_callback(completed.put)
                if inflight:
                    for future in _take_completed(completed, timeout=0.05):
                        claim = inflight.pop(future, None)
                        if claim is None or future.cancelled():  # cancelled: handed back above
                            continue
                        token, outcome = future.result()
                        if outcome is None:  # waited too long in the queue: not sent
                            unsent.append(claim)
                        else:
                            finished.append((token, outcome))
                elif backoff:
                    time.sleep(backoff) if self.stopping else self._stopping.wait(backoff)
                elif not claimed and not fanned and not finished:
                    if once:
                        break
                    self._stopping.wait(settings.poll_interval)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self.client.close()
            if finished:
                log.warning(
                    "worker.unrecorded",
                    worker=self.name,
                    deliveries=len(finished),
                    detail="sent but not recorded (database unavailable): sent again when "
                    "their leases run out",
                )
            log.info("worker.stopped", worker=self.name)

    def _fan_out(self) -> int:
        """Fan out when the last fan-out found a full batch, or every poll interval."""
        now = time.monotonic()
        if not self._fan_out_full and now - self._last_fan_out < min(
            self.settings.poll_interval, 0.2
        ):
            return 0
        self._last_fan_out = now
        with self.database.session() as session:
            fanned = delivery.fan_out(session, batch_size=self.settings.fan_out_batch)
            session.commit()
        self._fan_out_full = fanned >= self.settings.fan_out_batch
        return fanned

    def _record_and_claim(
        self,
        finished: list[tuple[str, delivery.Outcome]],
        unsent: list[tuple[str, delivery.Claimed]],
        want: int,
    ) -> list[tuple[str, delivery.Claimed]]:
        """One transaction: record ``finished``, hand back ``unsent``, claim up to ``want``.
        Logs after the commit."""
        if not finished and not unsent and want <= 0:
            return []
        recorded: list[delivery.Recorded] = []
        claimed: list[delivery.Claimed] = []
        token = ""
        with self.database.session() as session:
            by_token: dict[str, list[delivery.Outcome]] = {}
            for claim_token, outcome in finished:
                by_token.setdefault(claim_token, []).append(outcome)
            for claim_token, outcomes in by_token.items():
                recorded.extend(delivery.record(session, claim_token, outcomes))
            handed_back: dict[str, list[delivery.Claimed]] = {}
            for claim_token, claimed_item in unsent:
                handed_back.setdefault(claim_token, []).append(claimed_item)
            for claim_token, items in handed_back.items():
                delivery.release(session, claim_token, [c.delivery_id for c in items])
            if want > 0:
                self._claims += 1
                token = f"{self.name}#{self._claims}"
                claimed = delivery.claim(
                    session,
                    token=token,
                    limit=want,
                    box=self.box,
                    lease_seconds=self.settings.lease_seconds,
                    on_problem=self._secret_problem,
                )
            session.commit()
        for item in recorded:
            self._log(item)
        return [(token, c) for c in claimed]

    def _secret_problem(self, endpoint_id: object, message: str) -> None:
        log.error("worker.secret_unreadable", endpoint_id=str(endpoint_id), detail=message)

    def _send(
        self, token: str, claimed: delivery.Claimed, queued_at: float
    ) -> tuple[str, delivery.Outcome | None]:
        """Send ``claimed``; None when it waited in the queue past half its lease (slow
        receivers): it is handed back rather than sent on a lease about to run out, which
        another worker could take meanwhile."""
        if time.monotonic() - queued_at > self.settings.lease_seconds / 2:
            return token, None
        at = utcnow()
        try:
            headers = delivery.signed_headers(claimed, at, self.user_agent)
            answer = self.client.post(claimed.url, claimed.body, headers)
        except Exception as error:  # a bug must not lose the delivery
            return token, delivery.Outcome(claimed, at, None, f"internal error: {error!r}", 0.0)
        DELIVERY_LATENCY.observe(answer.duration)
        return token, delivery.Outcome(
            claimed, at, answer.status_code, answer.error, answer.duration, answer.retry_after
        )

    def _log(self, item: delivery.Recorded) -> None:
        outcome, claimed = item.outcome, item.outcome.claimed
        DELIVERIES.labels(item.result).inc()
        log.info(
            "webhook.attempt",
            delivery_id=str(claimed.delivery_id),
            endpoint_id=str(claimed.endpoint_id),
            event_id=claimed.event_id,
            event_type=claimed.event_type,
            attempt=claimed.attempt,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=round(outcome.duration * 1000, 1),
            result=item.result,
            next_attempt_at=item.next_attempt_at.isoformat() if item.next_attempt_at else None,
        )


def _take_completed(completed: queue.SimpleQueue[Any], timeout: float) -> list[Any]:
    """What is in ``completed``, waiting up to ``timeout`` for the first one."""
    try:
        taken = [completed.get(timeout=timeout)]
    except queue.Empty:
        return []
    while True:
        try:
            taken.append(completed.get_nowait())
        except queue.Empty:
            return taken


def _no_commit_wait(dbapi_connection: Any, _record: Any) -> None:
    """The worker's commits do not wait for the WAL flush (``synchronous_commit = off``): a
    few milliseconds each, most of a batch's cost. Safe here and only here: a commit lost in a
    database crash is a claim (the delivery is due again) or an outcome (sent again), so at
    worst a duplicate, which at-least-once delivery allows; fan-out's cursor and deliveries
    are lost or kept together. Nothing is ever lost that was not already sent."""
    cursor = dbapi_connection.cursor()
    cursor.execute("SET synchronous_commit = off")
    cursor.close()
    dbapi_connection.commit()


def run_worker(
    config: Config,
    settings: Settings,
    *,
    once: bool = False,
    metrics_address: str | None = None,
) -> None:
    """What ``rolefit worker`` runs: logging, signals, metrics, the loop."""
    import signal

    from service.observability import configure_logging

    configure_logging(config.log_level, config.log_format)
    # httpx logs every request at INFO: the worker's own line per attempt says more.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    database = Database(
        config.database_url,
        statement_timeout_ms=config.statement_timeout_ms,
        pool_size=2,
        transaction_pooler=config.database_transaction_pooler,
    )
    worker = Worker(database, config, settings)
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: worker.stop())
    if metrics_address:
        from prometheus_client import start_http_server

        host, _, port = metrics_address.rpartition(":")
        start_http_server(int(port), addr=host or "0.0.0.0")  # noqa: S104 - operator's choice
    try:
        worker.run(once=once)
    finally:
        database.dispose()
