"""Small model definitions shaped like the common edge workloads, for tests and benchmarks.

Written here because torchvision does not import beside the CPU torch we use. Each
``make_*`` returns ``(module, example_inputs, dynamic)``: an eval-mode model with
randomly initialised (seeded) weights, example tensors, and ``--dynamic`` strings.
"""

from __future__ import annotations

import torch
from torch import nn


def _seeded(seed: int = 0) -> None:
    torch.manual_seed(seed)


class SmallCNN(nn.Module):
    """Conv + BatchNorm + ReLU blocks, global pooling, a linear head."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(32, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class MLP(nn.Module):
    def __init__(self, features: int = 32, hidden: int = 64, classes: int = 5) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.Tanh(), nn.Linear(hidden, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TransformerEncoder(nn.Module):
    """Token embedding, positional embedding, pre-norm encoder layers (attention, LayerNorm, GELU)."""

    def __init__(self, vocab: int = 100, dim: int = 64, heads: int = 4, layers: int = 2,
                 max_len: int = 128, classes: int = 3) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(1, max_len, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim * 4, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) + self.pos[:, : tokens.shape[1]]
        return self.head(self.norm(self.encoder(x)).mean(1))


class GRUClassifier(nn.Module):
    def __init__(self, features: int = 16, hidden: int = 32, classes: int = 4) -> None:
        super().__init__()
        self.gru = nn.GRU(features, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)
        return self.head(out[:, -1])


class LSTMTagger(nn.Module):
    def __init__(self, features: int = 12, hidden: int = 24, tags: int = 6) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(hidden * 2, tags)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out)


class TwoInTwoOut(nn.Module):
    """An image and a feature vector in; class logits and an embedding out."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.meta_proj = nn.Linear(6, 8)
        self.logits = nn.Linear(16, 7)
        self.embed = nn.Linear(16, 4)

    def forward(self, image: torch.Tensor, meta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.cat([self.conv(image), torch.relu(self.meta_proj(meta))], dim=1)
        return self.logits(h), torch.nn.functional.normalize(self.embed(h), dim=1)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.down is None else self.down(x)
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + identity)


class ResNet18(nn.Module):
    """ResNet-18's layout (2-2-2-2 basic blocks, 64→512 channels), 1000 classes."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        blocks, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.layers(self.stem(x)), 1), 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
                   nn.ReLU6(), nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV2(nn.Module):
    """MobileNetV2's layout (inverted residuals, depthwise convs, ReLU6), 1000 classes."""

    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6()]
        cin = 32
        for expand, cout, repeats, stride in self.SETTINGS:
            for i in range(repeats):
                layers.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expand))
                cin = cout
        layers += [nn.Conv2d(cin, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(1280, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


def _randomise_bn(module: nn.Module) -> nn.Module:
    """Gives BatchNorm layers non-trivial statistics, as trained ones have."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return module.eval()


def make_cnn() -> tuple[nn.Module, tuple[torch.Tensor, ...], list[str]]:
    _seeded()
    return _randomise_bn(SmallCNN()), (torch.randn(2, 3, 32, 32),), ["x:0"]


def make_mlp() -> tuple[nn.Module, tuple[torch.Tensor, ...], list[str]]:
    _seeded()
    return MLP().eval(), (torch.randn(4, 32),), ["x:0"]


def make_transformer() -> tuple[nn.Module, tuple[torch.Tensor, ...], list[str]]:
    _seeded()
    return TransformerEncoder().eval(), (torch.randint(0, 100, (2, 16)),), ["tokens:0", "tokens:1:seq"]


def make_gru() -> tuple[nn.Module, tuple[torch.Tensor, ...], list[str]]:
    _seeded()
    return GRUClassifier().eval(), (torch.randn(2, 10, 16),), ["x:0"]


def make_lstm() -> tuple[nn.Module, tuple[torch.Tensor, ...], list[str]]:
    _seeded()
    return LSTMTagger().eval(), (torch.randn(3, 7, 12),), ["x:0", "x:1:steps"]


def make_two_in_two_out() -> tuple[nn.Module, tuple[torch.Tensor, ...], list[str]]:
    _seeded()
    return TwoInTwoOut().eval(), (torch.randn(2, 1, 12, 12), torch.randn(2, 6)), ["image:0", "meta:0"]


def make_resnet18() -> tuple[nn.Module, tuple[torch.Tensor, ...], list[str]]:
    _seeded()
    return _randomise_bn(ResNet18()), (torch.randn(1, 3, 224, 224),), []


def make_mobilenetv2() -> tuple[nn.Module, tuple[torch.Tensor, ...], list[str]]:
    _seeded()
    return _randomise_bn(MobileNetV2()), (torch.randn(1, 3, 224, 224),), []


SMALL_MODELS = {
    "cnn": make_cnn, "mlp": make_mlp, "transformer": make_transformer, "gru": make_gru,
    "lstm": make_lstm, "two_in_two_out": make_two_in_two_out,
}

