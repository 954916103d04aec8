"""Markdown tables of `scripts/measure_gan.py` results: mean +- sd over seeds per (experiment,
system, setting), beside the untrained G of the same seeds, the vocoder ceiling and real clips.

    python scripts/measure_table.py runs/measure [--per-class]

`progress` of a class is (U - T) / (U - C): how far the trained G's FAD (or KAD) T moved from
the untrained G's U towards the Griffin-Lim ceiling C; 1 reaches the ceiling, 0.5 is the issue's
halfway target, below 0 is worse than the untrained G. U is the mean over the untrained G's seeds:
one random init's score swings widely (Rain FAD 10 to 180), and a U that happens to sit near C
would make the ratio explode.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def mean_sd(values: list[float | None], digits: int = 2) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f} (1 seed)"
    return f"{statistics.mean(values):.{digits}f} +- {statistics.stdev(values):.{digits}f}"


def class_mean(values) -> float | None:
    values = list(values.values()) if isinstance(values, dict) else list(values)
    return None if None in values else sum(values) / len(values)


def load(out: Path) -> tuple[dict, dict[int, dict], dict[tuple, list[dict]]]:
    """refs.json, untrained scores by seed, and the GAN runs grouped by (experiment, system,
    setting, steps)."""
    results = [json.loads(p.read_text()) for p in sorted((out / "results").glob("*.json"))]
    refs_path = out / "results" / "refs.json"
    refs = json.loads(refs_path.read_text()) if refs_path.exists() else {}
    untrained = {r["seed"]: r["scores"] for r in results if "system" not in r and "scores" in r}
    groups: dict[tuple, list[dict]] = {}
    for r in (r for r in results if "system" in r):
        if r["scores"].get("untrained"):
            untrained.setdefault(r["seed"], r["scores"]["untrained"])
        key = (r.get("experiment", "demo"), r["system"], r["setting"], r["steps"])
        groups.setdefault(key, []).append(r)
    return refs, untrained, groups


def mean_untrained(untrained: dict[int, dict]) -> dict:
    """{class: {metric: mean over the untrained seeds}} for the scores every seed has."""
    seeds = sorted(untrained)
    first = untrained[seeds[0]]
    return {n: {m: statistics.mean(untrained[s][n][m] for s in seeds) for m in first[n]}
            for n in first}


def progress(trained: dict, floor: dict, ceiling: dict, name: str, metric: str = "fad") -> float:
    u, t, c = floor[name][metric], trained[name][metric], ceiling[name][metric]
    return (u - t) / (u - c)


def score_row(title: str, scores: list[dict], names: list[str]) -> str:
    cells = [mean_sd([s["mean"][m] for s in scores]) for m in ("fad", "kad")]
    cells += [mean_sd([class_mean({n: s[n].get(m) for n in names}) for s in scores])
              for m in ("recall", "coverage")]
    return f"| {title} | | | " + " | ".join(cells) + " | | | | |"


def demo_table(refs: dict, untrained: dict, groups: dict) -> list[str]:
    names = refs["class_names"]
    ceiling = refs["rows"]["resynth"]
    lines = ["| system | seeds | fit min | FAD | KAD | recall | coverage | probe | "
             "diversity ratio | overfit gap | classes >= halfway (of N) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    seeds = sorted({r["seed"] for runs in groups.values() for r in runs} & set(untrained))
    lines.append(score_row(f"untrained G (seeds {seeds})", [untrained[s] for s in seeds], names))
    floor = mean_untrained(untrained)
    for (exp, system, setting, steps), runs in sorted(groups.items()):
        if exp != "demo" or not runs[0]["scores"]:
            continue
        scores = [r["scores"]["trained"] for r in runs]
        halfway = {m: [sum(progress(r["scores"]["trained"], floor, ceiling, n, m) >= 0.5
                           for n in names) for r in runs] for m in ("fad", "kad")}
        cells = [f"{system.upper()} {setting} ({steps} steps)", str([r["seed"] for r in runs]),
                 mean_sd([r["fit_minutes"] for r in runs], 1),
                 mean_sd([s["mean"]["fad"] for s in scores]),
                 mean_sd([s["mean"]["kad"] for s in scores]),
                 mean_sd([class_mean({n: s[n].get("recall") for n in names}) for s in scores]),
                 mean_sd([class_mean({n: s[n].get("coverage") for n in names}) for s in scores]),
                 mean_sd([class_mean(r["probe"]["trained"]) for r in runs]),
                 mean_sd([r["diversity_ratio"] for r in runs]),
                 mean_sd([r["overfit_gap"] for r in runs]),
                 f"FAD {mean_sd(halfway['fad'], 1)}, KAD {mean_sd(halfway['kad'], 1)}"]
        lines.append("| " + " | ".join(cells) + " |")
    for title, key in (("Griffin-Lim ceiling", "resynth"), ("real clips", "real")):
        lines.append(score_row(title, [refs["rows"][key]], names).replace(" (1 seed)", ""))
    return lines


def per_class_table(refs: dict, untrained: dict, groups: dict, metric: str) -> list[str]:
    names = refs["class_names"]
    ceiling = refs["rows"]["resynth"]
    up = metric.upper()
    floor = mean_untrained(untrained)
    lines = ["| system | " + " | ".join(f"{n} {up} (progress)" for n in names) + " |",
             "| --- |" + " ---: |" * len(names)]
    for (exp, system, setting, steps), runs in sorted(groups.items()):
        if exp != "demo" or not runs[0]["scores"]:
            continue
        cells = []
        for n in names:
            value = mean_sd([r["scores"]["trained"][n][metric] for r in runs], 1)
            moved = mean_sd([progress(r["scores"]["trained"], floor, ceiling, n, metric)
                             for r in runs])
            cells.append(f"{value} ({moved})")
        lines.append(f"| {system.upper()} {setting} ({steps} steps) | " + " | ".join(cells) + " |")
    seeds = sorted(untrained)
    lines.append(f"| untrained G (seeds {seeds}) | " + " | ".join(
        mean_sd([untrained[s][n][metric] for s in seeds], 1) for n in names) + " |")
    lines.append("| Griffin-Lim ceiling | " + " | ".join(
        f"{ceiling[n][metric]:.2f}" for n in names) + " |")
    return lines


def probe_table(groups: dict, experiment: str) -> list[str]:
    lines = ["| system | seeds | fit min | probe trained | probe untrained | per class (trained) "
             "| diversity ratio | overfit gap |",
             "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: |"]
    for (exp, system, setting, steps), runs in sorted(groups.items()):
        if exp != experiment:
            continue
        trained = [r["probe"]["trained"] for r in runs]
        per_class = [statistics.mean(v) for v in zip(*trained, strict=True)]
        cells = [f"{system.upper()} {setting} ({steps} steps)", str([r["seed"] for r in runs]),
                 mean_sd([r["fit_minutes"] for r in runs], 1),
                 mean_sd([class_mean(r["probe"]["trained"]) for r in runs]),
                 mean_sd([class_mean(r["probe"]["untrained"]) for r in runs]),
                 " / ".join(f"{v:.2f}" for v in per_class),
                 mean_sd([r["diversity_ratio"] for r in runs]),
                 mean_sd([r["overfit_gap"] for r in runs])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    refs, untrained, groups = load(args.out)
    experiments = sorted({key[0] for key in groups})
    if refs and "demo" in experiments:
        print("\n".join(demo_table(refs, untrained, groups)), "\n")
        for metric in ("fad", "kad"):
            print("\n".join(per_class_table(refs, untrained, groups, metric)), "\n")
    for experiment in experiments:
        print(f"probe, {experiment}:")
        print("\n".join(probe_table(groups, experiment)), "\n")


if __name__ == "__main__":
    main()
