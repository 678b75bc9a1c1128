"""PyTorch runner: the benchmark's models written as a PyTorch user would, trained on the CPU.

Run by bench_engine.py in its own process (``python bench/peers/torch_peer.py --out r.json``);
never imported by numkeras or its tests. Same batch sizes, Adam with Keras's defaults
(lr 1e-3, eps 1e-7), a shuffled plain loop over in-memory tensors (no DataLoader), and
``torch.set_num_threads`` at the number of cores.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common  # noqa: E402

torch: Any = None
nn: Any = None
F: Any = None


class TorchRunner:
    name = "torch"

    def load(self) -> str:
        global torch, nn, F
        import torch as _torch

        torch, nn, F = _torch, _torch.nn, _torch.nn.functional
        torch.set_num_threads(common.core_count())
        return torch.__version__

    def info(self) -> dict[str, Any]:
        return {"num_threads": torch.get_num_threads(),
                "interop_threads": torch.get_num_interop_threads()}

    def build(self, name: str) -> Any:
        torch.manual_seed(0)
        if name == "tiny":
            net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                                nn.Linear(64, 1))
        elif name == "mlp":
            # softmax is folded into the loss, as a PyTorch user writes it.
            net = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                                nn.Linear(256, 10))
        elif name == "cnn":
            net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                                nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
        elif name == "lstm":
            net = _lstm_regressor()
        else:
            raise ValueError(f"unknown model {name!r}")
        net.spec = common.SPECS[name]
        net.opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
        return net

    def _tensors(self, net: Any, x: np.ndarray, y: np.ndarray | None = None) -> tuple:
        if net.spec.name == "cnn":  # PyTorch convolutions are channels first
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        tx = torch.from_numpy(x)
        return tx, None if y is None else torch.from_numpy(y)

    def _loss(self, net: Any, out: Any, ty: Any) -> Any:
        if net.spec.loss == "mse":
            return F.mse_loss(out, ty)
        return F.cross_entropy(out, ty)  # probability targets (one-hot)

    def fit_epoch(self, net: Any, x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
        tx, ty = self._tensors(net, x, y)
        net.train()
        order = torch.randperm(len(tx))
        for start in range(0, len(tx), batch_size):
            idx = order[start:start + batch_size]
            net.opt.zero_grad(set_to_none=True)
            loss = self._loss(net, net(tx[idx]), ty[idx])
            loss.backward()
            net.opt.step()

    def evaluate(self, net: Any, x: np.ndarray, y: np.ndarray, batch_size: int) -> float:
        tx, ty = self._tensors(net, x, y)
        net.eval()
        total = 0.0
        with torch.inference_mode():
            for start in range(0, len(tx), batch_size):
                xb, yb = tx[start:start + batch_size], ty[start:start + batch_size]
                total += float(self._loss(net, net(xb), yb)) * len(xb)
        return total / len(tx)

    def predict(self, net: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
        tx, _ = self._tensors(net, x)
        net.eval()
        outs = []
        with torch.inference_mode():
            for start in range(0, len(tx), batch_size):
                out = net(tx[start:start + batch_size])
                outs.append(torch.softmax(out, dim=1) if net.spec.loss != "mse" else out)
        return torch.cat(outs).numpy()


def _lstm_regressor() -> Any:
    # Defined on first use: torch is imported by load(), not at module import.
    class LSTMRegressor(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(32, 64, batch_first=True)
            self.head = nn.Linear(64, 1)

        def forward(self, x: Any) -> Any:
            out, _ = self.lstm(x)
            return self.head(out[:, -1])

    return LSTMRegressor()


if __name__ == "__main__":
    common.run_child(TorchRunner())
