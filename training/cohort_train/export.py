"""Evaluate, calibrate and export one task: ONNX models, manifest.json, sample data, reference outputs."""

from __future__ import annotations

import hashlib
import io
import json
import platform
import struct
import time
from pathlib import Path

import numpy as np
import onnx
import torch

from . import data
from .calibrate import Policy, calibrate, run_exits
from .config import TaskConfig
from .nets import Combiner, ConvNet, LastSegment, TeacherExport, count_macs, count_params
from .train import accuracy, combine, log, predict, slice_bounds, student_slices

PUBLIC = Path(__file__).resolve().parents[2] / "public"
OPSET = 17
SAMPLE_MAGIC = b"CHDS"
REFERENCE_MAGIC = b"CHRF"
FORMAT_VERSION = 1


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def f32(v: float) -> float:
    """A float32 value as the exact Python float (JSON round-trips it to the same float32)."""
    return float(np.float32(v))


def pct(v: float) -> float:
    return round(float(v), 4)


def tensor_spec(name: str, shape: list, dtype: str = "float32") -> dict:
    return {"name": name, "dtype": dtype, "shape": shape}


def export_onnx(module: torch.nn.Module, args: tuple[torch.Tensor, ...], inputs: list[str], outputs: list[str]) -> bytes:
    module.eval()
    buf = io.BytesIO()
    dyn = {n: {0: "batch"} for n in inputs + outputs}
    with torch.no_grad():
        torch.onnx.export(
            module,
            args,
            buf,
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=dyn,
            opset_version=OPSET,
            do_constant_folding=True,
        )
    raw = buf.getvalue()
    model = onnx.load_from_string(raw)
    onnx.checker.check_model(model)
    return raw


class Writer:
    """Writes model files under public/models/<task>/ and collects their manifest entries."""

    def __init__(self, task: str) -> None:
        self.task = task
        self.dir = PUBLIC / "models" / task
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.onnx"):
            old.unlink()
        self.models: list[dict] = []

    def add(self, mid: str, role: dict, module: torch.nn.Module, args: tuple[torch.Tensor, ...],
            inputs: list[dict], outputs: list[dict]) -> None:
        raw = export_onnx(module, args, [i["name"] for i in inputs], [o["name"] for o in outputs])
        fname = f"{mid}.onnx"
        (self.dir / fname).write_bytes(raw)
        self.models.append(
            {
                "id": mid,
                "file": f"models/{self.task}/{fname}",
                "bytes": len(raw),
                "sha256": sha256(raw),
                "macs": int(count_macs(module, *args)),
                "params": int(count_params(module)),
                "role": role,
                "inputs": inputs,
                "outputs": outputs,
            }
        )


def write_sample(path: Path, x: np.ndarray, y: np.ndarray) -> bytes:
    header = SAMPLE_MAGIC + struct.pack("<5I", FORMAT_VERSION, len(x), 28, 28, 1)
    raw = header + x.astype(np.uint8).tobytes() + y.astype(np.uint8).tobytes()
    path.write_bytes(raw)
    return raw


class Reference:
    """Little-endian tensors concatenated after a 16-byte header; the manifest indexes them."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.offset = 16
        self.entries: list[dict] = []

    def add(self, rid: str, arr: np.ndarray) -> None:
        dtype = {np.dtype(np.float32): "float32", np.dtype(np.uint8): "uint8"}[arr.dtype]
        raw = np.ascontiguousarray(arr).tobytes()
        pad = (-self.offset) % 4
        if pad:
            self.chunks.append(b"\0" * pad)
            self.offset += pad
        self.entries.append({"id": rid, "dtype": dtype, "shape": list(arr.shape), "offset": self.offset,
                             "bytes": len(raw)})
        self.chunks.append(raw)
        self.offset += len(raw)

    def bytes(self, count: int) -> bytes:
        header = REFERENCE_MAGIC + struct.pack("<3I", FORMAT_VERSION, count, len(self.entries))
        return header + b"".join(self.chunks)


def export_task(cfg: TaskConfig, ds: data.Dataset) -> None:
    from .pipeline import build_dir, load_early_exit, load_students, load_teacher

    t0 = time.time()
    task = cfg.task
    rng = np.random.default_rng(cfg.seed + 7)
    sample_idx = np.sort(rng.choice(len(ds.test.x), size=min(cfg.sample_count, len(ds.test.x)), replace=False))
    xs, ys = ds.test.x[sample_idx], ds.test.y[sample_idx]
    splits = {"test": (ds.test.x, ds.test.y), "sample": (xs, ys)}
    nref = cfg.reference_count
    xref = xs[:nref]
    tref = data.to_input(xref)
    ref = Reference()

    teacher = load_teacher(cfg, ds)
    dim = teacher.feature_dim
    classes = len(cfg.classes)
    writer = Writer(task)
    img = ["batch", 1, 28, 28]

    # teacher
    writer.add("teacher", {"kind": "teacher"}, TeacherExport(teacher), (tref,),
               [tensor_spec("input", img)],
               [tensor_spec("logits", ["batch", classes]), tensor_spec("features", ["batch", dim])])
    with torch.no_grad():
        tl, tf = TeacherExport(teacher)(tref)
    ref.add("teacher/logits", tl.numpy())
    ref.add("teacher/features", tf.numpy())
    teacher_acc = {s: pct(accuracy(predict(teacher, x)[0], y)) for s, (x, y) in splits.items()}
    f_train = predict(teacher.features, ds.train.x)[0]
    feat_mean = f_train.mean(0).astype(np.float32)
    log(f"{task} teacher accuracy {teacher_acc}")

    # students + combiners
    ensembles = []
    for k in cfg.ks:
        students = load_students(cfg, ds, teacher, k)
        bounds = slice_bounds(dim, k)
        ids = []
        ref_slices = []
        for j, (s, (lo, hi)) in enumerate(zip(students, bounds)):
            mid = f"student-{k}-{j}"
            ids.append(mid)
            writer.add(mid, {"kind": "student", "index": j, "of": k}, s, (tref,),
                       [tensor_spec("input", img)], [tensor_spec("slice", ["batch", hi - lo])])
            with torch.no_grad():
                out = s(tref).numpy()
            ref.add(f"{mid}/slice", out)
            ref_slices.append(out)
        comb = Combiner(teacher.head, k)
        cargs = tuple(torch.from_numpy(a) for a in ref_slices)
        writer.add(f"combiner-{k}", {"kind": "combiner", "of": k}, comb, cargs,
                   [tensor_spec(f"slice_{j}", ["batch", hi - lo]) for j, (lo, hi) in enumerate(bounds)],
                   [tensor_spec("logits", ["batch", classes])])
        with torch.no_grad():
            ref.add(f"combiner-{k}/logits", comb(*cargs).numpy())
        means = [feat_mean[lo:hi] for lo, hi in bounds]
        acc, missing = {}, [dict(slice=j, accuracy={}) for j in range(k)]
        for split, (x, y) in splits.items():
            sl = student_slices(students, x)
            acc[split] = pct(accuracy(combine(teacher, sl), y))
            for j in range(k):
                imputed = list(sl)
                imputed[j] = np.broadcast_to(means[j], sl[j].shape)
                missing[j]["accuracy"][split] = pct(accuracy(combine(teacher, imputed), y))
        log(f"{task} K={k} ensemble {acc} missing {[m['accuracy'] for m in missing]}")
        ensembles.append(
            {
                "k": k,
                "students": ids,
                "combiner": f"combiner-{k}",
                "sliceSizes": [hi - lo for lo, hi in bounds],
                "sliceOffsets": [lo for lo, _ in bounds],
                "imputationMeans": [[f32(v) for v in m] for m in means],
                "accuracy": acc,
                "missing": missing,
            }
        )

    # early exit
    ee = load_early_exit(cfg, ds)
    seg_inputs = [("input", img)]
    for i, shp in enumerate(ee.activation_shapes):
        seg_inputs.append((f"h{i + 1}", ["batch", *shp]))
    seg_ids = []
    h_arg = tref
    rr = run_exits(ee, xref)
    for i, seg in enumerate(ee.segments):
        mid = f"segment-{i + 1}"
        seg_ids.append(mid)
        last = i == len(ee.segments) - 1
        iname, ishape = seg_inputs[i]
        outs = [] if last else [tensor_spec(f"h{i + 1}", ["batch", *ee.activation_shapes[i]])]
        outs.append(tensor_spec("logits", ["batch", classes]))
        module = LastSegment(seg) if last else seg
        writer.add(mid, {"kind": "segment", "index": i + 1, "of": len(ee.segments)}, module, (h_arg,),
                   [tensor_spec(iname, ishape)], outs)
        if not last:
            ref.add(f"{mid}/h{i + 1}", rr.h[i])
            q, lo, scale = rr.q[i]
            ref.add(f"{mid}/h{i + 1}/quantized", q)
            ref.add(f"{mid}/h{i + 1}/min", lo)
            ref.add(f"{mid}/h{i + 1}/scale", scale)
            ref.add(f"{mid}/h{i + 1}/dequantized", rr.h_in[i])
            h_arg = torch.from_numpy(rr.h_in[i])
        ref.add(f"{mid}/logits", rr.logits[i])
    seg_macs = [m["macs"] for m in writer.models if m["role"]["kind"] == "segment"]
    seg_mmacs = [m / 1e6 for m in seg_macs]
    val_run = run_exits(ee, ds.val.x)
    policy, info = calibrate(val_run, ds.val.y, seg_mmacs, cfg.cost_lambda_per_mmac, cfg.cost_offload,
                             cfg.calib_max_drop_pt, z=cfg.calib_z)
    runs = {"validation": (val_run, ds.val.y)}
    for split, (x, y) in splits.items():
        runs[split] = (run_exits(ee, x), y)
    exits = [{"segment": sid, "accuracy": {}} for sid in seg_ids]
    calibrated: dict = {"accuracy": {}, "finalExitAccuracy": {}, "dropPt": {}, "expectedCost": {},
                        "costReduction": {}, "exitFractions": {}}
    for split, (run, y) in runs.items():
        exit_at, pred, cost = policy.apply(run)
        final = accuracy(run.logits[-1], y)
        if split != "validation":
            for i, z in enumerate(run.logits):
                exits[i]["accuracy"][split] = pct(accuracy(z, y))
        a = float((pred == y).mean() * 100.0)
        calibrated["accuracy"][split] = pct(a)
        calibrated["finalExitAccuracy"][split] = pct(final)
        calibrated["dropPt"][split] = pct(final - a)
        calibrated["expectedCost"][split] = round(float(cost.mean()), 4)
        calibrated["costReduction"][split] = round(float(1.0 - cost.mean() / policy.cloud_only_cost()), 4)
        calibrated["exitFractions"][split] = [round(float((exit_at == i).mean()), 4) for i in range(len(seg_ids))]
    log(f"{task} early exit: thresholds {policy.thresholds} exits {[e['accuracy'] for e in exits]} calibrated {calibrated}")

    # data files
    (PUBLIC / "data").mkdir(parents=True, exist_ok=True)
    sample_raw = write_sample(PUBLIC / "data" / f"{task}-test.bin", xs, ys)
    ref_raw = ref.bytes(nref)
    (PUBLIC / "data" / f"{task}-reference.bin").write_bytes(ref_raw)

    mean_std = teacher.body[0]
    timings_path = build_dir(task) / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    timings["export"] = round(time.time() - t0, 1)
    manifest = {
        "schemaVersion": 1,
        "task": task,
        "classes": list(cfg.classes),
        "input": {
            "name": "input",
            "dtype": "float32",
            "shape": img,
            "layout": "NCHW",
            "pixelScale": 1.0 / 255.0,
            "preprocessing": "grayscale uint8 pixels, row-major 28x28, 0 = background; input = pixel / 255 as "
            "float32 [N, 1, 28, 28]. The models normalise internally with the mean/std below.",
            "normalization": {"mean": f32(mean_std.mean), "std": f32(mean_std.std)},
        },
        "dataset": {
            "source": ds.source,
            "seed": cfg.seed,
            "train": int(len(ds.train.x)),
            "validation": int(len(ds.val.x)),
            "test": int(len(ds.test.x)),
        },
        "models": writer.models,
        "teacher": {"model": "teacher", "featureDim": dim, "accuracy": teacher_acc},
        "ensembles": ensembles,
        "earlyExit": {
            "segments": seg_ids,
            "exits": exits,
            "confidence": "max softmax, computed in float64 as 1 / sum_j exp(z_j - max z)",
            "thresholds": [float(a) for a in policy.thresholds],
            "quantization": {
                "scheme": "uint8-minmax-per-sample",
                "description": "per sample: lo = min, scale = f32((max - lo) / 255) (1 if not > 0), "
                "q = clamp(floor(f32((x - lo) / scale) + 0.5), 0, 255); x' = f32(f32(q * scale) + lo). "
                "See training/README.md.",
            },
            "activations": [
                {"name": f"h{i + 1}", "from": seg_ids[i], "to": seg_ids[i + 1], "shape": list(shp)}
                for i, shp in enumerate(ee.activation_shapes)
            ],
            "cost": {
                "lambdaPerMMac": cfg.cost_lambda_per_mmac,
                "offload": cfg.cost_offload,
                "segmentMacs": seg_macs,
                "cloudOnly": round(policy.cloud_only_cost(), 4),
                "description": "cost = lambda * MMACs of every segment run + offload for every hop to the next "
                "tier; cloud-only = offload + lambda * all MMACs",
            },
            "calibration": {
                "split": "validation",
                "maxDropPt": cfg.calib_max_drop_pt,
                "z": cfg.calib_z,
                "dropUpperBoundPt": round(info["validationDropUpperBoundPt"], 4),
                "method": "grid over (alpha_1, alpha_2) from 401 confidence quantiles per exit + never; minimise "
                "expected cost subject to mean drop + z * standard error <= maxDropPt on validation",
            },
            "calibrated": calibrated,
        },
        "data": {
            "sample": {
                "file": f"data/{task}-test.bin",
                "bytes": len(sample_raw),
                "sha256": sha256(sample_raw),
                "count": int(len(xs)),
                "format": "magic 'CHDS', u32 LE version=1, count, height=28, width=28, channels=1; then "
                "count*28*28 uint8 pixels (sample-major, row-major); then count uint8 labels",
                "selection": "fixed-seed random subset of the test split, in test order",
            },
            "reference": {
                "file": f"data/{task}-reference.bin",
                "bytes": len(ref_raw),
                "sha256": sha256(ref_raw),
                "count": nref,
                "format": "magic 'CHRF', u32 LE version=1, count, entries; then little-endian tensors at the "
                "listed byte offsets (4-byte aligned)",
                "inputs": "the first `count` samples of the sample file; combiners read the student "
                "slices, segments 2 and 3 read the dequantised activation",
                "entries": ref.entries,
            },
        },
        "training": {
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "opset": OPSET,
            "python": platform.python_version(),
            "secondsPerStage": timings,
        },
    }
    out = PUBLIC / "models" / task / "manifest.json"
    out.write_text(json.dumps(manifest, indent=2) + "\n")
    total = sum(m["bytes"] for m in writer.models)
    log(f"{task} wrote {len(writer.models)} models ({total} bytes) + manifest")
