"""``--store`` / ``SPACECOOP_STORE`` is parsed in one place (``config.StoreSpec``), and a spec
that names no store is refused in plain words by whatever opens it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from spacecoop import config
from spacecoop.config import SettingError, StoreSpec
from spacecoop.engine.store import Engine


@pytest.mark.parametrize("text,kind,location,remote,persistent", [
    ("memory", "memory", "", False, False),
    ("oxigraph", "oxigraph", "", False, False),
    ("oxigraph:/srv/kg", "oxigraph", "/srv/kg", False, True),
    ("oxigraph:relative/kg:1", "oxigraph", "relative/kg:1", False, True),
    ("sparql:http://127.0.0.1:8890/sparql?x=1", "sparql", "http://127.0.0.1:8890/sparql?x=1", True, False),
])
def test_each_kind_of_store_is_read_with_its_location_whole(text: str, kind: str, location: str, remote: bool,
                                                            persistent: bool) -> None:
    spec = StoreSpec.parse(text)
    assert (spec.kind, spec.location, spec.remote, spec.persistent) == (kind, location, remote, persistent)
    assert str(spec) == text and StoreSpec.parse(str(spec)) == spec


@pytest.mark.parametrize("text,words", [
    ("postgres", "unknown store 'postgres'"),
    ("", "unknown store ''"),
    ("memory:/tmp/x", "unknown store 'memory:/tmp/x'"),
    ("oxigraph:", "names no PATH"),
    ("sparql:  ", "names no URL"),
])
def test_a_spec_that_names_no_store_is_a_setting_error_that_quotes_it(text: str, words: str) -> None:
    with pytest.raises(SettingError) as err:
        StoreSpec.parse(text)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_settings_parse_their_store_when_it_is_asked_for() -> None:
    settings = config.Settings(store="sparql:http://h/sparql")
    assert settings.store_spec == StoreSpec("sparql", "http://h/sparql")
    assert settings.with_(store="memory").store_spec == StoreSpec("memory")
    refused = config.Settings(store="postgres")  # made (other commands need no store) ...
    with pytest.raises(SettingError):
        refused.store_spec  # noqa: B018  (... refused where the store is opened)


def test_an_engine_refuses_to_open_a_store_that_is_none() -> None:
    engine = Engine(config.Settings(store="oxigraph:"))
    with pytest.raises(SettingError, match="names no PATH"):
        engine.prepare()
    engine.close()


def test_the_query_command_refuses_an_unknown_store_in_one_line(tmp_path: Path) -> None:
    query = tmp_path / "any.rq"
    query.write_text("SELECT * WHERE { ?s ?p ?o } LIMIT 1\n")
    done = subprocess.run([sys.executable, "-m", "spacecoop", "query", "--file", str(query), "--store", "postgres"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("spacecoop query: unknown store 'postgres'") and "Traceback" not in done.stderr


@pytest.mark.parametrize("store", ["memory", "sparql:http://127.0.0.1:9/sparql", "postgres", "oxigraph:"])
def test_load_builds_only_a_persistent_oxigraph_store(tmp_path: Path, store: str) -> None:
    done = subprocess.run([sys.executable, "-m", "spacecoop", "load", "--store", store], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1 and done.stderr == "spacecoop load: --store must be oxigraph:PATH\n"
    assert not any(tmp_path.iterdir())
