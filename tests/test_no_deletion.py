"""No API route or CLI command deletes an item or its media: only the retention sweeper purges
(evidence/sweeper.py), never an item under hold, and the object store's delete is called from
nowhere else but the clean-up of half-ingested uploads. A new deleting path fails here until it is
reviewed and added to the lists below."""

from __future__ import annotations

import ast
from pathlib import Path

import typer
from fastapi.testclient import TestClient

from api.app import create_app
from cli.main import app as cli_app

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("api", "cli", "evidence", "ingest", "storage_config")

# Every DELETE route: each undoes a mark, a hold or a case link, none removes an item or its media.
DELETE_ROUTES = {
    "/api/v1/items/{item_id}/hold",  # release a legal hold
    "/api/v1/cases/{case_id}/hold",
    "/api/v1/cases/{case_id}/items/{item_id}",  # unlink from a case (the link row stays, with unlinked_at)
    "/api/v1/items/{item_id}/marks/{mark_id}",  # take a mark off
}

# (module, function) allowed to call a store's ``delete``, and why
STORE_DELETES = {
    ("evidence/sweeper.py", "_purge"),  # the retention sweeper: expired, past grace, no hold, no lock
    ("ingest/pipeline.py", "store_and_verify"),  # the temporary incoming/ copy of a file that failed to go in
    ("ingest/daemon.py", "_sweep_incoming"),  # incoming/ copies a crash left behind
    ("evidence/adapters/s3store.py", "move"),  # the incoming/ copy, once copied to its final key
}
DELETE_WORDS = {"delete", "rm", "remove", "purge", "destroy", "erase", "wipe", "drop", "prune"}


def _calls(name: str):
    """(module, enclosing function, receiver source) of every ``X.<name>(...)`` call in the packages."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(), str(path))
            for func in ast.walk(tree):
                if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(func):
                    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name:
                        yield path.relative_to(ROOT).as_posix(), func.name, ast.unparse(node.func.value)


def test_no_api_route_deletes_an_item(make_settings):
    app = create_app(make_settings())
    try:
        paths = app.openapi()["paths"]
        deleting = {path for path, methods in paths.items() if "delete" in methods}
        with TestClient(app) as client:  # routes left out of the schema answer too: none deletes an item
            assert client.delete("/api/v1/items/1").status_code == 405
            assert client.delete("/api/v1/items/1/media").status_code in {404, 405}
    finally:
        app.state.services.engine.dispose()
    assert deleting == DELETE_ROUTES


def test_no_cli_command_deletes_anything():
    def walk(command, path=()):
        subs = getattr(command, "commands", None)
        if subs:
            for name, sub in subs.items():
                yield from walk(sub, (*path, name))
        else:
            yield path

    commands = list(walk(typer.main.get_command(cli_app)))
    assert ("retention", "sweep") in commands and ("show",) in commands  # the walk sees the whole tree
    assert [c for c in commands if set(c) & DELETE_WORDS] == []


def test_only_the_sweeper_and_upload_clean_up_delete_from_the_store():
    callers = {(module, func) for module, func, receiver in _calls("delete") if "store" in receiver.lower()}
    unexpected = {
        (module, func)
        for module, func, receiver in _calls("delete")
        if "store" not in receiver.lower() and receiver not in {"self", "router"}  # router: @router.delete
    }
    assert callers | {c for c in STORE_DELETES if c[0].endswith("s3store.py")} == STORE_DELETES
    assert unexpected == set(), "a .delete() on something not named a store: review it and name it here"
    removers = {(module, func) for module, func, _ in _calls("remove_object")}
    assert removers == {("evidence/adapters/s3store.py", "delete")}  # the one place bytes leave S3


def test_the_sweeper_checks_holds_and_locks_before_it_deletes():
    source = (ROOT / "evidence/sweeper.py").read_text()
    purge = source[source.index("def _purge(") :]
    body = purge[: purge.index("store.delete(")]
    assert "retention.verdicts(" in body and "verdict.due(as_of)" in body  # a hold makes nothing due
    assert "object_lock.locked_at(" in body
