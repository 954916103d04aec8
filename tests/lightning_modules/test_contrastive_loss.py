"""2C / C-SupCon loss: parity with a direct loop over eq. 2-5, gradcheck, label invariances."""

from __future__ import annotations

import math

import pytest
import torch

from lightning_modules.losses.contrastive import conditional_contrastive_loss


def _unit(x: torch.Tensor) -> list[list[float]]:
    rows = []
    for row in x.tolist():
        norm = math.sqrt(sum(v * v for v in row))
        rows.append([v / norm for v in row])
    return rows


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _loop_loss(embed, proxy, labels, source, tau_d, tau_c, use_labels) -> float:
    """Element by element: l_i = -log(P_i / (d2c_i [+ d2s_i] + sum_{k != i} d2d_{i,k}))."""
    d, e = _unit(embed), _unit(proxy)
    s = _unit(source) if source is not None else None
    y = labels.tolist()
    n = len(d)
    total = 0.0
    for i in range(n):
        pos = math.exp(_dot(d[i], e[i]) / tau_c)
        if s is not None:
            pos += math.exp(_dot(d[i], s[i]) / tau_c)
        neg = sum(math.exp(_dot(d[i], d[k]) / tau_d) for k in range(n) if k != i)
        num = pos
        if use_labels:
            num += sum(
                math.exp(_dot(d[i], d[k]) / tau_d) for k in range(n) if k != i and y[k] == y[i]
            )
        total += -math.log(num / (pos + neg))
    return total / n


def _inputs(n: int = 6, dim: int = 5, with_source: bool = False):
    g = torch.Generator().manual_seed(1)
    embed = torch.randn(n, dim, generator=g, dtype=torch.float64)
    table = torch.randn(3, dim, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 0, 2, 1, 0][:n])
    proxy = table[labels]
    source = torch.randn(n, dim, generator=g, dtype=torch.float64) if with_source else None
    return embed, proxy, labels, source


@pytest.mark.parametrize("with_source", [False, True], ids=["2c", "csupcon"])
@pytest.mark.parametrize("use_labels", [False, True], ids=["no_labels", "labels"])
@pytest.mark.parametrize("taus", [(0.1, 1.0), (0.1, 0.1), (0.5, 0.3)])
def test_matches_direct_loop(with_source: bool, use_labels: bool, taus) -> None:
    embed, proxy, labels, source = _inputs(with_source=with_source)
    tau_d, tau_c = taus
    got = conditional_contrastive_loss(embed, proxy, labels, source, tau_d, tau_c, use_labels)
    want = _loop_loss(embed, proxy, labels, source, tau_d, tau_c, use_labels)
    assert got.dtype == torch.float64
    assert got.item() == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("with_source", [False, True])
@pytest.mark.parametrize("use_labels", [False, True])
def test_gradcheck(with_source: bool, use_labels: bool) -> None:
    embed, proxy, labels, source = _inputs(n=4, dim=3, with_source=with_source)
    args = [embed.requires_grad_(), proxy.requires_grad_()]
    if source is not None:
        args.append(source.requires_grad_())

    def fn(*xs):
        src = xs[2] if len(xs) > 2 else None
        return conditional_contrastive_loss(xs[0], xs[1], labels, src, 0.1, 1.0, use_labels)

    assert torch.autograd.gradcheck(fn, tuple(args))


def test_labels_only_enter_through_proxy_without_use_labels() -> None:
    embed, proxy, labels, source = _inputs(with_source=True)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    base = conditional_contrastive_loss(embed, proxy, labels, source)
    permuted = conditional_contrastive_loss(embed, proxy, labels[perm], source)
    assert permuted.item() == pytest.approx(base.item(), rel=1e-6)
    with_lab = conditional_contrastive_loss(embed, proxy, labels, source, use_labels=True)
    with_perm = conditional_contrastive_loss(embed, proxy, labels[perm], source, use_labels=True)
    assert abs(with_lab.item() - with_perm.item()) > 1e-3


def test_labels_lower_the_loss() -> None:
    embed, proxy, labels, _ = _inputs()
    plain = conditional_contrastive_loss(embed, proxy, labels)
    labelled = conditional_contrastive_loss(embed, proxy, labels, use_labels=True)
    assert labelled.item() < plain.item()


def test_single_sample_has_no_negatives() -> None:
    embed, proxy, labels, source = _inputs(n=1, with_source=True)
    for use_labels in (False, True):
        loss = conditional_contrastive_loss(embed, proxy, labels, source, use_labels=use_labels)
        assert torch.isfinite(loss) and loss.item() == pytest.approx(0.0, abs=1e-7)


def test_bf16_and_scale_invariance() -> None:
    embed, proxy, labels, _ = _inputs()
    ref = conditional_contrastive_loss(embed, proxy, labels)
    big = conditional_contrastive_loss(
        (embed * 1e3).bfloat16(), proxy.bfloat16(), labels, tau_d=0.01
    )
    assert big.dtype == torch.float32 and torch.isfinite(big)
    scaled = conditional_contrastive_loss(embed * 7.0, proxy * 0.1, labels)
    assert scaled.item() == pytest.approx(ref.item(), rel=1e-5)


def test_near_maximum_when_all_embeddings_agree() -> None:
    # identical embeddings, orthogonal proxies: l_i = log(1 + (N-1) e^{1/tau_d}) (FACTS ~12 at 16)
    n = 16
    embed = torch.ones(n, 4)
    proxy = torch.tensor([[1.0, -1.0, 1.0, -1.0]]).repeat(n, 1)
    loss = conditional_contrastive_loss(embed, proxy, torch.zeros(n, dtype=torch.long))
    assert loss.item() == pytest.approx(math.log(1 + (n - 1) * math.exp(10.0)), rel=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"embed": torch.randn(4)}, r"embed must be \[N, D\]"),
        ({"proxy": torch.randn(4, 3)}, "proxy must match embed"),
        ({"labels": torch.zeros(3, dtype=torch.long)}, r"labels must be \[N\]"),
        ({"source": torch.randn(4, 2)}, "source must match embed"),
        ({"tau_d": 0.0}, "temperatures must be > 0"),
    ],
)
def test_errors(kwargs: dict, match: str) -> None:
    args = {
        "embed": torch.randn(4, 5),
        "proxy": torch.randn(4, 5),
        "labels": torch.zeros(4, dtype=torch.long),
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        conditional_contrastive_loss(**args)
