"""Early-exit evaluation (with quantized transfer) and threshold calibration."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .data import to_input
from .nets import EarlyExitNet
from .quantize import quantize, dequantize


@dataclass
class ExitRun:
    logits: list[np.ndarray]  # per exit, [N, classes]
    conf: list[np.ndarray]  # per exit, max softmax (float64, see confidence)
    h: list[np.ndarray]  # float activations leaving segments 1 and 2
    q: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # their (q, lo, scale)
    h_in: list[np.ndarray]  # dequantised activations entering segments 2 and 3


def confidence(logits: np.ndarray) -> np.ndarray:
    """max softmax in float64: 1 / sum_j exp(z_j - max z) (float32 softmax saturates at exactly 1.0)."""
    z = logits.astype(np.float64)
    return 1.0 / np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)


@torch.no_grad()
def run_exits(net: EarlyExitNet, x: np.ndarray, batch: int = 1000) -> ExitRun:
    parts: list[ExitRun] = []
    for i in range(0, len(x), batch):
        h = to_input(x[i : i + batch])
        logits, hs, qs, h_ins = [], [], [], []
        for si, seg in enumerate(net.segments):
            out, z = seg(h)
            logits.append(z.numpy())
            if si < len(net.segments) - 1:
                a = out.numpy()
                q = quantize(a)
                deq = dequantize(*q, tuple(a.shape[1:]))
                hs.append(a)
                qs.append(q)
                h_ins.append(deq)
                h = torch.from_numpy(deq)
        conf = [confidence(z) for z in logits]
        parts.append(ExitRun(logits, conf, hs, qs, h_ins))
    cat = lambda xs: np.concatenate(xs)  # noqa: E731
    n_exit = len(parts[0].logits)
    n_h = len(parts[0].h)
    return ExitRun(
        logits=[cat([p.logits[i] for p in parts]) for i in range(n_exit)],
        conf=[cat([p.conf[i] for p in parts]) for i in range(n_exit)],
        h=[cat([p.h[i] for p in parts]) for i in range(n_h)],
        q=[tuple(cat([p.q[i][j] for p in parts]) for j in range(3)) for i in range(n_h)],  # type: ignore[misc]
        h_in=[cat([p.h_in[i] for p in parts]) for i in range(n_h)],
    )


@dataclass
class Policy:
    thresholds: list[float]  # alpha_1..alpha_{S-1}; the last exit always answers
    seg_mmacs: list[float]
    lam: float
    offload: float

    def cloud_only_cost(self) -> float:
        """The requester offloads its input once; the cloud tier runs every segment."""
        return self.offload + self.lam * sum(self.seg_mmacs)

    def apply(self, run: ExitRun) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """-> (exit index per sample, prediction, cost per sample)."""
        n = len(run.conf[0])
        s = len(run.logits)
        exit_at = np.full(n, s - 1)
        undecided = np.ones(n, dtype=bool)
        for i, a in enumerate(self.thresholds):
            take = undecided & (run.conf[i] >= a)
            exit_at[take] = i
            undecided &= ~take
        pred = np.choose(exit_at, [z.argmax(1) for z in run.logits])
        cost = np.full(n, self.lam * self.seg_mmacs[0])
        for i in range(1, s):
            cost = cost + (exit_at >= i) * (self.offload + self.lam * self.seg_mmacs[i])
        return exit_at, pred, cost


def calibrate(run: ExitRun, y: np.ndarray, seg_mmacs: list[float], lam: float, offload: float, max_drop_pt: float,
              z: float = 0.0, grid: int = 400) -> tuple[Policy, dict]:
    """Grid search over (alpha_1, alpha_2) from the confidence quantiles of the validation split:
    minimise expected cost subject to an upper confidence bound on the accuracy drop versus the final exit,
    mean(d) + z * sd(d) / sqrt(n) <= max_drop_pt, where d_i = correct_final_i - correct_policy_i
    (z = 0: the plain validation drop)."""
    assert len(run.logits) == 3
    correct = [(z_.argmax(1) == y) for z_ in run.logits]
    n = len(y)
    final_acc = correct[2].mean() * 100.0

    def cands(c: np.ndarray) -> np.ndarray:
        qs = np.quantile(c, np.linspace(0.0, 1.0, grid + 1))
        return np.unique(np.concatenate([qs, [1.01]]))  # 1.01: never exit here

    c1s, c2s = cands(run.conf[0]), cands(run.conf[1])
    best = None
    m1, m2, m3 = seg_mmacs
    for a1 in c1s:
        e1 = run.conf[0] >= a1
        rest = ~e1
        # for every alpha_2 at once: [len(c2s), N]
        e2 = rest[None, :] & (run.conf[1][None, :] >= c2s[:, None])
        e3 = rest[None, :] & ~e2
        ok_pred = (e1[None, :] & correct[0][None, :]) | (e2 & correct[1][None, :]) | (e3 & correct[2][None, :])
        acc = ok_pred.mean(1) * 100.0
        d_plus = (correct[2][None, :] & ~ok_pred).mean(1)
        d_minus = (~correct[2][None, :] & ok_pred).mean(1)
        mean_d = d_plus - d_minus
        sd = np.sqrt(np.maximum(d_plus + d_minus - mean_d**2, 0.0) * n / max(n - 1, 1))
        ucb = (mean_d + z * sd / np.sqrt(n)) * 100.0
        cost = lam * m1 + rest.mean() * (offload + lam * m2) + e3.mean(1) * (offload + lam * m3)
        ok = ucb <= max_drop_pt + 1e-9
        if not ok.any():
            continue
        idx = np.flatnonzero(ok)
        j = idx[np.lexsort((-acc[idx], cost[idx]))[0]]
        cand = (float(cost[j]), -float(acc[j]), float(a1), float(c2s[j]), float(ucb[j]))
        if best is None or cand < best:
            best = cand
    assert best is not None
    policy = Policy([best[2], best[3]], seg_mmacs, lam, offload)
    return policy, {"validationFinalAccuracy": float(final_acc), "validationDropUpperBoundPt": best[4]}
