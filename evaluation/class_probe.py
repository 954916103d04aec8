"""Class recognisability of generated mels: the frozen encoder's probe on a generator's output.

For each class c, `n_per_class` mels are generated with label c (seeded noise) and classified by
the frozen SupCon encoder E (cosine to its stored class centroids). The result is a confusion
matrix [C, C] (rows = intended class, columns = E's prediction); `encoders.probe.accuracies`
turns it into the per-class figures. Chance level is 1 / C. `ProbeCallback` runs the same probe
on the validation batches' labels during training.
This is the "does G draw the class it was asked for" check; it says nothing about quality or
diversity (FAD and the diversity figures do).
"""

from __future__ import annotations

import torch
from torch import nn

from encoders.probe import confusion_counts
from evaluation.synthesis import module_device


def _check_pair(generator: nn.Module, encoder: nn.Module) -> list[str]:
    names = list(getattr(generator, "class_names", []))
    enc_names = list(getattr(encoder, "class_names", []))
    if names != enc_names:
        raise ValueError(
            f"the generator draws classes {names} but the encoder's probe knows {enc_names}: "
            "its predictions would be mislabelled; use an encoder pretrained on the same dataset"
        )
    n_mels = getattr(getattr(encoder, "mel_params", None), "n_mels", None)
    if n_mels is not None and int(generator.mel_shape[0]) != int(n_mels):
        raise ValueError(
            f"the generator draws {generator.mel_shape[0]}-band mels, the encoder expects "
            f"{n_mels} bands; pair a generator and an encoder trained on the same mel config"
        )
    return names


@torch.no_grad()
def probe_confusion(
    generator: nn.Module,
    encoder: nn.Module,
    n_per_class: int = 100,
    batch_size: int = 64,
    seed: int = 0,
) -> torch.Tensor:
    """-> confusion [C, C] long: row = label G was given, column = E.classify's argmax.

    `generator.generate(labels, z)` -> log-mel [B, n_mels, T] (a GeneratorForSynthesis);
    `encoder.classify(mel)` -> [B, C] logits (a FrozenEncoder). Deterministic for a seed.
    """
    if n_per_class < 1 or batch_size < 1:
        raise ValueError(f"need n_per_class >= 1 and batch_size >= 1, got {n_per_class}, "
                         f"{batch_size}")
    num_classes = len(_check_pair(generator, encoder))
    labels = torch.arange(num_classes).repeat_interleave(n_per_class)
    noise = torch.Generator(device="cpu").manual_seed(seed)
    z = torch.randn(labels.shape[0], generator.z_dim, generator=noise)
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    device = module_device(encoder)
    for start in range(0, labels.shape[0], batch_size):
        chunk = labels[start:start + batch_size]
        mel = generator.generate(chunk, z[start:start + batch_size])
        predicted = encoder.classify(mel.to(device)).argmax(dim=1)
        confusion += confusion_counts(chunk, predicted.cpu(), num_classes)
    return confusion
