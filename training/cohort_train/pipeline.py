"""Command line: python3 -m cohort_train.pipeline <task> <stage> [...]

Stages (each writes a checkpoint under training/build/<task>/):
  teacher        train the teacher
  students K...  train the student sets for these K together (needs the teacher)
  refine K...    only the low-learning-rate tail of student training, from saved students
  early-exit     train the 3-segment early-exit backbone
  export         evaluate, calibrate, export ONNX + manifest + sample data to public/
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import torch

from . import data
from .config import TASKS, TaskConfig
from .nets import ConvNet, EarlyExitNet
from .train import (
    input_stats,
    log,
    refine_students,
    slice_bounds,
    student_views,
    teacher_targets,
    train_early_exit,
    train_students,
    train_teacher,
)

BUILD = Path(os.environ.get("COHORT_BUILD", Path(__file__).resolve().parents[1] / "build"))


def build_dir(task: str) -> Path:
    d = BUILD / task
    d.mkdir(parents=True, exist_ok=True)
    return d


def _record_time(task: str, stage: str, seconds: float) -> None:
    path = build_dir(task) / "timings.json"
    t = json.loads(path.read_text()) if path.exists() else {}
    t[stage] = round(seconds, 1)
    path.write_text(json.dumps(t, indent=2))


def load_teacher(cfg: TaskConfig, ds: data.Dataset) -> ConvNet:
    mean, std = input_stats(ds)
    net = ConvNet(cfg.teacher_widths, len(cfg.classes), mean, std)
    net.load_state_dict(torch.load(build_dir(cfg.task) / "teacher.pt"))
    return net.eval()


def load_students(cfg: TaskConfig, ds: data.Dataset, teacher: ConvNet, k: int) -> list[ConvNet]:
    mean, std = input_stats(ds)
    states = torch.load(build_dir(cfg.task) / f"students-{k}.pt")
    out = []
    for (lo, hi), st in zip(slice_bounds(teacher.feature_dim, k), states):
        # widths from the checkpoint itself, so an export never pairs weights with a changed config
        convs = [v.shape[0] for v in st.values() if v.dim() == 4]
        s = ConvNet((convs[0], convs[1], convs[3]), hi - lo, mean, std)
        s.load_state_dict(st)
        out.append(s.eval())
    return out


def load_early_exit(cfg: TaskConfig, ds: data.Dataset) -> EarlyExitNet:
    mean, std = input_stats(ds)
    net = EarlyExitNet(cfg.ee_widths, len(cfg.classes), mean, std)
    net.load_state_dict(torch.load(build_dir(cfg.task) / "early-exit.pt"))
    return net.eval()


def main(argv: list[str]) -> None:
    torch.set_num_threads(int(os.environ.get("COHORT_TORCH_THREADS", "1")))
    task, stage = argv[0], argv[1]
    cfg = TASKS[task]
    if os.environ.get("COHORT_QUICK"):  # smoke test of the pipeline: one epoch per stage
        cfg = dataclasses.replace(cfg, teacher_epochs=1, student_epochs=1, ee_epochs=1)
    ds = data.load(task, cfg.seed)
    t0 = time.time()
    if stage == "teacher":
        net = train_teacher(cfg, ds)
        torch.save(net.state_dict(), build_dir(task) / "teacher.pt")
    elif stage == "students":
        ks = [int(a) for a in argv[2:]]
        teacher = load_teacher(cfg, ds)
        views = student_views(cfg, ds)
        feats, logits = teacher_targets(teacher, views)
        trained = train_students(cfg, ds, teacher, ks, views, feats, logits)
        for k, students in trained.items():
            torch.save([s.state_dict() for s in students], build_dir(task) / f"students-{k}.pt")
        stage = "students-" + "-".join(map(str, ks))
    elif stage == "refine":  # resume: only the low-learning-rate tail, from saved students
        ks = [int(a) for a in argv[2:]]
        teacher = load_teacher(cfg, ds)
        views = student_views(cfg, ds)
        feats, logits = teacher_targets(teacher, views)
        sets = {k: load_students(cfg, ds, teacher, k) for k in ks}
        refined = refine_students(cfg, ds, teacher, sets, views, feats, logits)
        for k, students in refined.items():
            torch.save([s.state_dict() for s in students], build_dir(task) / f"students-{k}.pt")
        stage = "refine-" + "-".join(map(str, ks))
    elif stage == "early-exit":
        net = train_early_exit(cfg, ds)
        torch.save(net.state_dict(), build_dir(task) / "early-exit.pt")
    elif stage == "export":
        from .export import export_task

        export_task(cfg, ds)
    else:
        raise SystemExit(f"unknown stage {stage}")
    dt = time.time() - t0
    _record_time(task, stage, dt)
    log(f"{task} {stage} done in {dt:.0f}s")


if __name__ == "__main__":
    main(sys.argv[1:])
