"""`make bench`: run every bench/bench_*.py and write one JSON with all figures.

Usage: python -m bench.run [--quick] [--out bench/latest.json] [--only data,gan]
Each module exposes `run(quick: bool = False) -> dict`. A module that fails is recorded with
its error instead of aborting the others. `fractions` lists the same-run ratios to a floor:
the GAN iteration against a GEMM peak, the mel-cache build against STFT + matmul, FAD against
VGGish's forward.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import traceback
from pathlib import Path

import torch

from datamodules.atomic import atomic_path

AREAS = ("data", "gan", "eval", "fad_fraction")
FRACTIONS = {  # summary key -> (area, key): each a ratio measured within one run
    "gan_iteration_of_gemm_peak": ("gan", "gan_iter_fast_fraction_of_gemm_peak"),
    "gan_iteration_reference_of_gemm_peak": ("gan", "gan_iter_reference_fraction_of_gemm_peak"),
    "gan_iteration_of_gemm_sustained": ("gan", "gan_iter_fast_fraction_of_gemm_sustained"),
    "gan_iteration_1thread_cpu_time": ("gan", "gan_iter_fast_1thread_fraction"),
    "gan_iteration_reference_1thread_cpu_time": ("gan", "gan_iter_reference_1thread_fraction"),
    "mel_cache_of_stft_matmul_floor": ("data", "mel_cache_fraction_of_floor"),
    "fad_of_vggish_forward": ("fad_fraction", "fad_fraction_of_vggish"),
}


def _machine() -> dict:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "platform": platform.platform(),
    }


def run_all(areas: tuple[str, ...], quick: bool) -> dict:
    results: dict = {"machine": _machine(), "quick": quick, "started": time.strftime("%F %T")}
    for area in areas:
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.bench_{area}")
            results[area] = module.run(quick=quick)
        except Exception as err:  # a failed benchmark is data, not a crash
            results[area] = {
                "error": f"{type(err).__name__}: {err}",
                "trace": traceback.format_exc(),
            }
        results[area]["wall_seconds"] = round(time.perf_counter() - t0, 2)
        print(f"[bench] {area}: {json.dumps(results[area])[:400]}", file=sys.stderr)
    results["fractions"] = {name: results.get(area, {}).get(key)
                            for name, (area, key) in FRACTIONS.items() if area in areas}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    parser.add_argument("--out", default="bench/latest.json")
    parser.add_argument("--only", default=",".join(AREAS), help="comma-separated areas")
    args = parser.parse_args(argv)
    results = run_all(tuple(a for a in args.only.split(",") if a), args.quick)
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"[bench] wrote {Path(args.out).resolve()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
