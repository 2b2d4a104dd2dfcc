"""Training loops: teacher (with slice dropout), K-student sets (distillation), early-exit backbone."""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .config import TaskConfig
from .data import Dataset, augment, batches, to_input
from .nets import ConvNet, EarlyExitNet


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def slice_sizes(dim: int, k: int) -> list[int]:
    """Equal contiguous partition of `dim` features into k slices (the first dim % k get one more)."""
    base, extra = divmod(dim, k)
    return [base + (1 if i < extra else 0) for i in range(k)]


def slice_bounds(dim: int, k: int) -> list[tuple[int, int]]:
    out, start = [], 0
    for s in slice_sizes(dim, k):
        out.append((start, start + s))
        start += s
    return out


def input_stats(ds: Dataset) -> tuple[float, float]:
    x = ds.train.x.astype(np.float64) / 255.0
    return float(x.mean()), float(x.std())


def _sgd(params, lr: float, steps: int, epochs: int):
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps * epochs, pct_start=0.25)
    return opt, sched


@torch.no_grad()
def predict(fn, x: np.ndarray, batch: int = 1000) -> list[np.ndarray]:
    """Apply fn (returns a tensor or a list of tensors) to uint8 images in batches; concat per output."""
    outs: list[list[np.ndarray]] = []
    for i in range(0, len(x), batch):
        r = fn(to_input(x[i : i + batch]))
        r = [r] if isinstance(r, torch.Tensor) else list(r)
        if not outs:
            outs = [[] for _ in r]
        for o, t in zip(outs, r):
            o.append(t.numpy())
    return [np.concatenate(o) for o in outs]


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float((logits.argmax(1) == y).mean() * 100.0)


def train_teacher(cfg: TaskConfig, ds: Dataset) -> ConvNet:
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    mean, std = input_stats(ds)
    net = ConvNet(cfg.teacher_widths, len(cfg.classes), mean, std).to(memory_format=torch.channels_last)
    dim = net.feature_dim
    # every slice of every K > 1 partition, weighted so that K is uniform and the slice uniform within K
    multi = [k for k in cfg.ks if k > 1]
    slice_masks, slice_weights = [], []
    for k in multi:
        for lo, hi in slice_bounds(dim, k):
            m = torch.zeros(dim, dtype=torch.bool)
            m[lo:hi] = True
            slice_masks.append(m)
            slice_weights.append(1.0 / (len(multi) * k))
    masks = torch.stack(slice_masks) if slice_masks else torch.zeros(0, dim, dtype=torch.bool)
    weights = torch.tensor(slice_weights)
    feat_mean = torch.zeros(dim)
    x_all = to_input(ds.train.x)
    y_all = torch.from_numpy(ds.train.y.astype(np.int64))
    steps = math.ceil(len(x_all) / cfg.batch_size)
    opt, sched = _sgd(net.parameters(), cfg.teacher_lr, steps, cfg.teacher_epochs)
    for epoch in range(cfg.teacher_epochs):
        net.train()
        t0, tot, n = time.time(), 0.0, 0
        for idx in batches(len(x_all), cfg.batch_size, gen):
            x = augment(x_all[idx], gen, cfg.hflip).contiguous(memory_format=torch.channels_last)
            y = y_all[idx]
            f = net.features(x)
            feat_mean.mul_(0.99).add_(0.01 * f.detach().mean(0))
            if cfg.slice_dropout > 0 and len(masks):
                b = f.shape[0]
                drop = torch.rand(b, generator=gen) < cfg.slice_dropout
                pick = torch.multinomial(weights, b, replacement=True, generator=gen)
                mask = masks[pick] & drop[:, None]
                f = torch.where(mask, feat_mean.expand_as(f), f)
            loss = F.cross_entropy(net.head(f), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss) * len(idx)
            n += len(idx)
        net.eval()
        val = accuracy(predict(net, ds.val.x)[0], ds.val.y)
        log(f"teacher epoch {epoch + 1}/{cfg.teacher_epochs} loss {tot / n:.4f} val {val:.2f}% ({time.time() - t0:.0f}s)")
    net.eval()
    return net.to(memory_format=torch.contiguous_format)


def student_views(cfg: TaskConfig, ds: Dataset) -> torch.Tensor:
    """Fixed augmented copies of the training images [V, N, 1, 28, 28]: the original, its mirror image
    when flips are allowed, then random translations (+ flips). Teacher targets are computed once per view,
    so student training needs no teacher pass."""
    gen = torch.Generator().manual_seed(cfg.seed + 50)
    x = to_input(ds.train.x)
    views = [x]
    if cfg.hflip and cfg.student_views > 1:
        views.append(x.flip(-1))
    while len(views) < cfg.student_views:
        views.append(augment(x, gen, cfg.hflip))
    return torch.stack(views)


@torch.no_grad()
def teacher_targets(teacher: ConvNet, views: torch.Tensor, batch: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher features [V, N, D] and logits [V, N, classes] for every view."""
    feats, logits = [], []
    for v in views:
        fs, zs = [], []
        for i in range(0, len(v), batch):
            f = teacher.features(v[i : i + batch])
            fs.append(f)
            zs.append(teacher.head(f))
        feats.append(torch.cat(fs))
        logits.append(torch.cat(zs))
    return torch.stack(feats), torch.stack(logits)


def train_students(
    cfg: TaskConfig, ds: Dataset, teacher: ConvNet, ks: list[int], views: torch.Tensor, feats: torch.Tensor,
    logits: torch.Tensor,
) -> dict[int, list[ConvNet]]:
    """Student j of K regresses slice j of the teacher's features: per-feature variance-normalised MSE
    + beta T^2 KL(teacher || head over [f_-j, s_j]) at temperature T (Hinton's direction). Every student of
    the given K sets trains on the same batches; targets are precomputed per view (student_views)."""
    torch.manual_seed(cfg.seed + sum(ks))
    gen = torch.Generator().manual_seed(cfg.seed + sum(ks))
    teacher.eval()
    mean, std = input_stats(ds)
    dim = teacher.feature_dim
    sets = {
        k: [
            ConvNet(cfg.student_widths[k], hi - lo, mean, std).to(memory_format=torch.channels_last)
            for lo, hi in slice_bounds(dim, k)
        ]
        for k in ks
    }
    epochs = max(cfg.student_epochs_for.get(k, cfg.student_epochs) for k in ks)
    steps = math.ceil(views.shape[1] / cfg.batch_size)
    params = [p for k in ks for s in sets[k] for p in s.parameters()]
    opt, sched = _sgd(params, cfg.student_lr, steps, epochs)
    _distill(cfg, ds, teacher, sets, views, feats, logits, opt, sched, epochs, gen, "students")
    refine = max(cfg.student_refine_for.get(k, 0) for k in ks)
    if refine:
        refine_students(cfg, ds, teacher, sets, views, feats, logits)
    return {k: [s.to(memory_format=torch.contiguous_format) for s in sets[k]] for k in ks}


def refine_students(
    cfg: TaskConfig, ds: Dataset, teacher: ConvNet, sets: dict[int, list[ConvNet]], views: torch.Tensor,
    feats: torch.Tensor, logits: torch.Tensor,
) -> dict[int, list[ConvNet]]:
    """A low-learning-rate tail after the one-cycle phase: cosine from student_refine_lr to 0."""
    ks = sorted(sets)
    gen = torch.Generator().manual_seed(cfg.seed + 1000 + sum(ks))
    sets = {k: [s.to(memory_format=torch.channels_last) for s in sets[k]] for k in ks}
    epochs = max(cfg.student_refine_for.get(k, 0) for k in ks)
    steps = math.ceil(views.shape[1] / cfg.batch_size) * epochs
    params = [p for k in ks for s in sets[k] for p in s.parameters()]
    opt = torch.optim.SGD(params, lr=cfg.student_refine_lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    _distill(cfg, ds, teacher, sets, views, feats, logits, opt, sched, epochs, gen, "refine")
    return {k: [s.to(memory_format=torch.contiguous_format) for s in sets[k]] for k in ks}


def _distill(cfg: TaskConfig, ds: Dataset, teacher: ConvNet, sets: dict[int, list[ConvNet]], views: torch.Tensor,
             feats: torch.Tensor, logits: torch.Tensor, opt, sched, epochs: int, gen: torch.Generator,
             label: str) -> None:
    ks = sorted(sets)
    dim = teacher.feature_dim
    var = feats[0].var(0)
    t_T = cfg.kd_temperature
    n_views, n = views.shape[0], views.shape[1]
    head = teacher.head
    for p in teacher.parameters():
        p.requires_grad_(False)
    for epoch in range(epochs):
        for k in ks:
            for s in sets[k]:
                s.train()
        t0, tot, cnt = time.time(), 0.0, 0
        for idx in batches(n, cfg.batch_size, gen):
            v = torch.randint(0, n_views, (len(idx),), generator=gen)
            x = views[v, idx].contiguous(memory_format=torch.channels_last)
            f = feats[v, idx]
            logp_t = F.log_softmax(logits[v, idx] / t_T, dim=1)
            p_t = logp_t.exp()
            loss = torch.zeros(())
            for k in ks:
                for s, (lo, hi) in zip(sets[k], slice_bounds(dim, k)):
                    out = s(x)
                    mse = ((out - f[:, lo:hi]) ** 2 / var[lo:hi]).mean()
                    mixed = torch.cat([f[:, :lo], out, f[:, hi:]], dim=1)
                    logp_s = F.log_softmax(head(mixed) / t_T, dim=1)
                    kl = (p_t * (logp_t - logp_s)).sum(1).mean() * t_T * t_T
                    loss = loss + mse + cfg.kd_beta * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss) * len(idx)
            cnt += len(idx)
        msg = []
        for k in ks:
            for s in sets[k]:
                s.eval()
            msg.append(f"K={k} {accuracy(ensemble_logits(teacher, sets[k], ds.val.x), ds.val.y):.2f}%")
        log(f"{label} {ks} epoch {epoch + 1}/{epochs} loss {tot / cnt:.4f} val " + " ".join(msg)
            + f" ({time.time() - t0:.0f}s)")


@torch.no_grad()
def student_slices(students: list[ConvNet], x: np.ndarray) -> list[np.ndarray]:
    return [predict(s, x)[0] for s in students]


@torch.no_grad()
def combine(teacher: ConvNet, slices: list[np.ndarray]) -> np.ndarray:
    return teacher.head(torch.from_numpy(np.concatenate(slices, axis=1))).numpy()


def ensemble_logits(teacher: ConvNet, students: list[ConvNet], x: np.ndarray) -> np.ndarray:
    return combine(teacher, student_slices(students, x))


def train_early_exit(cfg: TaskConfig, ds: Dataset) -> EarlyExitNet:
    torch.manual_seed(cfg.seed + 100)
    gen = torch.Generator().manual_seed(cfg.seed + 100)
    mean, std = input_stats(ds)
    net = EarlyExitNet(cfg.ee_widths, len(cfg.classes), mean, std).to(memory_format=torch.channels_last)
    x_all = to_input(ds.train.x)
    y_all = torch.from_numpy(ds.train.y.astype(np.int64))
    steps = math.ceil(len(x_all) / cfg.batch_size)
    opt, sched = _sgd(net.parameters(), cfg.ee_lr, steps, cfg.ee_epochs)
    w = cfg.ee_exit_weights
    for epoch in range(cfg.ee_epochs):
        net.train()
        t0, tot, n = time.time(), 0.0, 0
        for idx in batches(len(x_all), cfg.batch_size, gen):
            x = augment(x_all[idx], gen, cfg.hflip).contiguous(memory_format=torch.channels_last)
            y = y_all[idx]
            logits = net(x)
            loss = sum(wi * F.cross_entropy(z, y) for wi, z in zip(w, logits)) / sum(w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss) * len(idx)
            n += len(idx)
        net.eval()
        accs = [accuracy(z, ds.val.y) for z in predict(net, ds.val.x)]
        log(
            f"early-exit epoch {epoch + 1}/{cfg.ee_epochs} loss {tot / n:.4f} val exits "
            + " / ".join(f"{a:.2f}%" for a in accs)
            + f" ({time.time() - t0:.0f}s)"
        )
    net.eval()
    return net.to(memory_format=torch.contiguous_format)
