"""The layout of our packages, read from their import statements (those inside functions too).

Imports point inward: ``evidence`` (the domain) imports nothing of ours outside itself, and speaks to
stores and the database only through interfaces; ``ingest`` and ``api`` never import each other; only
the composition root (``cli``) sees both, and nothing imports it. No two of our modules import each
other, directly or round a longer cycle.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("evidence", "ingest", "api", "storage_config", "cli")
OURS = (*PACKAGES, "bench", "tests")

# Top-level names each package must not import
FORBIDDEN = {
    "evidence": {
        "api",
        "ingest",
        "cli",
        "storage_config",
        "bench",
        "tests",
        "fastapi",
        "watchdog",
        "typer",
        "subprocess",
    },
    "ingest": {"api", "cli"},
    "api": {"ingest", "cli"},
    "storage_config": {"api", "ingest", "cli"},
    "cli": set(),
}

ADAPTERS = "evidence.adapters"
# The wiring: the only places that choose and build adapters (stores, engines, migrations) and hand
# them to the rest, which sees only interfaces. The adapters themselves and the migrations (which
# Alembic runs on an engine the adapter made) are not the domain.
WIRING = (
    "evidence/adapters/",
    "evidence/migrations/",
    "storage_config/",
    "cli/",
    "api/services.py",
    "ingest/runtime.py",
)


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    path: str  # relative to the root, with forward slashes
    target: str  # dotted name imported: one of our modules where it names one
    line: int


def modules(root: Path, packages=PACKAGES) -> dict[str, Path]:
    """Every module of ``packages`` under ``root``, by dotted name (a package by its own name)."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(root: Path, packages=PACKAGES) -> list[Import]:
    """Every import in ``packages``; relative ones made absolute, ``from a import b`` as ``a.b`` if that is a module."""
    known = modules(root, packages)
    found = []
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
            else:
                continue
            found += [Import(name, rel, t, node.lineno) for t in dict.fromkeys(targets)]
    return found


def forbidden_imports(root: Path) -> list[str]:
    return [
        f"{i.path}:{i.line} imports {i.target}"
        for i in imports(root)
        if i.target.split(".")[0] in FORBIDDEN[i.path.split("/")[0]]
    ]


def adapter_imports(root: Path) -> list[str]:
    """Imports of the adapters outside the wiring."""
    return [
        f"{i.path}:{i.line} imports {i.target}"
        for i in imports(root)
        if (i.target == ADAPTERS or i.target.startswith(ADAPTERS + ".")) and not i.path.startswith(WIRING)
    ]


def cycles(root: Path) -> list[list[str]]:
    """One cycle through each strongly connected group of our modules, as ``[a, b, …, a]``."""
    known = modules(root)
    graph: dict[str, set[str]] = {name: set() for name in known}
    for i in imports(root):
        target = _module_of(i.target, known)
        if target and target != i.importer:
            graph[i.importer].add(target)
    return sorted(_cycle_in(group, graph) for group in _strongly_connected(graph) if len(group) > 1)


def _module_of(name: str, known) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iteratively (a deep package must not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    groups.append(group)
    return groups


def _cycle_in(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & group):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"not a cycle: {sorted(group)}")


# The rules, on this tree


def test_imports_point_inward():
    bad = forbidden_imports(ROOT)
    assert not bad, "imports against the layout:\n" + "\n".join(bad)


def test_only_the_wiring_imports_adapters():
    bad = adapter_imports(ROOT)
    assert not bad, "adapters imported outside the wiring (use the interfaces):\n" + "\n".join(bad)


def test_no_import_cycles():
    found = cycles(ROOT)
    assert not found, "import cycles:\n" + "\n".join(" → ".join(c) for c in found)


def test_the_checker_sees_every_package():
    """Guards the rules above against passing because they read nothing."""
    found = imports(ROOT)
    assert {i.path.split("/")[0] for i in found} == set(PACKAGES)
    assert any(i.importer == "cli.main" and i.target.startswith("cli.") for i in found)


# The rules catch violations: each one on a small tree made for it


def tree(root: Path, files: dict[str, str]) -> Path:
    for package in PACKAGES:
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").touch()
    for name, source in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(source)
    return root


@pytest.mark.parametrize(
    ("path", "source", "target"),
    [
        ("ingest/daemon.py", "import api.app\n", "api.app"),
        ("ingest/daemon.py", "def later():\n    from api import app\n", "api.app"),  # inside a function too
        ("api/routes.py", "from ingest.pipeline import ingest_file\n", "ingest.pipeline"),
        ("ingest/runtime.py", "from cli import main\n", "cli.main"),
        ("api/app.py", "import cli.main\n", "cli.main"),
        ("storage_config/settings.py", "from cli.main import app\n", "cli.main"),
        ("evidence/items.py", "from cli.wiring import settings\n", "cli.wiring"),
        ("evidence/items.py", "from storage_config.settings import Settings\n", "storage_config.settings"),
        ("evidence/items.py", "import bench.api\n", "bench.api"),
        ("evidence/items.py", "from tests.media import drop\n", "tests.media"),
        ("evidence/items.py", "import subprocess\n", "subprocess"),
    ],
)
def test_a_forbidden_import_is_caught(tmp_path, path, source, target):
    files = {path: source, "api/app.py": "", "cli/main.py": "", "cli/wiring.py": "", "ingest/pipeline.py": ""}
    files.setdefault("storage_config/settings.py", "")
    root = tree(tmp_path, {**files, path: source})
    assert forbidden_imports(root) == [f"{path}:{source.count(chr(10))} imports {target}"]


def test_imports_the_other_way_are_allowed(tmp_path):
    root = tree(
        tmp_path,
        {
            "cli/main.py": "import api.app\nimport ingest.daemon\nfrom evidence import items\n",
            "ingest/daemon.py": "from evidence import items\nfrom storage_config.settings import Settings\n",
            "api/app.py": "from evidence import items\n",
            "evidence/items.py": "from . import models\nfrom evidence.models import Item\n",
            "evidence/models.py": "",
        },
    )
    assert forbidden_imports(root) == []


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("evidence/custody.py", "from evidence.adapters.database import make_sessionmaker\n"),
        ("evidence/custody.py", "def f():\n    from .adapters import filestore\n"),
        ("evidence/custody.py", "import evidence.adapters\n"),
        ("ingest/daemon.py", "from evidence.adapters.filestore import FileStore\n"),
        ("api/routes/items.py", "from evidence.adapters import database\n"),
    ],
)
def test_an_adapter_import_outside_the_wiring_is_caught(tmp_path, path, source):
    root = tree(tmp_path, {path: source, "evidence/adapters/__init__.py": "", "evidence/adapters/database.py": ""})
    (root / "evidence/adapters/filestore.py").touch()
    assert [line.split(" imports ")[0] for line in adapter_imports(root)] == [f"{path}:{source.count(chr(10))}"]


def test_the_wiring_may_import_adapters(tmp_path):
    source = "from evidence.adapters.database import make_engine\n"
    root = tree(
        tmp_path,
        {
            "evidence/adapters/__init__.py": "",
            "evidence/adapters/database.py": "",
            "evidence/adapters/s3store.py": "from evidence.adapters.database import make_engine\n",
            "evidence/migrations/env.py": source,
            "storage_config/provision.py": source,
            "cli/serving.py": source,
            "api/services.py": source,
            "ingest/runtime.py": source,
        },
    )
    assert adapter_imports(root) == []


def test_a_cycle_is_caught_and_named(tmp_path):
    root = tree(
        tmp_path,
        {
            "evidence/a.py": "from evidence import b\n",
            "evidence/b.py": "def later():\n    from evidence.c import thing\n",  # a lazy import closes it
            "evidence/c.py": "import evidence.a\n",
            "evidence/d.py": "from evidence import a\n",  # into the cycle, not part of it
            "ingest/x.py": "from . import y\n",
            "ingest/y.py": "from .x import name\n",
        },
    )
    assert cycles(root) == [
        ["evidence.a", "evidence.b", "evidence.c", "evidence.a"],
        ["ingest.x", "ingest.y", "ingest.x"],
    ]


def test_no_cycle_without_one(tmp_path):
    root = tree(tmp_path, {"evidence/a.py": "from evidence import b\n", "evidence/b.py": "import evidence\n"})
    assert cycles(root) == []
