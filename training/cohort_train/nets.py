"""Network definitions: the conv family shared by teachers and students, and the early-exit backbone.

Every model takes float32 [N, 1, 28, 28] = pixel / 255 and normalises inside the graph, so the
browser only divides by 255.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class Normalize(nn.Module):
    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ConvNet(nn.Module):
    """28x28 -> conv(a) -> pool -> conv(b) x2 -> pool -> conv(c) x2 -> global avg (7x7) -> features (c)
    -> linear head (out). Teacher: out = classes, features are the penultimate vector f.
    Student: out = its slice size; the "head" regresses the slice."""

    def __init__(self, widths: tuple[int, int, int], out: int, mean: float, std: float) -> None:
        super().__init__()
        a, b, c = widths
        self.feature_dim = c
        self.body = nn.Sequential(
            Normalize(mean, std),
            *conv_bn(1, a),
            nn.MaxPool2d(2),
            *conv_bn(a, b),
            *conv_bn(b, b),
            nn.MaxPool2d(2),
            *conv_bn(b, c),
            *conv_bn(c, c),
            nn.AvgPool2d(7),
            nn.Flatten(),
        )
        self.head = nn.Linear(c, out)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class Segment(nn.Module):
    """One early-exit segment: h_{i-1} -> (h_i, logits_i). The exit head reads h_i."""

    def __init__(self, body: nn.Module, exit_head: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.exit = exit_head

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.body(h)
        return out, self.exit(out)


class EarlyExitNet(nn.Module):
    """Three segments. seg1 (mobile, small): 28 -> conv -> pool -> conv -> pool -> h1 [w12, 7, 7];
    seg2 (edge): two convs at 7x7 -> h2; seg3 (cloud): two convs at 7x7 -> global avg -> logits.
    Exits 1 and 2 are linear over the flattened activation; exit 3 is the final classifier."""

    def __init__(
        self,
        widths: tuple[tuple[int, int], tuple[int, int], tuple[int, int]],
        classes: int,
        mean: float,
        std: float,
    ) -> None:
        super().__init__()
        (a1, a2), (b1, b2), (c1, c2) = widths
        seg1 = nn.Sequential(
            Normalize(mean, std),
            *conv_bn(1, a1),
            nn.MaxPool2d(2),
            *conv_bn(a1, a2),
            nn.MaxPool2d(2),
        )
        seg2 = nn.Sequential(*conv_bn(a2, b1), *conv_bn(b1, b2))
        seg3 = nn.Sequential(*conv_bn(b2, c1), *conv_bn(c1, c2))
        self.activation_shapes = [(a2, 7, 7), (b2, 7, 7)]
        self.segments = nn.ModuleList(
            [
                Segment(seg1, nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(a2 * 49, classes))),
                Segment(seg2, nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(b2 * 49, classes))),
                Segment(seg3, nn.Sequential(nn.AvgPool2d(7), nn.Flatten(), nn.Linear(c2, classes))),
            ]
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        logits = []
        h = x
        for seg in self.segments:
            h, z = seg(h)
            logits.append(z)
        return logits


class Combiner(nn.Module):
    """The teacher's head over the concatenated slices: K inputs slice_0..slice_{K-1} -> logits."""

    def __init__(self, head: nn.Linear, k: int) -> None:
        super().__init__()
        self.k = k
        self.head = nn.Linear(head.in_features, head.out_features)
        self.head.load_state_dict(head.state_dict())

    def forward(self, *slices: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat(slices, dim=1))


class LastSegment(nn.Module):
    """Export wrapper: the final segment outputs logits only."""

    def __init__(self, seg: Segment) -> None:
        super().__init__()
        self.seg = seg

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.seg(h)[1]


class TeacherExport(nn.Module):
    """Export wrapper: the teacher outputs logits and its penultimate features."""

    def __init__(self, net: ConvNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.net.features(x)
        return self.net.head(f), f


def count_macs(model: nn.Module, *inputs: torch.Tensor) -> int:
    """Multiply-accumulates of Conv2d and Linear layers for one sample."""
    total = 0
    hooks = []

    def conv_hook(m: nn.Conv2d, _inp, out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = m.kernel_size
        total += out[0].numel() * (m.in_channels // m.groups) * kh * kw

    def lin_hook(m: nn.Linear, _inp, out: torch.Tensor) -> None:
        nonlocal total
        total += m.in_features * m.out_features

    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            hooks.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            hooks.append(mod.register_forward_hook(lin_hook))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(*(t[:1] for t in inputs))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return total


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
