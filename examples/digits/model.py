"""DigitsCNN: a small BatchNorm CNN for 8×8 digit images (1×8×8, values scaled to [0, 1])."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

WEIGHTS = Path(__file__).with_name("weights.safetensors")


class DigitsCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Linear(64, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(image), 1))


def create() -> DigitsCNN:
    """The untrained architecture: the factory that `edgekit compile` calls (with --weights)."""
    return DigitsCNN()


def pretrained() -> DigitsCNN:
    """The architecture with the committed trained weights loaded."""
    from safetensors.torch import load_file

    model = DigitsCNN()
    model.load_state_dict(load_file(str(WEIGHTS)))
    return model.eval()


class QuantizationHostileDigits(nn.Module):
    """The trained DigitsCNN with one feature channel blown up ~1000x before the classifier.

    In float it computes exactly what DigitsCNN does (the classifier scales that channel
    back down). Per-tensor int8 activations give the wide channel the whole range, so
    the other 63 features, which carry the decision, quantize to almost nothing.
    """

    def __init__(self, base: DigitsCNN) -> None:
        super().__init__()
        self.features = base.features
        self.spread = nn.Linear(64, 64)
        self.classifier = nn.Linear(64, 10)
        with torch.no_grad():
            self.spread.weight.copy_(torch.eye(64))
            self.spread.bias.zero_()
            self.spread.weight[0] *= 1000.0
            self.spread.bias[0] = 500.0
            self.classifier.weight.copy_(base.classifier.weight)
            self.classifier.weight[:, 0] /= 1000.0
            self.classifier.bias.copy_(base.classifier.bias - 0.5 * base.classifier.weight[:, 0])

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.spread(torch.flatten(self.features(image), 1)))


def hostile() -> QuantizationHostileDigits:
    """A quantization-hostile variant of the trained example, for the int8 fallback."""
    return QuantizationHostileDigits(pretrained()).eval()
