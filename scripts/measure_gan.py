"""Measure the CPU GAN recipe on a dataset: encoder split check, GAN runs, floors and ceilings.

    python scripts/measure_gan.py refs     --data data/realdev --out runs/measure
    python scripts/measure_gan.py encoders --data data/realdev --out runs/measure --seeds 0 1 2
    python scripts/measure_gan.py gan      --data data/realdev --out runs/measure \
        --system s2 --setting none --seed 0 [--steps 1200] [--num-samples 88200]
    python scripts/measure_gan.py encoders --data data/synthetic --out runs/measure_syn \
        --seeds 0 --splits recording --num-samples 22050
    python scripts/measure_gan.py gan      --data data/synthetic --out runs/measure_syn \
        --experiment tiny_1s --encoder runs/measure_syn/encoders/recording_n22050_s0.pt ...
    python scripts/measure_gan.py table    --out runs/measure      (scripts/measure_table.py)

`refs` splits the data as the GAN sees it (recording-aware, val_fraction 0.2, split seed 0) and
links the held-out clips into OUT/ref/<Class>/ (the FAD / KAD reference) and the training clips
into OUT/real_train/<Class>/; it then scores two fixed rows against the reference with the
project encoder: the real training clips themselves (the floor of any generator) and the same
clips through mel + Griffin-Lim (`foleygan resynth`: the vocoder ceiling).
`encoders` pretrains the CPU encoder (configs/encoder/supcon_tiny.yaml, 8 epochs) with the
recording-aware split and with the by-clip split for each seed and records the held-out probe
accuracy of each; the recording-split encoder of the first seed is the GAN's E and embedding.
`gan` trains one GAN (the demo's CPU recipe: gan/base + gan/csupcon + gan/cpu + experiment/demo,
S2 = tau_c 0.1 or S3 = tau_c 1.0; settings none / diffaug / lecam / both add configs/gan/
diffaug.yaml and lecam.yaml), then the probe (trained and untrained G, 50 mels per class) and
FAD / KAD of 40 generated clips per class (trained and untrained) against the reference.
`--experiment tiny_1s` runs the 1 s recipe of `make tiny-gan` instead (probe only).
`table` prints mean +- sd over seeds per (system, setting) beside the fixed rows.
Every result is a JSON file under OUT/results/, written when its step ends.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's packages, not another installed copy
FOLEYGAN = [sys.executable, "-m", "foleygan_cli.main"]
BASE = ["configs/trainer/cpu.yaml", "configs/logger/csv.yaml", "configs/data/synthetic.yaml"]
SETTINGS = {"none": [], "diffaug": ["configs/gan/diffaug.yaml"],
            "lecam": ["configs/gan/lecam.yaml"],
            "both": ["configs/gan/diffaug.yaml", "configs/gan/lecam.yaml"]}
TAU_C = {"s2": 0.1, "s3": 1.0}
N_GEN = 40


def _run(cmd: list[str], log: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as handle:
        done = subprocess.run(cmd, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}; see {log}")


def _configs(paths: list[str]) -> list[str]:
    return [arg for path in paths for arg in ("--config", path)]


def _save(out: Path, name: str, payload: dict) -> None:
    path = out / "results" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path}", flush=True)


def _link_split(data: Path, out: Path) -> list[str]:
    from datamodules.datamodule import FoleyDataModule

    dm = FoleyDataModule(str(data), val_fraction=0.2, seed=0)
    dm.prepare_data()
    dm.setup("fit")
    print(dm.split_summary())
    cache = dm._require_setup()
    for folder, indices in (("ref", dm.val_indices), ("real_train", dm.train_indices)):
        for i in indices:
            target = out / folder / cache.class_names[cache.labels[i]] / Path(cache.paths[i]).name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.symlink_to(Path(cache.paths[i]).resolve())
    return list(cache.class_names)


def _score(gen: Path, out: Path, encoder: Path) -> dict[str, dict[str, float]]:
    from evaluation.fad_folders import evaluate_folders

    return evaluate_folders(gen, out / "ref", backbone=f"encoder:{encoder}",
                            metrics=("fad", "kad", "prdc"), n_per_class=None,
                            cache_dir=out / "fadcache")


def cmd_refs(args) -> None:
    names = _link_split(args.data, args.out)
    encoder = args.out / "encoders" / "recording_s0.pt"
    ceiling = args.out / "resynth"
    _run([*FOLEYGAN, "resynth", str(args.out / "real_train"), "--out", str(ceiling),
          "--n-per-class", str(N_GEN), "--no-progress"], args.out / "logs" / "resynth.log")
    rows = {"real": _score(args.out / "real_train", args.out, encoder),
            "resynth": _score(ceiling, args.out, encoder)}
    _save(args.out, "refs", {"class_names": names, "rows": rows})


def _last_metric(log_dir: Path, key: str) -> float | None:
    import csv

    files = sorted(log_dir.rglob("metrics.csv"), key=lambda p: p.stat().st_mtime)
    values = [row[key] for row in csv.DictReader(open(files[-1])) if row.get(key)]
    return float(values[-1]) if values else None


def cmd_encoders(args) -> None:
    crop = "" if args.num_samples == 88200 else f"_n{args.num_samples}"
    for seed in args.seeds:
        for split in args.splits:
            name = f"{split}{crop}_s{seed}"
            start = time.perf_counter()
            save = args.out / "encoders" / name
            _run([*FOLEYGAN, "fit", *_configs([*BASE, "configs/callbacks/encoder.yaml",
                  "configs/encoder/supcon_tiny.yaml", "configs/experiment/encoder.yaml"]),
                  f"--data.data_root={args.data}", f"--data.split_by={split}",
                  f"--data.num_samples={args.num_samples}",
                  f"--seed_everything={seed}", "--trainer.max_epochs=8",
                  f"--trainer.logger.init_args.save_dir={save}",
                  f"--model.init_args.export_path={args.out / 'encoders' / (name + '.pt')}"],
                 args.out / "logs" / f"encoder_{name}.log")
            acc = _last_metric(save, "val/probe/acc")
            _save(args.out, f"encoder_{name}", {"split": split, "seed": seed, "val_probe_acc": acc,
                                                "minutes": (time.perf_counter() - start) / 60})


def _callbacks_file(out: Path, encoder: Path) -> Path:
    path = out / "callbacks.yaml"
    path.write_text(
        "trainer:\n  callbacks:\n"
        "    - class_path: lightning_modules.last_checkpoint.LastCheckpoint\n"
        "      init_args: {every_n_train_steps: 200, every_n_minutes: 10}\n"
        "    - class_path: evaluation.diversity.DiversityCallback\n"
        "      init_args: {n_per_class: 8}\n"
        "    - class_path: evaluation.probe_callback.ProbeCallback\n"
    )
    return path


def _probe(ckpt: Path, encoder: Path, out_json: Path, log: Path) -> dict:
    _run([*FOLEYGAN, "probe", str(ckpt), "--encoder", str(encoder), "--n-per-class", "50",
          "--out", str(out_json)], log)
    return json.loads(out_json.read_text())["accuracy"]


def _run_name(args) -> str:
    steps = f"_steps{args.steps}" if args.steps else ""
    if args.experiment == "demo":
        return f"{args.system}_{args.setting}_n{args.num_samples}{steps}_s{args.seed}"
    return f"{args.system}_{args.setting}_{args.experiment}{steps}_s{args.seed}"


def _fit(args, encoder: Path, run: Path) -> float:
    """Train one GAN; its wall minutes."""
    crops = [f"--data.num_samples={args.num_samples}"] if args.experiment == "demo" else []
    steps = [f"--trainer.max_steps={args.steps}"] if args.steps else []
    start = time.perf_counter()
    _run([*FOLEYGAN, "fit", *_configs([*BASE, str(_callbacks_file(args.out, encoder)),
          "configs/gan/base.yaml", "configs/gan/csupcon.yaml", *SETTINGS[args.setting],
          "configs/gan/cpu.yaml", f"configs/experiment/{args.experiment}.yaml"]),
          f"--data.data_root={args.data}", *crops, *steps,
          f"--model.init_args.tau_c={TAU_C[args.system]}", f"--seed_everything={args.seed}",
          f"--model.init_args.encoder_path={encoder}",
          f"--trainer.logger.init_args.save_dir={run}", "--trainer.logger.init_args.name=fit"],
         run / "fit.log")
    return (time.perf_counter() - start) / 60


def _untrained_scores(args, ckpt: Path, encoder: Path) -> dict:
    """FAD / KAD / PRDC of the untrained G drawn from this seed (`foleygan synth --untrained
    --seed`): the same for every setting and system, so it is scored once per seed and reused."""
    path = args.out / "results" / f"untrained_s{args.seed}.json"
    folder = args.out / "untrained" / f"s{args.seed}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"s{args.seed}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs of one seed at once: the second one waits
        if path.exists():
            return json.loads(path.read_text())["scores"]
        _run([*FOLEYGAN, "synth", str(ckpt), "--out", str(folder), "--n-per-class", str(N_GEN),
              "--no-progress", "--untrained", "--seed", str(args.seed)],
             folder.parent / f"synth_s{args.seed}.log")
        scores = _score(folder, args.out, encoder)
        _save(args.out, f"untrained_s{args.seed}", {"seed": args.seed, "scores": scores})
    return scores


def _experiment_steps(experiment: str) -> int:
    import yaml

    text = (ROOT / "configs" / "experiment" / f"{experiment}.yaml").read_text()
    return int(yaml.safe_load(text)["trainer"]["max_steps"])


def cmd_gan(args) -> None:
    encoder = args.encoder or args.out / "encoders" / "recording_s0.pt"
    name = _run_name(args)
    run = args.out / "gan" / name
    minutes = _fit(args, encoder, run)
    ckpt = sorted(run.rglob("last.ckpt"), key=lambda p: p.stat().st_mtime)[-1]
    probe = _probe(ckpt, encoder, run / "probe.json", run / "probe.log")
    scores = {}
    if args.experiment == "demo" and args.num_samples == 88200:  # FAD needs 4 s clips
        folder = run / "synth_trained"
        _run([*FOLEYGAN, "synth", str(ckpt), "--out", str(folder), "--n-per-class", str(N_GEN),
              "--no-progress", "--seed", str(args.seed)], run / "synth_trained.log")
        scores = {"trained": _score(folder, args.out, encoder),
                  "untrained": _untrained_scores(args, ckpt, encoder)}
    _save(args.out, f"gan_{name}", {
        "system": args.system, "setting": args.setting, "seed": args.seed,
        "steps": args.steps or _experiment_steps(args.experiment),
        "experiment": args.experiment, "num_samples": args.num_samples, "fit_minutes": minutes,
        "probe": probe, "scores": scores,
        "overfit_gap": _last_metric(run, "val/d/overfit_gap"),
        "diversity_ratio": _last_metric(run, "val/diversity/mean_ratio")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["refs", "encoders", "gan", "table"])
    parser.add_argument("--data", type=Path, default=Path("data/realdev"))
    parser.add_argument("--out", type=Path, default=Path("runs/measure"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--system", choices=sorted(TAU_C), default="s2")
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="none")
    parser.add_argument("--steps", type=int, default=None,
                        help="global steps (D + G); default: the experiment file's")
    parser.add_argument("--experiment", choices=["demo", "tiny_1s"], default="demo")
    parser.add_argument("--encoder", type=Path, default=None,
                        help="E and the embedding (default OUT/encoders/recording_s0.pt)")
    parser.add_argument("--splits", nargs="+", default=["recording", "clip"])
    parser.add_argument("--num-samples", type=int, default=88200)
    args = parser.parse_args()
    args.data, args.out = args.data.resolve(), args.out.resolve()
    args.encoder = args.encoder.resolve() if args.encoder else None
    {"refs": cmd_refs, "encoders": cmd_encoders, "gan": cmd_gan, "table": cmd_table}[
        args.command](args)


def cmd_table(args) -> None:
    import measure_table  # scripts/ is this script's own folder, first on sys.path

    sys.argv = ["measure_table.py", str(args.out)]
    measure_table.main()


if __name__ == "__main__":
    main()
