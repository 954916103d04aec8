"""`make gpu-check`: every GPU figure of the project in one command, nothing downloaded.

    python -m bench.gpu_check [--out bench/gpu.json] [--table bench/gpu.md] [--reduced]

On CUDA (full size, < 5 minutes on one GPU): the GAN iteration (D + G step, SAGAN width 64,
batch 64, 80 x 344, Adam, EMA) in fp32, bf16 autocast, bf16 + channels-last and bf16 +
torch.compile: iterations per second, the fraction of a bf16 GEMM peak measured in the same run
(FLOPs by torch.utils.flop_counter), peak memory; the FAD callback's wall time for 7 x 100 clips
(G + HiFi-GAN V1 + VGGish, random weights) and the synthesis clips per second; a DDP iteration
on 2 GPUs when there are two. On a machine without CUDA (or with --reduced) the same sections
run at tiny sizes (`"reduced": true`) and compile is skipped unless --compile is given.
Each section is guarded: a failure is recorded as {"error": ...} and the rest continue; the JSON
is rewritten after every section, so a run cut short keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import traceback
from pathlib import Path

import torch

from bench.gan_iteration import GANIteration, gemm_gflops, iteration_flops, time_iterations
from datamodules.atomic import atomic_path

FULL = dict(width=64, batch=64, mel_shape=(80, 344), iters=10, warmup=3, fad_classes=7,
            fad_per_class=100, fad_width=64, gemm_n=8192)
REDUCED = dict(width=4, batch=4, mel_shape=(80, 86), iters=1, warmup=1, fad_classes=2,
               fad_per_class=1, fad_width=4, gemm_n=1024)
VARIANTS = {  # name -> (autocast dtype, channels_last, compile)
    "fp32": (None, None, False),
    "bf16": (torch.bfloat16, None, False),
    "bf16_channels_last": (torch.bfloat16, True, False),
    "bf16_compile": (torch.bfloat16, None, True),
}


def _machine(device: str, reduced: bool) -> dict:
    cuda = torch.cuda.is_available()
    return {
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if cuda else _cpu_name(),
        "reduced": reduced,
        "gpus": torch.cuda.device_count() if cuda else 0,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cpu_threads": torch.get_num_threads(),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def _sig(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else float(f"{x:.{digits}g}")


def _peak_memory_gib(device: str) -> float | None:
    if not device.startswith("cuda"):
        return None  # CUDA's allocator statistics only
    return round(torch.cuda.max_memory_allocated() / 2**30, 2)


def _reset_memory(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def gemm_section(device: str, cfg: dict) -> dict:
    n = cfg["gemm_n"]
    return {"bf16_tflops": _sig(gemm_gflops(device, torch.bfloat16, n) / 1e3),
            "fp32_tflops": _sig(gemm_gflops(device, torch.float32, n) / 1e3),
            "n": n}


def flops_section(device: str, cfg: dict) -> dict:
    """FLOPs of one iteration, counted at batch 2 and scaled (they are linear in the batch)."""
    small = min(cfg["batch"], 2)
    it = GANIteration(width=cfg["width"], batch=small, mel_shape=cfg["mel_shape"], device=device)
    flops = iteration_flops(it) * cfg["batch"] / small
    return {"gan_iter_tflop": _sig(flops / 1e12), "counted_at_batch": small}


def gan_section(device: str, cfg: dict, variant: str, results: dict, compile_ok: bool) -> dict:
    dtype, channels_last, compiled = VARIANTS[variant]
    if compiled and not compile_ok:
        return {"skipped": "reduced CPU run: torch.compile takes minutes on a few cores; "
                           "pass --compile to include it"}
    _reset_memory(device)
    it = GANIteration(width=cfg["width"], batch=cfg["batch"], mel_shape=cfg["mel_shape"],
                      device=device, autocast_dtype=dtype, channels_last=channels_last)
    if compiled:
        it.compile()
    start = time.perf_counter()
    it.step()  # first iteration: compile / cuDNN autotuning / allocator, reported apart
    first = time.perf_counter() - start
    # compiled: the first few steps still compile / recompile (grad mode, frozen D) and tune
    warmup = cfg["warmup"] - 1 + (3 if compiled else 0)
    seconds = sorted(time_iterations(it, cfg["iters"], warmup=warmup))
    median = seconds[len(seconds) // 2]
    flops = results.get("flops", {}).get("gan_iter_tflop")
    peak = results.get("gemm", {}).get("bf16_tflops")
    achieved = None if flops is None else flops / median
    return {
        "iters_per_s": round(1.0 / median, 3),
        "s_per_iter": round(median, 4),
        "first_iter_s": round(first, 2),
        "tflops": _sig(achieved),
        "fraction_of_bf16_gemm_peak": None if not (achieved and peak) else _sig(achieved / peak,
                                                                                3),
        "peak_memory_gib": _peak_memory_gib(device),
    }


def fad_section(device: str, cfg: dict) -> dict:
    from bench.gpu_fad import fad_wall_time

    warm = None if device.startswith("cuda") else 0  # CPU: HiFi-GAN costs seconds a clip
    return fad_wall_time(device, cfg["fad_per_class"], cfg["fad_width"],
                         num_classes=cfg["fad_classes"], warmup_clips=warm)


def ddp_section(device: str, cfg: dict) -> dict:
    if not device.startswith("cuda") or torch.cuda.device_count() < 2:
        return {"skipped": f"needs 2 GPUs, found {torch.cuda.device_count()}"}
    from bench.gpu_ddp import ddp_iteration

    return ddp_iteration(2, "nccl", width=cfg["width"], batch=cfg["batch"],
                         mel_shape=cfg["mel_shape"], iters=5, warmup=2,
                         autocast_dtype=torch.bfloat16)


def run_section(name: str, device: str, cfg: dict, results: dict, compile_ok: bool) -> dict:
    t0 = time.perf_counter()
    try:
        if name.startswith("gan_"):
            out = gan_section(device, cfg, name[4:], results, compile_ok)
        else:
            out = {"gemm": gemm_section, "flops": flops_section, "fad": fad_section,
                   "ddp": ddp_section}[name](device, cfg)
    except Exception as err:  # one failing figure must not cost the others
        out = {"error": f"{type(err).__name__}: {err}"[:2000],
               "trace": traceback.format_exc()[-4000:]}
    out["section_s"] = round(time.perf_counter() - t0, 2)
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return out


def _cell(section: dict, key: str, unit: str = "") -> str:
    if "error" in section:
        return "error: " + section["error"].splitlines()[0][:80]
    if "skipped" in section:
        return "skipped: " + section["skipped"][:80]
    value = section.get(key)
    return "n/a" if value is None else f"{value}{unit}"


def table(results: dict) -> str:
    """The figures as a Markdown table."""
    m, cfg = results["machine"], results["config"]
    rows = [("machine", f"{m['device_name']} ({m['device']}, torch {m['torch']})"),
            ("reduced", f"{m['reduced']} (width {cfg['width']}, batch {cfg['batch']}, "
                        f"mel {tuple(cfg['mel_shape'])})"),
            ("bf16 GEMM peak", _cell(results["gemm"], "bf16_tflops", " TFLOP/s")),
            ("fp32 GEMM peak", _cell(results["gemm"], "fp32_tflops", " TFLOP/s")),
            ("GAN iteration (D + G)", _cell(results["flops"], "gan_iter_tflop", " TFLOP"))]
    for name, section in results["gan"].items():
        if "error" in section or "skipped" in section:
            rows.append((f"GAN {name}", _cell(section, "")))
            continue
        rows.append((f"GAN {name}",
                     f"{section['iters_per_s']} it/s, {section['tflops']} TFLOP/s = "
                     f"{section['fraction_of_bf16_gemm_peak']} of bf16 peak, peak memory "
                     f"{section['peak_memory_gib']} GiB, first iteration "
                     f"{section['first_iter_s']} s"))
    fad = results["fad"]
    rows.append(("FAD callback", _cell(fad, "wall_s", " s") if "wall_s" not in fad else
                 f"{fad['wall_s']} s for {fad['clips']} clips (generate + vocode "
                 f"{fad['generate_vocode_s']} s, embed {fad['embed_update_s']} s, statistics "
                 f"{fad['compute_s']} s)"))
    rows.append(("synthesis (G + HiFi-GAN V1)", _cell(results["synthesis"], "clips_per_s",
                                                      " clips/s")))
    ddp = results["ddp"]
    rows.append(("DDP 2 GPUs", _cell(ddp, "") if "s_per_iter" not in ddp else
                 f"{ddp['iters_per_s']} it/s, {ddp['samples_per_s']} samples/s ({ddp['config']})"))
    rows.append(("wall time", f"{results['wall_s']} s"))
    lines = ["| figure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines) + "\n"


def _write(results: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(results, indent=2) + "\n")


ORDER = ("gemm", "flops", "gan_fp32", "gan_bf16", "gan_bf16_channels_last", "fad", "ddp",
         "gan_bf16_compile")  # compile last: the one most likely to be slow


def gpu_check(out: Path, reduced: bool | None = None, compile_on_cpu: bool = False) -> dict:
    """Run every section, rewriting `out` after each; returns the results."""
    start = time.perf_counter()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    reduced = device == "cpu" if reduced is None else reduced
    cfg = dict(REDUCED if reduced else FULL)
    if device == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its kernels
    results: dict = {"machine": _machine(device, reduced), "device": device, "reduced": reduced,
                     "config": {**cfg, "mel_shape": list(cfg["mel_shape"])},
                     "gemm": {}, "flops": {}, "gan": {}, "fad": {}, "synthesis": {}, "ddp": {},
                     "wall_s": None}
    compile_ok = not reduced or compile_on_cpu or device == "cuda"
    for name in ORDER:
        section = run_section(name, device, cfg, results, compile_ok)
        if name.startswith("gan_"):
            results["gan"][name[4:]] = section
        else:
            results[name] = section
        if name == "fad":
            results["synthesis"] = (
                {"clips_per_s": section["synthesis_clips_per_s"], "clips": section["clips"],
                 "parts": section["parts"]} if "synthesis_clips_per_s" in section else
                {k: v for k, v in section.items() if k in ("error", "trace")})
        results["wall_s"] = round(time.perf_counter() - start, 1)
        _write(results, out)
        print(f"[gpu-check] {name}: {json.dumps(section)[:300]}", file=sys.stderr, flush=True)
    results["gan"] = {k: results["gan"][k] for k in VARIANTS}  # table order
    _write(results, out)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="bench/gpu.json")
    parser.add_argument("--table", default="bench/gpu.md", help="the Markdown table ('' = none)")
    parser.add_argument("--reduced", action="store_true", help="tiny sizes even on a GPU")
    parser.add_argument("--compile", action="store_true", help="include compile on a CPU run")
    args = parser.parse_args(argv)
    results = gpu_check(Path(args.out), reduced=True if args.reduced else None,
                        compile_on_cpu=args.compile)
    text = table(results)
    if args.table:
        with atomic_path(args.table) as tmp:
            tmp.write_text(text)
    print(text)
    print(f"[gpu-check] wrote {Path(args.out).resolve()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
