"""The scanner's differential fuzzing at scale: ``python bench/fuzz_scanner.py --texts 1000000``.

The checks of ``tests/test_sparql_text_fuzz.py`` (generators and judge in
``tests/sparql_gen.py``), run on every core with ``random`` seeds instead of hypothesis:
texts generated, accepted by the engine, SERVICE calls it made (to a loopback listener),
violations of the scanner's guarantee (0 expected), texts per second.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import sparql_gen as gen


def work(job: tuple[int, int]) -> tuple[int, int, int, int, list[str]]:
    """Draw tasks from ``seed`` until ``count`` texts are checked: (texts, accepted, calls, rejected, violations)."""
    seed, count = job
    listener = gen.Listener()
    oracle = gen.Oracle(listener)
    fixed = gen.fixed_texts(oracle.base)
    r = random.Random(seed)
    tally = gen.Tally()
    while tally.texts < count:
        task = r.choices(gen.TASKS, gen.TASK_WEIGHTS)[0]
        gen.run_task(task, r, oracle, tally, gen.FEATURES, fixed)
    listener.close()
    return tally.texts, tally.accepted, tally.service_calls, tally.rejected, [str(v)[:2000] for v in tally.violations]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--chunk", type=int, default=5_000)
    args = parser.parse_args()
    jobs = [(args.seed * 1_000_003 + i, min(args.chunk, args.texts - i * args.chunk))
            for i in range((args.texts + args.chunk - 1) // args.chunk)]
    started = time.perf_counter()
    texts = accepted = calls = rejected = 0
    violations: list[str] = []
    with mp.get_context("spawn").Pool(args.processes) as pool:
        for t, a, c, rej, v in pool.imap_unordered(work, jobs):
            texts, accepted, calls, rejected = texts + t, accepted + a, calls + c, rejected + rej
            violations += v
    seconds = time.perf_counter() - started
    print(f"texts checked: {texts:,}  accepted by the engine: {accepted:,}  rejected: {rejected:,}  "
          f"SERVICE calls observed: {calls:,}  violations: {len(violations)}  "
          f"({texts / seconds:,.0f} texts/s on {args.processes} processes, {seconds:.0f} s)")
    for v in violations[:20]:
        print(v)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
