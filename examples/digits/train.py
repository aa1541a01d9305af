"""Trains DigitsCNN on the digits train split and writes weights.safetensors.

    python -m examples.digits.train    # ~20 s on 2 CPU cores; deterministic
"""

from __future__ import annotations

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from examples.digits.data import load_split
from examples.digits.model import WEIGHTS, DigitsCNN

EPOCHS = 40
BATCH = 64


def train() -> float:
    torch.manual_seed(0)
    split = load_split()
    x_tr, y_tr = (torch.from_numpy(a) for a in split["train"])
    x_te, y_te = (torch.from_numpy(a) for a in split["test"])
    model = DigitsCNN()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    loss_fn = nn.CrossEntropyLoss()
    for _epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(len(x_tr))
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            opt.zero_grad()
            loss_fn(model(x_tr[idx]), y_tr[idx]).backward()
            opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        accuracy = float((model(x_te).argmax(1) == y_te).float().mean()) * 100
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(WEIGHTS))
    return accuracy


if __name__ == "__main__":
    acc = train()
    print(f"test accuracy {acc:.2f}% ({np.round(acc, 2)}); weights written to {WEIGHTS}")
