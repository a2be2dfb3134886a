"""`evidence custody`: one item's log (with proofs), a search, checkpoints, the public key, verification."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli import custody_workers
from cli.console import emit, err, out
from cli.wiring import in_database, parse_time, runtime, settings
from evidence import custody, custody_checkpoints, items, unit_of_work
from evidence.adapters.database import make_sessionmaker
from evidence.checkpoint import parse_verifier_key
from evidence.custody_verify import verify as verify_log
from evidence.errors import CustodyBroken
from evidence.signing_key import public_pem
from storage_config import keys

app = typer.Typer(help="Chain of custody: per-item log, search and whole-chain verification.", no_args_is_help=True)


@app.command("log")
def custody_log(
    item_id: int,
    proof: Annotated[
        bool, typer.Option("--proof", help="Each event's inclusion proof against the newest checkpoint")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The custody events of one item, oldest first."""
    if proof:
        with runtime() as rt:
            verifier = rt.signer().verifier
            bundle = unit_of_work.run(
                make_sessionmaker(rt.engine, read_only=True),
                lambda s: custody_checkpoints.item_proofs(s, item_id, verifier),
            )
        _print_proofs(bundle, as_json)
        return

    def read(session) -> list[dict]:
        items.get_item(session, item_id)
        return [custody.as_dict(e) for e in custody.log_for(session, item_id)]

    _print_events(in_database(read), as_json)


def _print_proofs(bundle: dict, as_json: bool) -> None:
    if as_json:
        emit(bundle)
        return
    cp = bundle["checkpoint"]
    if cp is None:
        err.print("no checkpoint yet: run `evidence custody checkpoint`")
    else:
        out.print(f"checkpoint: {cp['tree_size']} events, root {cp['root_hash']}, {cp['made_at']}", markup=False)
        out.print(f"public key: {bundle['public_key']}", markup=False)
    _print_events(bundle["events"], False)
    for ev in bundle["events"]:
        p = ev["proof"]
        state = "not yet in a checkpoint" if p is None else f"leaf {p['leaf_index']}, {len(p['hashes'])} hashes"
        out.print(f"{ev['seq']:>6} proof: {state}", markup=False)


@app.command("events")
def custody_events(
    kind: Annotated[str | None, typer.Option(help="Event kind, e.g. access_denied")] = None,
    user: Annotated[str | None, typer.Option(help="Username: their acts through the API")] = None,
    item: Annotated[int | None, typer.Option(help="Item id")] = None,
    case: Annotated[int | None, typer.Option(help="Case id")] = None,
    since: Annotated[str | None, typer.Option("--from", help="At or after (ISO 8601; no zone: the station's)")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Before (ISO 8601)")] = None,
    after: Annotated[int, typer.Option(help="Only events after this sequence number (paging)")] = 0,
    limit: Annotated[int, typer.Option(help=f"At most this many events (up to {custody.MAX_PAGE})")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """Search custody events across the whole system, oldest first."""
    bounds = (parse_time(since) if since else None, parse_time(until) if until else None)

    def read(session) -> tuple[list[dict], int | None]:
        found, last = custody.search(
            session,
            kind=kind,
            user=user,
            item_id=item,
            case_id=case,
            since=bounds[0],
            until=bounds[1],
            after=after,
            limit=limit,
        )
        return [custody.as_dict(e) for e in found], last

    events, last = in_database(read)
    _print_events(events, as_json)
    if last is not None:
        err.print(f"more events follow: --after {last}")


def _print_events(events: list[dict], as_json: bool) -> None:
    for ev in events:
        if as_json:
            emit(ev)
        else:
            out.print(
                f"{ev['seq']:>6} {ev['occurred_at']} {ev['kind']:<18} {ev['outcome']:<8} "
                f"{ev['tool'] or ''} {json.dumps(ev['details'], ensure_ascii=False)}",
                markup=False,
            )


@app.command("verify")
def custody_verify(
    since_checkpoint: Annotated[
        bool, typer.Option("--since-checkpoint", help="Only what was added since the last verified checkpoint")
    ] = False,
    pubkey: Annotated[
        str | None, typer.Option(help="The log's public key (note form); default: this installation's")
    ] = None,
) -> None:
    """Check every event against its leaf and the log against every signed checkpoint (also the copies in
    the object store); exit 0 when intact, else name the first bad position. Read-only: ingest goes on."""
    with runtime() as rt:
        verifier = parse_verifier_key(pubkey) if pubkey else rt.signer().verifier
        store = rt.ready_store()
        copies = custody_checkpoints.stored(store)
        report = unit_of_work.run(
            make_sessionmaker(rt.engine, read_only=True),
            lambda s: verify_log(
                s,
                verifier=verifier,
                origin=verifier.name,
                stored=copies,
                since_checkpoint=since_checkpoint,
                stored_leaves=custody_checkpoints.stored_leaves(store),
                helper=custody_workers.helper_for(rt.engine),
            ),
        )
        if report.ok:
            unit_of_work.run(rt.sessions, lambda s: custody_checkpoints.mark_verified(s, report.verified_ids))
    if not report.ok:
        where = f" at event {report.bad_seq}" if report.bad_seq is not None else ""
        raise CustodyBroken(f"custody log BROKEN{where}: {report.reason} ({report.checked} events verified before it)")
    start = f" (from event {report.started_at + 1}; the first {report.started_at} proven by a verified checkpoint)"
    out.print(
        f"custody log intact: {report.checked} events checked{start if report.started_at else ''}, "
        f"{report.size} in all, {report.checkpoints} checkpoints matched, head {report.head_hash}",
        markup=False,
    )
    for warning in report.warnings:
        err.print(warning, markup=False)


@app.command("checkpoint")
def custody_checkpoint() -> None:
    """Sign the log as it stands now (the daemon does so every EVIDENCE_CHECKPOINT_SECONDS)."""
    with runtime() as rt:
        signer, store = rt.signer(), rt.ready_store()
        made = unit_of_work.run(rt.sessions, lambda s: custody_checkpoints.make(s, signer, store))
        if made is None:
            made = unit_of_work.run(rt.sessions, custody_checkpoints.newest)
            if made is None:
                out.print("the custody log is empty: nothing to sign")
                return
            out.print("the log has not grown since the newest checkpoint:")
        out.print(made.note, markup=False, end="")


@app.command("pubkey")
def custody_pubkey(
    pem: Annotated[bool, typer.Option("--pem", help="As PEM, for openssl")] = False,
) -> None:
    """The public key that checks the log's checkpoints and export signatures."""
    s = settings()
    signer = keys.signer(s)
    out.print(public_pem(signer.key).decode().rstrip() if pem else signer.verifier.encode(), markup=False)
