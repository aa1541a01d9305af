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
