"""The documentation tells the truth about the code (Datasette-style docs checks)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spacecoop import cli, saved_queries

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


def test_every_module_appears_in_the_architecture_table() -> None:
    package = ROOT / "server" / "spacecoop"
    modules = {p.stem for p in package.glob("*.py") if not p.stem.startswith("_")}
    modules |= {p.name for p in package.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    table = README.split("## Architecture", 1)[1].split("## The model", 1)[0]
    missing = sorted(m for m in modules if m not in table)
    assert not missing, f"modules not in the README's architecture table: {missing}"


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
