"""Chapter 03, NAO: gradient ascent in a learned continuous space of cells against random search, many paired seeds.

For each seed 0..N-1, NAO (``nascourse.strategies.nao.NAO``: 20 random cells, then rounds of 10 cells stepped up
the predictor from the top 20) and random search run on the course benchmark with the same evaluator seed (the
same draw of the table's training runs per lookup) and the same strategy seed (NAO's 20 random cells are random
search's first 20). Each search runs ``--max-trials`` candidates; a search is sequential, so its first T trials are
exactly the search with budget T. For each budget T of ``--budgets`` it prints:

* at equal **trials** (T each): the test accuracy (table mean over its seeds) of the cell each search returns (its
  best by validation), median and quartiles; the paired difference NAO - random search, its mean with a 95% bootstrap
  interval and Wilcoxon's signed-rank p (``nascourse.stats.difference_test``), and the win probability
  (Vargha-Delaney A); the table's training seconds each spent;
* at equal **cost** in the table's recorded training seconds: the same, for the budget random search's median search
  spent on T trials (each search scored on the trials it finished within that budget);
* how many of NAO's proposals came from gradient steps, and how many were random top-ups.

Every search is logged under ``--run-dir`` (one JSON-lines file per method and seed): run the command again and the
finished searches are replayed, not run again. The figures chapter 03 quotes come from

    python experiments/ch03_nao.py --seeds 20

(budgets 50 and 100 trials, 150 trials per search, one thread; about 7 CPU-minutes, 20 s per seed).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from nascourse import run_search
from nascourse.loop import History
from nascourse.bench import Benchmark, BenchmarkEvaluator
from nascourse.stats import difference_test, win_probability
from nascourse.strategies import RandomSearch
from nascourse.strategies.nao import NAO


def describe(values) -> str:
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return f"median {median:.4f} (quartiles {q1:.4f}-{q3:.4f})"


def compare(label: str, nao: list[float], random: list[float], seeds: list[int]) -> None:
    test = difference_test(nao, seeds, random, seeds)
    print(f"  {label}: NAO {describe(nao)}; random search {describe(random)}")
    print(f"    NAO - random search, paired over {len(seeds)} seeds: mean {test['difference']:+.4f} "
          f"[95% bootstrap {test['low']:+.4f}, {test['high']:+.4f}], Wilcoxon p = {test['p']:.3f}; "
          f"P(NAO's cell beats random search's) = {win_probability(nao, random):.2f}; "
          f"better {sum(a > b for a, b in zip(nao, random))}, same {sum(a == b for a, b in zip(nao, random))}, "
          f"worse {sum(a < b for a, b in zip(nao, random))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budgets", type=int, nargs="+", default=[50, 100], help="trials per search")
    parser.add_argument("--max-trials", type=int, default=150,
                        help="trials each search runs (covers the equal-cost comparison when NAO's cells cost more)")
    parser.add_argument("--run-dir", default="runs/ch03_nao", help="where each search's log is kept (resumable)")
    args = parser.parse_args()
    if max(args.budgets) > args.max_trials:
        parser.error(f"every budget must be at most --max-trials ({args.max_trials}); got {args.budgets}.")
    torch.set_num_threads(1)

    bench = Benchmark.load()
    space = bench.space
    test = np.nanmean(bench.test_accuracy[:, :, -1], axis=1)
    print(bench)
    print(f"table test accuracy: best {test.max():.4f}, 99th percentile {np.quantile(test, 0.99):.4f}, "
          f"median {np.median(test):.4f}")
    run_dir = Path(args.run_dir)
    seeds = list(range(args.seeds))
    histories: dict[str, list] = {"NAO": [], "random search": []}
    fills, stepped = 0, 0
    for seed in seeds:
        for name in histories:
            log = run_dir / f"{'nao' if name == 'NAO' else 'random'}_seed{seed}.jsonl"
            rounds_file = log.with_suffix(".rounds.json")
            done = History.load(log) if log.exists() else None
            if done is not None and len(done) >= args.max_trials and (name != "NAO" or rounds_file.exists()):
                histories[name].append(History(done.trials[: args.max_trials]))  # finished before: not run again
            else:
                strategy = NAO(space, seed=seed) if name == "NAO" else RandomSearch(space, seed=seed)
                histories[name].append(run_search(space, strategy, BenchmarkEvaluator(bench, rng_seed=seed),
                                                  trials=args.max_trials, log_path=log, progress=False))
                if name == "NAO":
                    rounds_file.write_text(json.dumps([
                        {"reconstruction": r.reconstruction_accuracy, "stepped": len(r.proposals),
                         "random": r.random_fills} for r in strategy.rounds]))
        rounds = json.loads((run_dir / f"nao_seed{seed}.rounds.json").read_text())
        stepped += sum(r["stepped"] for r in rounds)
        fills += sum(r["random"] for r in rounds)
        print(f"seed {seed}: NAO returned {bench.returned_accuracy(histories['NAO'][-1], split='test'):.4f}, "
              f"random search {bench.returned_accuracy(histories['random search'][-1], split='test'):.4f} "
              f"({args.max_trials} trials); NAO's {len(rounds)} rounds: reconstruction of the training cells "
              f"{min(r['reconstruction'] for r in rounds):.2f} or more, {sum(r['random'] for r in rounds)} random "
              f"top-ups", flush=True)
    print(f"\nNAO's proposals after its random start: {stepped} from gradient steps, {fills} random top-ups "
          f"({fills / max(1, stepped + fills):.1%})")

    for budget in args.budgets:
        print(f"\nbudget {budget} trials, {len(seeds)} paired seeds")
        found = {name: [bench.returned_accuracy(History(h.trials[:budget]), split="test") for h in hs]
                 for name, hs in histories.items()}
        spent = {name: [h.trials[budget - 1].cumulative_seconds for h in hs] for name, hs in histories.items()}
        compare(f"equal trials ({budget})", found["NAO"], found["random search"], seeds)
        print(f"    training seconds spent (table's unit): NAO median {np.median(spent['NAO']):.1f}, "
              f"random search {np.median(spent['random search']):.1f}")
        seconds = float(np.median(spent["random search"]))
        short = [s for s, h in zip(seeds, histories["NAO"]) if h.trials[-1].cumulative_seconds < seconds]
        if short:
            print(f"    (NAO at seeds {short} spent less than {seconds:.1f} s in {args.max_trials} trials: scored on all)")
        found = {name: [bench.returned_accuracy(h, seconds, split="test") for h in hs] for name, hs in histories.items()}
        compare(f"equal cost ({seconds:.1f} training seconds)", found["NAO"], found["random search"], seeds)


if __name__ == "__main__":
    main()
