"""`make gpu-check` (bench/gpu_check.py): the reduced CPU run end to end, the guarded sections,
and the two-process DDP iteration on gloo."""

from __future__ import annotations

import json

import pytest
import torch

from bench import gpu_check

GAN_KEYS = {"iters_per_s", "s_per_iter", "first_iter_s", "tflops", "fraction_of_bf16_gemm_peak",
            "peak_memory_gib", "section_s"}
TOP_KEYS = {"machine", "device", "reduced", "config", "gemm", "flops", "gan", "fad", "synthesis",
            "ddp", "wall_s"}


def _fake_sections(monkeypatch, failing: str) -> None:
    """Cheap stand-ins for the measuring functions; `failing` raises."""
    def gan(device, cfg, variant, results, compile_ok):
        if variant == failing:
            raise RuntimeError(f"{variant} broke")
        return {"iters_per_s": 2.0, "s_per_iter": 0.5, "first_iter_s": 1.0, "tflops": 0.1,
                "fraction_of_bf16_gemm_peak": 0.5, "peak_memory_gib": None}

    def boom(device, cfg):
        raise ValueError("no GEMM today")

    monkeypatch.setattr(gpu_check, "gan_section", gan)
    monkeypatch.setattr(gpu_check, "gemm_section", boom)
    monkeypatch.setattr(gpu_check, "flops_section", lambda d, c: {"gan_iter_tflop": 0.05})
    monkeypatch.setattr(gpu_check, "fad_section", lambda d, c: {
        "wall_s": 3.0, "clips": 2, "generate_vocode_s": 2.0, "embed_update_s": 0.5,
        "compute_s": 0.5, "synthesis_clips_per_s": 1.0, "parts": "fake"})


def test_a_failing_section_is_recorded_and_the_rest_run(monkeypatch, tmp_path) -> None:
    _fake_sections(monkeypatch, failing="bf16_compile")
    out = tmp_path / "gpu.json"
    results = gpu_check.gpu_check(out)
    saved = json.loads(out.read_text())
    assert saved.keys() >= TOP_KEYS and saved["device"] == "cpu" and saved["reduced"] is True
    assert "ValueError: no GEMM today" in saved["gemm"]["error"]
    assert "RuntimeError: bf16_compile broke" in saved["gan"]["bf16_compile"]["error"]
    assert saved["gan"]["fp32"]["iters_per_s"] == 2.0  # the others still ran
    assert list(saved["gan"]) == list(gpu_check.VARIANTS)
    assert saved["synthesis"]["clips_per_s"] == 1.0 and saved["ddp"]["skipped"]
    text = gpu_check.table(results)
    assert "error: ValueError: no GEMM today" in text and "2.0 it/s" in text
    assert "skipped: needs 2 GPUs" in text


@pytest.mark.slow
def test_reduced_cpu_run_writes_every_figure(tmp_path) -> None:
    out, md = tmp_path / "gpu.json", tmp_path / "gpu.md"
    assert gpu_check.main(["--out", str(out), "--table", str(md)]) == 0
    results = json.loads(out.read_text())
    assert results.keys() >= TOP_KEYS
    assert results["device"] == "cpu" and results["reduced"] is True
    assert results["machine"]["reduced"] is True
    assert results["gemm"]["bf16_tflops"] > 0 and results["gemm"]["fp32_tflops"] > 0
    assert results["flops"]["gan_iter_tflop"] > 0
    assert list(results["gan"]) == ["fp32", "bf16", "bf16_channels_last", "bf16_compile"]
    for name in ("fp32", "bf16", "bf16_channels_last"):
        section = results["gan"][name]
        assert section.keys() >= GAN_KEYS, (name, section)
        assert section["iters_per_s"] > 0 and 0 < section["fraction_of_bf16_gemm_peak"] < 1
    assert "skipped" in results["gan"]["bf16_compile"]  # compile is not in the reduced CPU run
    fad = results["fad"]
    assert fad["clips"] == 2 and fad["wall_s"] >= fad["generate_vocode_s"] > 0
    assert results["synthesis"]["clips_per_s"] > 0
    assert "skipped" in results["ddp"]
    table = md.read_text()
    for row in ("bf16 GEMM peak", "GAN fp32", "GAN bf16_channels_last", "FAD callback",
                "synthesis", "DDP 2 GPUs"):
        assert row in table


@pytest.mark.slow
def test_ddp_iteration_keeps_two_gloo_ranks_in_step() -> None:
    from bench.gpu_ddp import ddp_iteration

    torch.manual_seed(0)
    out = ddp_iteration(2, "gloo", width=2, batch=2, mel_shape=(16, 32), iters=2, warmup=1)
    assert out["world_size"] == 2 and out["s_per_iter"] > 0
    # different data on each rank, gradients averaged: the weights stay identical
    assert out["max_param_gap_between_ranks"] == 0.0
