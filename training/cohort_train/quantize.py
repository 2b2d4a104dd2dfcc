"""Activation quantization for transfer between early-exit segments (spec: training/README.md).

Per sample (one row of the batch, all C*H*W values): lo = min, hi = max,
scale = f32((hi - lo) / 255), or 1 if that is not > 0 or not finite;
q = clamp(floor(f32((x - lo) / scale) + 0.5), 0, 255) as uint8, the f32 division rounded before adding 0.5
in float64; dequantised x' = f32(f32(q * scale) + lo). All arithmetic on float32 values with float32
rounding after each operation, so Python and TypeScript (Math.fround) produce identical bytes.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32


def quantize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32 [N, ...] -> (q uint8 [N, prod], lo float32 [N], scale float32 [N])."""
    flat = np.ascontiguousarray(x, dtype=F32).reshape(len(x), -1)
    lo = flat.min(axis=1)
    hi = flat.max(axis=1)
    scale = ((hi - lo) / F32(255.0)).astype(F32)
    bad = ~(np.isfinite(scale) & (scale > 0))
    scale[bad] = F32(1.0)
    v = ((flat - lo[:, None]).astype(F32) / scale[:, None]).astype(F32)
    q = np.clip(np.floor(v.astype(np.float64) + 0.5), 0, 255).astype(np.uint8)
    return q, lo.astype(F32), scale


def dequantize(q: np.ndarray, lo: np.ndarray, scale: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of quantize up to rounding: float32 [N, *shape]."""
    v = (q.astype(F32) * scale[:, None]).astype(F32)
    v = (v + lo[:, None]).astype(F32)
    return v.reshape((len(q), *shape))


def roundtrip(x: np.ndarray) -> np.ndarray:
    q, lo, scale = quantize(x)
    return dequantize(q, lo, scale, tuple(x.shape[1:]))
