"""ClassEmbeddings: per-class KAD / PRDC equal the pure functions; 2 ranks equal 1 rank over the
union (also with a rank that holds no rows)."""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist

from conftest import run_gloo_ranks
from evaluation.embedding_metric import (
    ClassEmbeddings,
    embed_clips,
    validation_metrics,
)
from evaluation.kad import kernel_audio_distance
from evaluation.prdc import PRDC_NAMES, prdc

NAMES = ["A", "B", "C"]
DIM = 5


def _rows(seed: int, n: int, shift: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """n rows [n, DIM] float32 with labels cycling over the classes, class c centred at c."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % len(NAMES)
    emb = torch.randn(n, DIM, generator=g) + labels[:, None].float() + shift
    return emb, labels


def _store(metrics=("kad", "prdc"), k: int = 3) -> ClassEmbeddings:
    store = ClassEmbeddings(NAMES, DIM, metrics=metrics, k=k)
    store.set_reference(*_rows(99, 60))
    return store


def _direct(gen: torch.Tensor, gen_labels: torch.Tensor, k: int = 3) -> dict[str, float]:
    """What the metric must log, from the pure functions on each class's rows."""
    ref, ref_labels = _rows(99, 60)
    out: dict[str, float] = {}
    present = [c for c in range(len(NAMES)) if bool((gen_labels == c).any())]
    kad = {c: kernel_audio_distance(gen[gen_labels == c], ref[ref_labels == c]) for c in present}
    scores = {c: prdc(ref[ref_labels == c], gen[gen_labels == c], k=k) for c in present}
    out |= {f"kad/{NAMES[c]}": kad[c] for c in present}
    out["kad/mean"] = sum(kad.values()) / len(present)
    for name in PRDC_NAMES:
        out |= {f"prdc/{name}/{NAMES[c]}": scores[c][name] for c in present}
        out[f"prdc/{name}/mean"] = sum(scores[c][name] for c in present) / len(present)
    return out


def _values(store: ClassEmbeddings) -> dict[str, float]:
    return {key: float(value) for key, value in store.compute().items()}


def test_validation_metrics_parse_and_reject() -> None:
    assert validation_metrics(["prdc", "FAD"]) == ("fad", "prdc")
    assert validation_metrics("kad, fad") == ("fad", "kad")
    with pytest.raises(ValueError, match=r"choose from \['fad', 'kad', 'prdc'\]"):
        validation_metrics(["fad", "fid"])
    with pytest.raises(ValueError, match="foleygan fad --metrics"):
        validation_metrics(["fad_inf"])
    with pytest.raises(ValueError, match="choose from"):
        validation_metrics([])
    with pytest.raises(ValueError, match="k .* >= 1"):
        validation_metrics(["prdc"], k=0)


def test_values_equal_the_pure_functions_per_class() -> None:
    store = _store()
    gen, labels = _rows(1, 45, shift=0.3)
    store.update(gen[:20], labels[:20])
    store.update(gen[20:].double(), labels[20:])
    values = _values(store)
    expected = _direct(gen, labels)
    assert list(values) == list(expected)  # kad/<classes>, kad/mean, prdc/<name>/<classes>, ...
    for key, value in expected.items():
        assert values[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
    assert values["kad/B"] > 1.0  # shifted by 0.3: clearly above 0
    assert 0.0 < values["prdc/coverage/mean"] <= 1.0


def test_reset_keeps_reference_and_identical_sets_give_prdc_one() -> None:
    store = _store()
    store.update(torch.zeros(4, DIM) + 50.0, torch.zeros(4, dtype=torch.long))
    assert _values(store)["prdc/precision/A"] == 0.0  # far away: outside every real ball
    store.reset()
    ref, ref_labels = _rows(99, 60)
    store.update(ref, ref_labels)  # the reference itself
    values = _values(store)
    for name in ("precision", "recall", "coverage"):
        assert values[f"prdc/{name}/mean"] == 1.0


def test_only_classes_with_rows_and_one_metric() -> None:
    store = _store(metrics=("kad",))
    gen, labels = _rows(2, 30)
    keep = labels != 1
    store.update(gen[keep], labels[keep])
    values = _values(store)
    assert set(values) == {"kad/A", "kad/C", "kad/mean"}
    assert values["kad/mean"] == pytest.approx((values["kad/A"] + values["kad/C"]) / 2)


def test_clear_errors() -> None:
    store = _store(k=3)
    store.update(*_rows(3, 6))  # 2 rows per class: PRDC with k=3 needs 4
    with pytest.raises(ValueError, match="class A has 2 generated .* n_per_class"):
        store.compute()
    short = ClassEmbeddings(NAMES, DIM, metrics=("prdc",), k=5)
    ref, ref_labels = _rows(4, 15)  # 5 rows per class, k=5 needs 6
    with pytest.raises(ValueError, match=r"\{'A': 5, 'B': 5, 'C': 5\} of refdir"):
        short.set_reference(ref, ref_labels, where="refdir")
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        store.update(torch.zeros(2, DIM), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"rows \[M, 5\]"):
        store.update(torch.zeros(2, DIM + 1), torch.tensor([0, 1]))
    no_reference = ClassEmbeddings(NAMES, DIM)
    no_reference.update(torch.zeros(1, DIM), torch.tensor([0]))
    with pytest.raises(ValueError, match="set_reference"):
        no_reference.compute()


def test_embed_clips_repeats_labels_per_row() -> None:
    class TwoRows(torch.nn.Module):
        num_features = 2

        def embed(self, wav: torch.Tensor) -> torch.Tensor:
            # wav [B, N] -> [B * 2, 2]
            halves = wav.reshape(wav.shape[0] * 2, -1)
            return torch.stack([halves.mean(1), halves.amax(1)], dim=1)

    wav = torch.arange(12.0).reshape(3, 4)
    emb, labels = embed_clips(TwoRows(), wav, torch.tensor([2, 0, 1]))
    assert emb.dtype == torch.float64 and emb.shape == (6, 2)
    assert labels.tolist() == [2, 2, 0, 0, 1, 1]
    assert emb[2].tolist() == [4.5, 5.0]
    with pytest.raises(ValueError, match=r"wav \[B, N\] and labels \[B\]"):
        embed_clips(TwoRows(), wav, torch.tensor([0, 1]))


# (rows of rank 0, rows of rank 1): uneven, then rank 1 empty
SPLITS = ((slice(0, 17), slice(17, None)), (slice(0, None), slice(0, 0)))


def _worker(rank: int, world: int, port: int, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        gen, labels = _rows(5, 40, shift=0.2)
        out = []
        for split in SPLITS:
            store = _store()
            for _ in range(2):  # a second round after reset syncs again
                if split[rank] != slice(0, 0):  # the empty rank never calls update
                    store.update(gen[split[rank]], labels[split[rank]])
                out.append(_values(store))
                store.reset()
        queue.put((rank, out))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two spawned interpreters importing torch: ~30 s on 2 shared cores
def test_two_ranks_equal_one_rank_over_the_union() -> None:
    results = run_gloo_ranks(_worker, world=2, timeout=180)
    assert results[0] == results[1]  # every rank logs the very same numbers
    single = _store()
    single.update(*_rows(5, 40, shift=0.2))
    expected = _values(single)
    assert expected == pytest.approx(_direct(*_rows(5, 40, shift=0.2)), rel=1e-12, abs=1e-12)
    for values in results[0]:
        assert values.keys() == expected.keys()
        for key, value in expected.items():
            assert values[key] == pytest.approx(value, rel=1e-10, abs=1e-12), key
