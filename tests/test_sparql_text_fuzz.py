"""Differential fuzzing: the scanner's facts against what the engine really does.

For every generated or mutated text the engine accepts, ``sparql_text.facts`` must be
sound: every SERVICE call the engine makes (counted by a loopback listener, the only host
a generated text names) is seen with its target or None, nesting is never under-counted,
a volatile call the engine evaluates is seen, an update is never taken for a query, and
two texts with the same canonical form are the same query to the engine. The generators
and the judge live in ``tests/sparql_gen.py``; ``bench/fuzz_scanner.py`` runs the same
checks at scale.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from . import sparql_gen as gen


@pytest.fixture(scope="module")
def oracle() -> Iterator[gen.Oracle]:
    listener = gen.Listener()
    yield gen.Oracle(listener)
    listener.close()


@pytest.fixture(scope="module")
def fixed(oracle: gen.Oracle) -> list[str]:
    return gen.fixed_texts(oracle.base)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("task", gen.TASKS)
@settings(derandomize=True, max_examples=800, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_the_scanner_agrees_with_the_engine(oracle: gen.Oracle, fixed: list[str], task: str, seed: int) -> None:
    # A seed per example (the generators draw many choices; hypothesis picks and replays seeds).
    tally = gen.Tally()
    gen.run_task(task, random.Random(seed), oracle, tally, gen.FEATURES, fixed)
    assert not tally.violations, "\n".join(str(v) for v in tally.violations)


@pytest.mark.parametrize("text", [
    # Found by this fuzzing: the engine decodes an IRI's \u escape with a leading "+" ...
    "SELECT * {{ ?s ?p <{base}\\u+041#> . SERVICE <{base}svc1> {{ }} }}",
    # ... and reads the bare prefix, then the local part as text, where prefix + name is no IRI.
    "PREFIX h: <http://127.0.0.1:{port}> SELECT * {{ ?s ?p h:SERVICE <{base}svc2> {{ }} }}",
])
def test_found_by_fuzzing(oracle: gen.Oracle, text: str) -> None:
    checked = gen.check(oracle, text.format(base=oracle.base, port=oracle.listener.port))
    assert checked.accepted and not checked.violations, "\n".join(map(str, checked.violations))
    assert checked.facts is not None and checked.facts.uses_service
