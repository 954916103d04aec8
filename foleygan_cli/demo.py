"""`foleygan demo` (make demo): the whole pipeline on the synthetic Foley set, on a CPU.

1. the synthetic set (data/synthetic, 7 x 40 clips) and a held-out one (data/synthetic_eval);
2. encoder E: SupCon pretraining (tiny config) -> runs/demo/encoder.pt;
3. GAN: C-SupCon without labels, tau_d 0.1, tau_c 0.1 (the report's S2), CPU-sized, with the
   FAD callback at validation. tau_c 1.0 (S3, the report's best FAD after full training) does
   not learn the classes in a few hundred updates (README, `make tiny-gan`);
4. the encoder probe on 100 generated mels per class, trained vs untrained (`foleygan probe`);
5. 100 clips per class in the DCASE layout from the trained and from the untrained generator,
   `foleygan fad` of both against the held-out clips; beside them the ceiling (`foleygan
   resynth` of the training clips through the same Griffin-Lim into runs/demo/resynth: what a
   perfect generator, one that draws the training distribution, would score) and the floor (the
   training clips themselves, no vocoder); one row per system;
6. the listening report.
FAD here uses the project's encoder as the embedding (no VGGish weights offline): the numbers
compare runs of this demo, not the challenge's table. The ceiling and the floor use the 40
training clips per class, the generators 100: FAD's small-sample bias puts those two rows a
little high.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

RUN = Path("runs/demo")
DATA = Path("data/synthetic")
HELD_OUT = Path("data/synthetic_eval")
ENCODER = RUN / "encoder.pt"
STACK = ("configs/trainer/cpu.yaml", "configs/logger/csv.yaml", "configs/data/synthetic.yaml")


def _configs(*paths: str) -> list[str]:
    return [arg for path in (*STACK, *paths) for arg in ("--config", path)]


def _step(title: str) -> float:
    print(f"\n=== {title} ===", flush=True)
    return time.perf_counter()


def make_data(clips_per_class: int) -> None:
    from datamodules.synthetic import make_synthetic_dataset

    make_synthetic_dataset(DATA, clips_per_class=clips_per_class, seed=0)
    make_synthetic_dataset(HELD_OUT, clips_per_class=100, seed=1)


def encoder_args(epochs: int) -> list[str]:
    """`foleygan fit` arguments of step 2 (tests/foleygan_cli/test_configs.py parses them)."""
    return [
        *_configs(
            "configs/callbacks/encoder.yaml",
            "configs/encoder/supcon_tiny.yaml",
            "configs/experiment/encoder.yaml",
        ),
        f"--data.data_root={DATA}",
        f"--trainer.max_epochs={epochs}",
        f"--trainer.logger.init_args.save_dir={RUN}",
        "--trainer.logger.init_args.name=encoder",
        f"--model.init_args.export_path={ENCODER}",
    ]


def gan_args(max_steps: int) -> list[str]:
    """`foleygan fit` arguments of step 3: the report's S2 at CPU size."""
    return [
        *_configs(
            "configs/callbacks/demo.yaml",
            "configs/gan/base.yaml",
            "configs/gan/csupcon.yaml",
            "configs/gan/cpu.yaml",
            "configs/experiment/demo.yaml",
        ),
        f"--data.data_root={DATA}",
        f"--trainer.max_steps={max_steps}",
        f"--trainer.logger.init_args.save_dir={RUN}",
        "--trainer.logger.init_args.name=gan",
        f"--model.init_args.encoder_path={ENCODER}",
    ]


def pretrain_encoder(epochs: int) -> None:
    from foleygan_cli.lightning import run_lightning_cli

    run_lightning_cli(["fit", *encoder_args(epochs)])


def train_gan(max_steps: int) -> Path:
    from foleygan_cli.lightning import run_lightning_cli

    cli = run_lightning_cli(["fit", *gan_args(max_steps)])
    return Path(cli.trainer.checkpoint_callback.last_model_path)


def synth_and_score(ckpt: Path, untrained: bool) -> dict[str, float]:
    from evaluation.fad_folders import fad_of_folders, write_fad_csv
    from evaluation.synthesis import synthesize
    from lightning_modules.generator_loading import load_generator
    from vocoders import load_vocoder

    name = "untrained" if untrained else "trained"
    out = RUN / ("synth" if not untrained else "synth_untrained")
    generator = load_generator(ckpt, untrained=untrained)
    # batch 8: Griffin-Lim on a CPU is memory-bound, smaller batches are faster per clip
    synthesize(generator, load_vocoder("griffin-lim"), out, n_per_class=100, seed=0, batch_size=8)
    fad = fad_of_folders(out, HELD_OUT, backbone=f"encoder:{ENCODER}", n_per_class=100)
    write_fad_csv(fad, RUN / f"fad_{name}.csv")
    return fad


def ceiling_and_floor(clips_per_class: int) -> dict[str, dict[str, float]]:
    """FAD against the held-out clips of the training clips through mel + Griffin-Lim (the
    ceiling, `foleygan resynth` into runs/demo/resynth) and of the training clips themselves
    (the floor); writes fad_ceiling.csv and fad_real.csv."""
    from evaluation.fad_folders import fad_of_folders, write_fad_csv
    from evaluation.fad_systems import CEILING, FLOOR
    from evaluation.resynthesis import resynthesize
    from vocoders import load_vocoder

    resynthesize(DATA, load_vocoder("griffin-lim"), RUN / "resynth",
                 n_per_class=clips_per_class, seed=0, batch_size=8)
    rows = {}
    for system, folder, stem in ((CEILING, RUN / "resynth", "ceiling"), (FLOOR, DATA, "real")):
        rows[system] = fad_of_folders(folder, HELD_OUT, backbone=f"encoder:{ENCODER}",
                                      n_per_class=None)
        write_fad_csv(rows[system], RUN / f"fad_{stem}.csv")
    return rows


def print_table(systems: dict[str, dict[str, float]]) -> None:
    """One row per system (untrained G, trained G, ceiling, floor), one column per class."""
    from evaluation.fad_systems import format_systems_table

    print("\nFAD (demo encoder embedding) against the held-out clips, per class:")
    print(format_systems_table(systems))
    print("read the generators against 'real -> mel -> vocoder' (a perfect generator through "
          "Griffin-Lim), not against 0")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="foleygan demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--clips-per-class", type=int, default=40)
    parser.add_argument("--encoder-epochs", type=int, default=8)
    parser.add_argument("--gan-steps", type=int, default=1200, help="global steps (D + G)")
    args = parser.parse_args(argv)
    start = _step("1/6 synthetic Foley set")
    make_data(args.clips_per_class)
    _step("2/6 encoder E (SupCon pretraining)")
    pretrain_encoder(args.encoder_epochs)
    _step("3/6 GAN (C-SupCon, no labels, tau_d 0.1, tau_c 0.1: the report's S2)")
    ckpt = train_gan(args.gan_steps)
    _step("4/6 does G draw the class it is asked for? (encoder probe, 100 mels per class)")
    from foleygan_cli.probe import main as probe

    if probe([str(ckpt), "--encoder", str(ENCODER), "--out", str(RUN / "probe.json")]) != 0:
        return 1
    _step("5/6 synthesis (100 clips per class) and FAD against held-out clips, with the "
          "vocoder's ceiling")
    trained = synth_and_score(ckpt, untrained=False)
    untrained = synth_and_score(ckpt, untrained=True)
    systems = {"untrained G": untrained, "trained G": trained,
               **ceiling_and_floor(args.clips_per_class)}
    print_table(systems)
    _step("6/6 listening report")
    from evaluation.report import write_report

    report = write_report(RUN, real_dir=HELD_OUT, synth_dir=RUN / "synth")
    minutes = (time.perf_counter() - start) / 60
    print(f"\ndemo finished in {minutes:.1f} min; report: {report.resolve()}")
    return 0
