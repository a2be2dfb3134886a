"""`evidence users`: the people who sign in to the API, their unit and roles."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.console import emit, out
from cli.wiring import in_database
from evidence import users

app = typer.Typer(help="People who sign in to the API, their unit and roles.", no_args_is_help=True)


@app.command("add")
def users_add(
    name: str,
    role: Annotated[list[str], typer.Option(help="officer, reviewer, supervisor, auditor or admin; repeatable")],
    unit: Annotated[str, typer.Option(help="The user's unit (department)")],
    officer_id: Annotated[str | None, typer.Option(help="警号, required for officers")] = None,
) -> None:
    """Create a user and print a one-time password."""
    password = in_database(lambda session: users.add_user(session, name, role, unit, officer_id)[1])
    out.print(f"user {name} created; one-time password: {password} (they choose their own at first sign-in)")


@app.command("passwd")
def users_passwd(name: str) -> None:
    """Give a user a new one-time password (their tokens are revoked)."""
    password = in_database(lambda session: users.reset_password(session, name))
    out.print(f"new one-time password for {name}: {password}")


@app.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False) -> None:
    """Every user: unit, roles, officer id, disabled, last sign-in."""
    rows = in_database(lambda session: [users.user_view(u) for u in users.list_users(session)])
    if as_json:
        for row in rows:
            emit(row)
        return
    table = Table("name", "unit", "roles", "officer id", "disabled", "last sign-in (UTC)", "password")
    for r in rows:
        table.add_row(
            r["username"],
            r["unit"],
            ",".join(r["roles"]),
            r["officer_id"] or "—",
            "[red]yes[/]" if r["disabled"] else "no",
            r["last_sign_in_at"] or "never",
            "one-time" if r["password_change_required"] else "own",
        )
    out.print(table)


@app.command("disable")
def users_disable(name: str) -> None:
    """Stop a user signing in; their tokens are revoked."""
    in_database(lambda session: users.disable(session, name))
    out.print(f"user {name} disabled")
