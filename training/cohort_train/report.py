"""Prints the shipped manifests' numbers as Markdown (pasted into training/README.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

PUBLIC = Path(__file__).resolve().parents[2] / "public"


def acc(a: dict) -> str:
    return f"{a['test']:.2f} / {a['sample']:.1f}"


def report(task: str) -> str:
    m = json.loads((PUBLIC / "models" / task / "manifest.json").read_text())
    models = {x["id"]: x for x in m["models"]}
    t = m["teacher"]["accuracy"]
    out = [f"### {task}", ""]
    tm = models[m["teacher"]["model"]]
    out.append(
        f"Teacher: **{t['test']:.2f}%** test / {t['sample']:.1f}% sample; {tm['macs'] / 1e6:.2f} M MACs, "
        f"{tm['params']:,} params, {tm['bytes']:,} bytes; features D = {m['teacher']['featureDim']}."
    )
    out += ["", "| K | slices | student MACs (each, M) | ensemble test / sample % | vs teacher (pt) | one slice missing: test % (drop pt) |",
            "|---|---|---|---|---|---|"]
    for e in m["ensembles"]:
        macs = ", ".join(f"{models[s]['macs'] / 1e6:.2f}" for s in e["students"])
        miss = "; ".join(
            f"#{x['slice']}: {x['accuracy']['test']:.2f} ({e['accuracy']['test'] - x['accuracy']['test']:+.2f})"
            for x in e["missing"]
        )
        out.append(
            f"| {e['k']} | {e['sliceSizes']} | {macs} | {acc(e['accuracy'])} | "
            f"{e['accuracy']['test'] - t['test']:+.2f} | {miss} |"
        )
    ee = m["earlyExit"]
    c = ee["calibrated"]
    cost = ee["cost"]
    out += ["", "| segment | MACs (M) | params | exit accuracy test / sample % | activation out |", "|---|---|---|---|---|"]
    for i, sid in enumerate(ee["segments"]):
        act = ee["activations"][i]["shape"] if i < len(ee["activations"]) else "-"
        out.append(
            f"| {sid} | {models[sid]['macs'] / 1e6:.2f} | {models[sid]['params']:,} | {acc(ee['exits'][i]['accuracy'])} | {act} |"
        )
    out += [
        "",
        f"Calibrated thresholds alpha = {[round(a, 5) for a in ee['thresholds']]} (lambda = {cost['lambdaPerMMac']} per MMAC, "
        f"o = {cost['offload']} per offload, cloud-only cost {cost['cloudOnly']:.3f}; constraint on validation: "
        f"drop + {ee['calibration']['z']} SE <= {ee['calibration']['maxDropPt']} pt, achieved bound "
        f"{ee['calibration']['dropUpperBoundPt']:.3f} pt).",
        "",
        "| split | accuracy % | final exit % | drop (pt) | expected cost | cost reduction | exit fractions |",
        "|---|---|---|---|---|---|---|",
    ]
    for split in ("validation", "test", "sample"):
        out.append(
            f"| {split} | {c['accuracy'][split]:.2f} | {c['finalExitAccuracy'][split]:.2f} | {c['dropPt'][split]:+.2f} | "
            f"{c['expectedCost'][split]:.3f} | {c['costReduction'][split] * 100:.1f}% | {c['exitFractions'][split]} |"
        )
    total = sum(x["bytes"] for x in m["models"])
    out += ["", f"{len(m['models'])} models, {total:,} bytes. Stage times (s): {m['training']['secondsPerStage']}", ""]
    return "\n".join(out)


if __name__ == "__main__":
    tasks = sys.argv[1:] or ["fashion", "digits"]
    print("\n".join(report(t) for t in tasks if (PUBLIC / "models" / t / "manifest.json").exists()))
