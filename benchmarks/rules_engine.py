"""The rules engine alone (an inner component, not the product: the product figure is ``fanout.py --rules``).

    .venv/bin/python benchmarks/rules_engine.py                      # against gateway/protocol/rules.py at b8d658f
    .venv/bin/python benchmarks/rules_engine.py --baseline-rev main  # against another revision
    .venv/bin/python benchmarks/rules_engine.py --quick              # fewer readings per sample

Feeds ``RuleEngine.on_readings`` batches of one sensor's readings watched by ``fanout.py``'s five rules on the
published sensor (above, below, outside, rate, stale: thresholds never crossed, hysteresis 0.5, ``for_s`` 5), and
prints ns per reading:

1. batches of 50 (``fanout.py``'s batch): the baseline revision's ``on_readings`` (its rules.py taken with
   ``git show REV:gateway/protocol/rules.py`` and imported under another module name), this tree's, and this
   tree's reading-by-reading reference path (``per_reading``); each for two kinds of readings: ``bench`` (what
   ``fanout.py`` publishes: one values dict, constant values, stamped ~2 µs apart) and ``noisy`` (a new dict per
   reading, values random-walking, 1 ms apart: a real sensor read fast);
2. batch sizes 1-50, for the five rules, the ``above`` rule alone and the three threshold rules (one per field):
   this tree's batch decision forced on (``batch_min`` 1) against ``per_reading``, next to what the cost model
   (:func:`~gateway.protocol.rules.batch_min_readings`, whose constants are fitted from this table) picks.

Each cell is the best of ``--repeat`` samples (the variants alternate within each repeat), with the spread of the
samples; on a shared machine the best is the least disturbed. Runs in one process, no I/O while measuring.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.protocol import rules as current  # noqa: E402

BASELINE_REV = "b8d658f"
"""main when the batch decision was tuned (branch ru's base): the batch fast path of branch rb, as measured in
docs/benchmarks.md "Batch fast path for rules"."""

SENSOR = "env"
FIELDS = ("temperature_c", "pressure_pa", "humidity_pct")
BENCH_VALUES = {"temperature_c": 21.53, "pressure_pa": 100653.27, "humidity_pct": 45.2}
"""What fanout.py publishes for every reading (one dict object)."""


def bench_rules(mod: ModuleType) -> list[Any]:
    """fanout.py's rules_config(5): rule i on field i % 3, kinds in this order, none ever crossed."""
    rule = mod.Rule
    return [
        rule("r0", SENSOR, FIELDS[0], "above", 1e9, hysteresis=0.5, for_s=5),
        rule("r1", SENSOR, FIELDS[1], "below", -1e9, hysteresis=0.5, for_s=5),
        rule("r2", SENSOR, FIELDS[2], "outside", low=-1e9, high=1e9, hysteresis=0.5, for_s=5),
        rule("r3", SENSOR, FIELDS[0], "rate", 1e12, hysteresis=0.5, for_s=5),
        rule("r4", SENSOR, FIELDS[1], "stale", 3600, hysteresis=0.5, for_s=5),
    ]


def readings(kind: str, count: int, seed: int = 1) -> list[tuple[int, int, int, str, dict[str, float], int]]:
    """``count`` readings of :data:`SENSOR` (see the module docstring for ``bench`` and ``noisy``)."""
    ts0 = 1_700_000_000_000_000_000
    if kind == "bench":
        return [(i + 1, i, ts0 + i * 2_000, SENSOR, BENCH_VALUES, 0) for i in range(count)]
    rnd = random.Random(seed)
    t, p, h = 21.5, 100650.0, 45.0
    out = []
    for i in range(count):
        t += rnd.gauss(0, 0.01)
        p += rnd.gauss(0, 0.5)
        h += rnd.gauss(0, 0.05)
        values = {"temperature_c": round(t, 2), "pressure_pa": round(p, 2), "humidity_pct": round(h, 1)}
        out.append((i + 1, i, ts0 + i * 1_000_000 + rnd.randrange(-20_000, 20_000), SENSOR, values, 0))
    return out


def load_baseline(rev: str) -> ModuleType:
    """gateway/protocol/rules.py at ``rev``, imported as module ``rules_baseline`` (it imports this tree's
    gateway.protocol.model, which the engine uses for index constants only)."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:gateway/protocol/rules.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="sensorcast-bench-rules-")) / "rules_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("rules_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["rules_baseline"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


Feed = Callable[[Any, float], Any]


POOL = 2_000
"""Distinct readings a sample cycles through: the hub hands the engine readings it has just made (in the CPU's
caches); 100 000 distinct dicts would measure memory instead. A pass over the pool steps the clock back once (a
new ``rate`` baseline), the same for every variant."""


def sampler(make_feed: Callable[[], Feed], data: list[Any], batch: int, count: int) -> Callable[[], float]:
    """A function that feeds ``count`` readings of ``data`` (cycled) in batches of ``batch`` to a fresh engine
    and returns ns per reading."""
    batches = [data[i : i + batch] for i in range(0, len(data) - batch + 1, batch)]
    passes = max(1, count // (len(batches) * batch))
    n = passes * len(batches) * batch

    def sample() -> float:
        feed = make_feed()
        now = 1.0
        start = time.perf_counter_ns()
        for _ in range(passes):
            for b in batches:
                feed(b, now)
                now += 0.0001
        return (time.perf_counter_ns() - start) / n

    return sample


def measure(samplers: dict[str, Callable[[], float]], repeat: int) -> dict[str, list[float]]:
    """Run every sampler ``repeat`` times, alternating them; ns per reading per sample."""
    out: dict[str, list[float]] = {name: [] for name in samplers}
    for _ in range(repeat):
        for name, sample in samplers.items():
            out[name].append(sample())
    return out


def cell(values: list[float]) -> str:
    return f"{min(values):6.0f} ({min(values):.0f}-{max(values):.0f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline-rev", default=BASELINE_REV, help="git revision of the baseline rules.py")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="20 000 readings per sample instead of 100 000")
    args = ap.parse_args()
    count = 20_000 if args.quick else 100_000
    base = load_baseline(args.baseline_rev)
    data = {kind: readings(kind, POOL) for kind in ("bench", "noisy")}

    def engine(
        mod: ModuleType, rules: int = 5, batch_min: int | None = None, per_reading: bool = False
    ) -> Callable[[], Feed]:
        def make() -> Feed:
            eng = mod.RuleEngine(bench_rules(mod)[:rules], 0.0)
            if batch_min is not None:
                eng.batch_min = batch_min
            return eng.per_reading if per_reading else eng.on_readings  # type: ignore[no-any-return]

        return make

    print(f"[bench] rules engine alone, {count} readings per sample, best of {args.repeat} (spread); "
          f"baseline: rules.py at {args.baseline_rev}", file=sys.stderr)  # fmt: skip
    print("\nthe 5 rules, batches of 50, ns per reading")
    print(
        f"{'readings':<9} {'baseline on_readings':>22} {'this on_readings':>22} {'this per_reading':>22}  ratio"
    )
    for kind, rows in data.items():
        res = measure(
            {
                "base": sampler(engine(base), rows, 50, count),
                "this": sampler(engine(current), rows, 50, count),
                "per": sampler(engine(current, per_reading=True), rows, 50, count),
            },
            args.repeat,
        )
        ratio = min(res["this"]) / min(res["base"])
        print(
            f"{kind:<9} {cell(res['base']):>22} {cell(res['this']):>22} {cell(res['per']):>22}  {ratio:.2f}x"
        )

    print("\nbatch decision on every batch (batch_min 1) vs reading by reading, ns per reading")
    print(f"{'rules':<22} {'batch':>5} {'readings':<9} {'batch decision':>22} {'per_reading':>22}  faster")
    for rules, label in ((5, "5 kinds"), (1, "1 above"), (3, "3 thresholds, 3 fields")):
        model = current.batch_min_readings(bench_rules(current)[:rules])
        for size in (1, 2, 4, 8, 16, 32, 50):
            for kind, rows in data.items():
                res = measure(
                    {
                        "batch": sampler(engine(current, rules, batch_min=1), rows, size, count),
                        "per": sampler(engine(current, rules, per_reading=True), rows, size, count),
                    },
                    args.repeat,
                )
                faster = "batch" if min(res["batch"]) < min(res["per"]) else "per_reading"
                chosen = "batch" if size >= model else "per_reading"
                print(f"{label:<22} {size:>5} {kind:<9} {cell(res['batch']):>22} {cell(res['per']):>22}  "
                      f"{faster:<11} (model: {chosen}, from {model})")  # fmt: skip


if __name__ == "__main__":
    main()
