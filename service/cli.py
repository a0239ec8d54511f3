"""The ``rolefit`` command line: database, API keys, serving, demo data, retention, the audit
trail's seals."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import sys
from pathlib import Path
from typing import Any

import click

from service.config import Config
from service.domain import apikeys
from service.domain.errors import DomainError
from service.infra.database import Database


def _database() -> Database:
    config = Config.from_env()
    # Admin commands (demo load, rescoring, retention) may run long: no statement timeout, and
    # straight to PostgreSQL when a direct URL is given (a pooler's role may set a timeout).
    return Database(
        config.database_direct_url or config.database_url,
        statement_timeout_ms=0,
        long_statement_timeout_ms=0,
        transaction_pooler=config.database_transaction_pooler and not config.database_direct_url,
    )


@click.group()
def main() -> None:
    """rolefit: role profiles, candidates and match scores."""


@main.group()
def db() -> None:
    """Database schema and built-in data."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Migrate to the latest schema and load the built-in taxonomy and roles (idempotent)."""
    from service.migrate import upgrade

    database = _database()
    report = upgrade(database, revision)
    click.echo(f"schema at {revision}")
    if report is None:
        click.echo("built-in data: loaded at the head revision only")
    else:
        added = report.competencies_added + report.roles_added + report.reasons_added
        click.echo("built-in data: " + (f"added {', '.join(added)}" if added else "up to date"))
    database.dispose()


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate down to REVISION (``base`` drops everything)."""
    from service.migrate import downgrade

    database = _database()
    downgrade(database, revision)
    click.echo(f"schema at {revision}")
    database.dispose()


@main.group()
def keys() -> None:
    """API keys (stored hashed; a secret is shown once, at creation)."""


@keys.command("create")
@click.option("--name", required=True, help="Who or what uses the key")
@click.option("--preset", required=True, type=click.Choice(sorted(apikeys.PRESETS)))
def keys_create(name: str, preset: str) -> None:
    """Create a key; the secret is printed alone on the last line."""
    database = _database()
    with database.session() as session:
        try:
            key, token = apikeys.create_key(session, name=name, preset=preset)
        except DomainError as error:
            raise click.ClickException(error.detail) from error
        session.commit()
        click.echo(f"created {key.id} ({key.preset}): {', '.join(sorted(key.scope_set))}")
        click.echo("the secret below is shown only now; store it safely:")
        click.echo(token)


@keys.command("list")
def keys_list() -> None:
    """One key per line: id, name, preset, created, last used, revoked (never secrets)."""
    database = _database()
    with database.session() as session:
        for key in apikeys.list_keys(session):
            fields = [
                key.id,
                key.name,
                key.preset,
                _ts(key.created_at),
                _ts(key.last_used_at),
                _ts(key.revoked_at),
            ]
            click.echo("\t".join(fields))


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke KEY_ID; it is refused from its next request on, by every worker."""
    database = _database()
    with database.session() as session:
        try:
            key = apikeys.revoke_key(session, key_id)
        except DomainError as error:
            raise click.ClickException(error.detail) from error
        session.commit()
        click.echo(f"revoked {key.id} at {_ts(key.revoked_at)}")


def _ts(value: object) -> str:
    if value is None:
        return "-"
    return str(value.strftime("%Y-%m-%dT%H:%M:%SZ"))  # type: ignore[attr-defined]


@main.command()
@click.option("--bind", default=None, help="HOST:PORT (default 127.0.0.1:8000 or ROLEFIT_BIND)")
@click.option(
    "--workers", type=int, default=None, help="gunicorn workers (default ROLEFIT_WORKERS)"
)
def serve(bind: str | None, workers: int | None) -> None:
    """Run the service under gunicorn with the project's gunicorn.conf.py."""
    config_file = Path(
        os.environ.get("ROLEFIT_GUNICORN_CONFIG")
        or Path(__file__).resolve().parent.parent / "gunicorn.conf.py"
    )
    if not config_file.exists():
        config_file = Path.cwd() / "gunicorn.conf.py"
    argv = [sys.executable, "-m", "gunicorn", "--config", str(config_file)]
    if bind:
        argv += ["--bind", bind]
    if workers:
        argv += ["--workers", str(workers)]
    argv.append("service.wsgi:app")
    os.execv(sys.executable, argv)  # noqa: S606 - replaces this process with gunicorn


@main.command()
@click.option("--candidates", "count", type=int, default=200, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--loaders",
    type=click.IntRange(1, 32),
    default=1,
    show_default=True,
    help="Processes loading the candidates in parallel, each every n-th chunk of 500.",
)
def demo(count: int, seed: int, loaders: int) -> None:
    """Load deterministic synthetic demo candidates (same seed, same candidates), four in five
    with voluntary answers for bias audits, and a demo pipeline: a tpm and a tmp job with
    applications moved through their stages.

    A single loader leaves the machine half idle (it waits while the database scores each chunk
    in SQL, and the database waits while it builds the next): with two CPUs, ``--loaders 2``
    loads about twice as fast (bench.scale)."""
    from service.domain.demo import finish_load
    from service.domain.demo_answers import load_demo_answers
    from service.domain.demo_pipeline import load_demo_pipeline
    from service.domain.matching import current_month

    database = _database()
    today = current_month()  # one month for every loader
    if database.engine.dialect.name != "postgresql":
        loaders = 1  # SQLite takes one writer at a time: more loaders would only wait
    shares = [(count, seed, today, (k, loaders)) for k in range(loaders)]
    if loaders == 1:
        results = [_load_demo_share(shares[0])]
    else:
        context = multiprocessing.get_context("spawn")  # no connection crosses a fork
        with concurrent.futures.ProcessPoolExecutor(loaders, mp_context=context) as pool:
            results = list(pool.map(_load_demo_share, shares))
    created = sum(share_created for share_created, _ in results)
    skipped = sum(share_skipped for _, share_skipped in results)
    if created:
        with database.session() as session:
            finish_load(session)
            session.commit()
    with database.session() as session:
        answered = load_demo_answers(session, seed=seed)
        session.commit()
        jobs, applications = load_demo_pipeline(session, seed=seed)
        session.commit()
    click.echo(f"demo candidates: {created} created, {skipped} already there")
    click.echo(f"demo voluntary answers (for bias audits): {answered} written")
    click.echo(f"demo pipeline: {jobs} jobs and {applications} applications added")
    database.dispose()


def _load_demo_share(args: tuple[int, int, Any, tuple[int, int]]) -> tuple[int, int]:
    """One loader of ``rolefit demo`` (a process of its own with ``--loaders``): its share of
    the chunks, each committed."""
    from service.domain.demo import load_demo

    count, seed, today, share = args
    database = _database()
    try:
        with database.session() as session:
            return load_demo(
                session, count=count, seed=seed, today=today, on_chunk=session.commit, share=share
            )
    finally:
        database.dispose()


@main.group()
def retention() -> None:
    """Retention of personal data (see README, "Security and personal data")."""


@retention.command("run")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=1),
    required=True,
    metavar="DAYS",
    help="Erase candidates whose updated_at is older than this many days",
)
@click.option("--dry-run", is_flag=True, help="Only list who would be erased; change nothing")
def retention_run(days: int, dry_run: bool) -> None:
    """Erase candidates untouched for DAYS days, except those on legal hold.

    Each goes through the same erasure as DELETE /v1/candidates/{id}: records, scores and
    stored responses are removed, a tombstone is left, and an `erase` audit event is recorded
    with `cli:retention` as actor. One line per candidate, then a summary.
    """
    from datetime import timedelta

    from service.domain import retention as policy

    verb = "would erase" if dry_run else "erased"

    def report(candidate_id: object, updated_at: object) -> None:
        click.echo(f"{verb} {candidate_id} (last updated {_ts(updated_at)})")

    database = _database()
    with database.session() as session:
        result = policy.run(
            session,
            older_than=timedelta(days=days),
            dry_run=dry_run,
            on_erased=report,
            on_chunk=session.commit,
        )
        session.commit()
    database.dispose()
    click.echo(
        f"retention run {result.run_id}: {verb} {len(result.erased)} candidate(s) not updated "
        f"since {_ts(result.cutoff)}; {result.held} on legal hold kept"
        + (" (dry run: nothing changed)" if dry_run else "")
    )


@main.group()
def audit() -> None:
    """Tamper evidence for the audit trail (see README, "Tamper evidence")."""


@audit.command("seal")
def audit_seal() -> None:
    """Seal every audit event not yet sealed in one new seal, chained to the previous one.

    Run it from cron (every few minutes to daily); with nothing new it stores nothing. Prints
    the new seal's range and its chain hash: keep that line somewhere the database's users
    cannot write (the cron mail, a log shipped elsewhere), for `rolefit audit verify --anchor`.
    """
    from sqlalchemy.exc import IntegrityError

    from service.domain import audit_seals
    from service.infra.tamper_guard import HorizonBusy

    database = _database()
    with database.session() as session:
        try:
            new = audit_seals.seal(session)
            session.commit()
        except HorizonBusy as error:
            raise click.ClickException(f"{error}; nothing sealed, run it again") from error
        except IntegrityError as error:
            raise click.ClickException(
                "another `rolefit audit seal` extended the chain at the same time; nothing sealed"
            ) from error
    database.dispose()
    if new is None:
        click.echo("nothing to seal: every committed audit event is sealed")
        return
    click.echo(
        f"sealed events {new.first_event_id}..{new.last_event_id} ({new.event_count}) as seal "
        f"{new.id} at {_ts(new.sealed_at)}; chain {new.chain_sha256}"
    )


@audit.command("verify")
@click.option(
    "--anchor",
    metavar="SHA256",
    default=None,
    help="A chain hash printed by an earlier `seal`, kept outside the database: it must be found",
)
def audit_verify(anchor: str | None) -> None:
    """Recompute every seal in order; exit 1 naming the first range that no longer matches.

    A range no longer matches when one of its events was edited, deleted or inserted, or when
    a seal was changed or removed (the chain breaks). Events after the last seal are counted
    (they are not evidence yet: seal them).
    """
    from service.domain import audit_seals

    database = _database()
    with database.session() as session:
        found = audit_seals.verify(session, anchor=anchor)
    database.dispose()
    click.echo(f"seals verified: {found.seals} ({found.events} events)")
    if found.unsealed:
        click.echo(
            f"events after the last seal: {found.unsealed} (oldest {_ts(found.unsealed_since)});"
            " not covered until the next seal"
        )
    if found.mismatch is not None:
        click.echo(f"MISMATCH: {found.mismatch}", err=True)
    elif found.anchor_found is False:
        click.echo(f"MISMATCH: anchor {anchor} is not the chain hash of any seal", err=True)
    else:
        click.echo(f"chain head: {found.head_sha256 or '-'}")
    if not found.ok:
        raise SystemExit(1)


@main.group("import")
def import_group() -> None:
    """Import candidates from documents they already have."""


@import_group.command("resume")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--source",
    default="json-resume",
    show_default=True,
    help="The system the files come from; with each file's external id, the candidate's key",
)
@click.option("--dry-run", is_flag=True, help="Only show the mapping; store nothing")
def import_resume(files: tuple[Path, ...], source: str, dry_run: bool) -> None:
    """Import JSON Resume FILEs, as POST /v1/candidates/import does; one summary line each.

    A file's external id is its name without ``.json`` (and ``.resume``): importing the same
    file again replaces the records of the candidate it created. Contact fields are stored.
    Each file is its own transaction; a bad file is reported and the others go on (exit
    status 1 if any failed).
    """
    import json

    from service.domain import audit
    from service.domain.candidate_import import import_resume as run_import
    from service.domain.candidate_import import summary

    actor = audit.Actor("cli:import")
    failed = 0
    database = _database()
    for path in files:
        external_id = path.name.removesuffix(".json").removesuffix(".resume")
        with database.session() as session:
            try:
                if path.stat().st_size > 1024 * 1024:
                    raise DomainError("the file is over 1 MiB")
                try:
                    document = json.loads(path.read_bytes())
                except (ValueError, RecursionError) as error:
                    raise DomainError(f"not JSON: {error}") from error
                result = run_import(
                    session,
                    document,
                    source=source,
                    external_id=external_id[:255],
                    with_contact=True,
                    dry_run=dry_run,
                    actor=actor,
                )
                session.commit()
            except DomainError as error:
                session.rollback()
                failed += 1
                details = getattr(error, "errors", {})
                click.echo(f"{path}: failed: {error.detail}")
                for where, messages in details.items():
                    click.echo(f"  {where}: {'; '.join(messages)}")
                continue
        click.echo(f"{path}: {summary(result)}")
    database.dispose()
    if failed:
        raise SystemExit(1)


@main.command()
def rescore() -> None:
    """Rescore every candidate against every role's current version, in one transaction.

    Every write already keeps scores current; run this after an upgrade whose release notes say
    the scoring model changed (a new model_version), so stored scores follow it at once.
    """
    from service.domain import matching

    database = _database()
    with database.session() as session:
        rescored = matching.rescore_all(session)
        session.commit()
    click.echo(f"scores written: {rescored.written}, band changes: {rescored.band_changes}")
    database.dispose()


@main.command()
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1000),
    default=16,
    show_default=True,
    help="Deliveries in flight at once (threads sending)",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(0.01),
    default=1.0,
    show_default=True,
    help="Seconds between looks for new work when idle",
)
@click.option(
    "--metrics-address",
    default=None,
    metavar="HOST:PORT",
    help="Serve Prometheus metrics there (default: ROLEFIT_WORKER_METRICS_ADDRESS)",
)
@click.option(
    "--lease-seconds",
    type=click.FloatRange(1),
    default=60,
    show_default=True,
    help="How long a claimed delivery is this worker's (then any worker may send it again)",
)
@click.option("--once", is_flag=True, help="Exit when nothing is due or in flight (tests)")
def worker(
    concurrency: int,
    poll_interval: float,
    metrics_address: str | None,
    lease_seconds: float,
    once: bool,
) -> None:
    """Deliver webhooks: fan events out, claim due deliveries, send them signed, record how.

    Run one or more beside the web service (several machines are fine on PostgreSQL; on
    SQLite one at a time). SIGTERM stops claiming, finishes what is in flight and exits 0.
    """
    from service.worker.main import Settings, run_worker

    config = Config.from_env()
    if not config.secret_key and not config.testing:
        raise click.ClickException("set ROLEFIT_SECRET_KEY: webhook secrets are encrypted with it")
    run_worker(
        config,
        Settings(concurrency=concurrency, poll_interval=poll_interval, lease_seconds=lease_seconds),
        once=once,
        metrics_address=metrics_address or os.environ.get("ROLEFIT_WORKER_METRICS_ADDRESS"),
    )


@main.command()
def maintenance() -> None:
    """Housekeeping to run daily (cron): delete Idempotency-Key records past their expiry, and
    events (with their deliveries) older than ROLEFIT_EVENTS_RETENTION_DAYS."""
    from datetime import timedelta

    from service.domain import events
    from service.infra import idempotency_store
    from service.infra.orm import utcnow

    config = Config.from_env()
    database = _database()
    with database.session() as session:
        purged = idempotency_store.purge_expired(session)
        session.commit()
        cutoff = utcnow() - timedelta(days=config.events_retention_days)
        old_events = events.purge(session, cutoff)
        session.commit()
    click.echo(f"expired idempotency records deleted: {purged}")
    click.echo(f"events older than {config.events_retention_days} days deleted: {old_events}")
    database.dispose()
