"""The package's layers, checked from its source: imports point down, never in a cycle.

Layers (ARCHITECTURE, README "Architecture"): ``config`` → ``rdf`` → ``engine`` →
``saved`` · ``linked`` · ``pictures`` · ``validate`` → ``web`` → ``cli``. A module may import
its own layer's modules and any lower layer's, never a higher one's — not even inside a
function or under ``TYPE_CHECKING``; the module-level imports have no cycle; an import
inside a function names why in a comment; no private name crosses a module boundary.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "server" / "spacecoop"
LAYERS = {"config": 0, "i18n": 0, "rdf": 1, "engine": 2, "saved": 3, "linked": 3, "pictures": 3, "validate": 3,
          "shacl_engine": 3, "web": 4, "cli": 5, "__main__": 6}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, dotted
    target: str  # the imported module of ours, dotted
    names: tuple[str, ...]
    line: int
    top_level: bool
    commented: bool


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer(module: str) -> int:
    """A module's layer; the package itself holds only ``__version__`` (it imports nothing)."""
    parts = module.split(".")
    return LAYERS[parts[1]] if len(parts) > 1 else 0


def imports_of(module: str, path: Path) -> Iterator[Import]:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text)
    top = {id(n) for n in tree.body}
    top |= {id(n) for n in tree.body if isinstance(n, ast.If) for n in n.body}  # TYPE_CHECKING blocks
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found = [(a.name, ()) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[:len(package.split(".")) - node.level + 1], base]).strip(".")
            subs = [(f"{base}.{a.name}", ()) for a in node.names if f"{base}.{a.name}" in MODULES]
            rest = tuple(a.name for a in node.names if f"{base}.{a.name}" not in MODULES)
            found = subs + ([(base, rest)] if rest or not subs else [])
        else:
            continue
        said = " ".join(lines[max(0, node.lineno - 3):node.end_lineno or node.lineno])
        for target, names in found:
            if target in MODULES:
                yield Import(module, target, names, node.lineno, id(node) in top, "#" in said)


ALL = [imp for m, p in sorted(MODULES.items()) for imp in imports_of(m, p)]


def test_no_module_imports_a_higher_layer() -> None:
    upward = [f"{i.source}:{i.line} imports {i.target}" for i in ALL if layer(i.target) > layer(i.source)]
    assert not upward, "\n".join(upward)


def test_module_level_imports_have_no_cycle() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for i in ALL:
        if i.top_level and i.target != i.source and not i.source.startswith(i.target + "."):
            graph[i.source].add(i.target)
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    assert not cycles, cycles


def test_an_import_inside_a_function_says_why() -> None:
    silent = [f"{i.source}:{i.line} imports {i.target}" for i in ALL if not i.top_level and not i.commented]
    assert not silent, "\n".join(silent)


def own_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py")) + sorted((ROOT / "tests").glob("*.py")) + sorted((ROOT / "bench").glob("*.py"))


@pytest.mark.parametrize("path", own_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_name_is_imported_from_another_module(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    private = [f"{path.name}:{n.lineno} imports {a.name} from {n.module}" for n in ast.walk(tree)
               if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("spacecoop")
               for a in n.names if a.name.startswith("_") and not a.name.startswith("__")]
    assert not private, private


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == node:
                        break
                found.append(component)
    return found
