"""The documentation tells the truth about the code (Datasette-style docs checks)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spacecoop import cli
from spacecoop.saved import saved_queries

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = sorted((ROOT / "docs").glob("*.md"))


def test_readme_quick_start_is_exactly_make_serve_and_make_test() -> None:
    quick = README.split("## Quick start", 1)[1].split("##", 1)[0]
    block = re.search(r"```sh\n(.*?)```", quick, re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["make serve", "make test"]


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_cli_command_is_documented_in_the_readme(command: str) -> None:
    assert re.search(rf"spacecoop [^\n]*\b{command}\b", README), f"`spacecoop {command}` missing from README"


def test_the_architecture_table_is_the_tree() -> None:
    """Every module of the package is in the README's table under its own path, and every
    path the table names is a module: the table is the tree."""
    package = ROOT / "server" / "spacecoop"
    modules = {p.relative_to(package).as_posix() for p in package.rglob("*.py")
               if not p.name.startswith("__") or (p.name == "__init__.py" and p.parent != package)}
    modules = {m.removesuffix("/__init__.py") + "/__init__.py" if m.endswith("__init__.py") else m for m in modules}
    section = README.split("## Architecture", 1)[1].split("## The model", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    named = set(re.findall(r"`([a-z0-9_]+(?:/[a-z0-9_]+)*(?:\.py|/))`", table))
    missing = sorted(m for m in modules if m not in named and m.removesuffix("__init__.py") not in named)
    assert not missing, f"modules not in the README's architecture table: {missing}"
    stale = sorted(n for n in named if not (package / n).exists() and n != "server/spacecoop/")
    assert not stale, f"the README's architecture table names what is not in the tree: {stale}"


@pytest.mark.parametrize("doc", [ROOT / "README.md", *DOCS], ids=lambda p: p.name)
def test_relative_links_in_docs_resolve(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target or target.startswith(("/", "mailto:")):
            continue
        assert (doc.parent / target).exists(), f"{doc.name}: broken link {target}"


def test_every_saved_query_is_reachable_from_the_docs_or_its_own_page() -> None:
    # The queries document themselves (their header); docs/queries.md explains the convention
    # with an example that must be a real query.
    text = (ROOT / "docs" / "queries.md").read_text(encoding="utf-8")
    names = {q.name for q in saved_queries.load_all()}
    mentioned = {n for n in names if n in text}
    assert mentioned, "docs/queries.md should use at least one real saved query as its example"


def test_bench_table_in_readme_comes_from_the_benchmark_output() -> None:
    latest = ROOT / "bench" / "results" / "latest.md"
    assert latest.exists(), "run `make bench` and commit bench/results/latest.md"
    speed = README.split("## Speed", 1)[1].split("\n## ", 1)[0]
    first_table_row = next(line for line in latest.read_text().splitlines() if line.startswith("| spacecoop"))
    assert first_table_row in speed, "the README's Speed section must quote the latest benchmark output"
