"""Join, train, evaluate and deploy the umbrella sales model.

The model is ordinary least squares, units ~ intercept + features, solved from the
normal equations by Gaussian elimination (a handful of features: no library needed).
Features: precipitation_mm, temp_max_c, weekend (1 on Saturday and Sunday).
The last `holdout_days` days of the window are held out: the model never sees them in
training, and MAE, RMSE and R² are measured on them.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from pathlib import Path

from weather import atomic_write

FEATURES = ("precipitation_mm", "temp_max_c", "weekend")


def read_csv(path: str) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def join(weather: str, sales: str, out: str) -> dict:
    """Task `join`: the days present in both the clean weather and the clean sales.

    Writes `out` with columns date, units and FEATURES. Outputs: path, rows, first, last.
    """
    by_date = {r["date"]: r for r in read_csv(weather)}
    rows = []
    for s in read_csv(sales):
        w = by_date.get(s["date"])
        if w is not None:
            weekend = int(dt.date.fromisoformat(s["date"]).weekday() >= 5)
            rows.append({"date": s["date"], "units": s["units"], "precipitation_mm": w["precipitation_mm"],
                         "temp_max_c": w["temp_max_c"], "weekend": weekend})
    if not rows:
        raise ValueError(f"no day in common between {weather} and {sales}")
    rows.sort(key=lambda r: r["date"])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=("date", "units", *FEATURES), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(out, buffer.getvalue())
    return {"path": str(out), "rows": len(rows), "first": rows[0]["date"], "last": rows[-1]["date"]}


def split(rows: list[dict], holdout_days: int) -> tuple[list[dict], list[dict]]:
    """(training rows, held-out rows): the held-out ones are the last `holdout_days` days."""
    cutoff = (dt.date.fromisoformat(rows[-1]["date"]) - dt.timedelta(days=int(holdout_days) - 1)).isoformat()
    return [r for r in rows if r["date"] < cutoff], [r for r in rows if r["date"] >= cutoff]


def solve(a: list[list[float]], b: list[float]) -> list[float]:
    """x with a x = b (Gaussian elimination with partial pivoting)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-12:
            raise ValueError("the features are collinear (e.g. a feature that never changes)")
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            for c in range(col, n + 1):
                m[r][c] -= f * m[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x


def fit(rows: list[dict], features: list[str]) -> dict[str, float]:
    """OLS coefficients {"intercept": .., feature: ..} of units on `features`."""
    xs = [[1.0] + [float(r[f]) for f in features] for r in rows]
    ys = [float(r["units"]) for r in rows]
    k = len(xs[0])
    xtx = [[sum(x[i] * x[j] for x in xs) for j in range(k)] for i in range(k)]
    xty = [sum(x[i] * y for x, y in zip(xs, ys)) for i in range(k)]
    return dict(zip(["intercept", *features], solve(xtx, xty)))


def predict(model: dict, row: dict) -> float:
    c = model["coefficients"]
    return c["intercept"] + sum(c[f] * float(row[f]) for f in model["features"])


def score(model: dict, rows: list[dict]) -> dict:
    """MAE, RMSE and R² of `model` on `rows`."""
    ys = [float(r["units"]) for r in rows]
    errors = [y - predict(model, r) for y, r in zip(ys, rows)]
    mean = sum(ys) / len(ys)
    ss_tot = sum((y - mean) ** 2 for y in ys)
    ss_res = sum(e * e for e in errors)
    return {"mae": round(sum(abs(e) for e in errors) / len(errors), 4),
            "rmse": round(math.sqrt(ss_res / len(errors)), 4),
            "r2": round(1 - ss_res / ss_tot, 4) if ss_tot else (1.0 if ss_res == 0 else 0.0)}


def parse_features(features) -> list[str]:
    names = [f.strip() for f in (features.split(",") if isinstance(features, str) else features) if f.strip()]
    unknown = sorted(set(names) - set(FEATURES))
    if unknown:
        raise ValueError(f"unknown feature(s) {', '.join(unknown)}: choose from {', '.join(FEATURES)}")
    return names


def train(data: str, out: str, holdout_days: int = 28, features=FEATURES, context: dict | None = None) -> dict:
    """Task `train`: fit the model on the window minus its held-out days; write it to `out` (JSON).

    Outputs: path, features, train_rows, first, last (the training days).
    """
    names = parse_features(features)
    training, holdout = split(read_csv(data), holdout_days)
    if len(training) <= len(names) + 1 or not holdout:
        raise ValueError(f"too few days: {len(training)} to train, {len(holdout)} held out")
    model = {"version": (context or {}).get("ds"), "target": "units", "features": names,
             "coefficients": {k: round(v, 6) for k, v in fit(training, names).items()},
             "trained_on": {"rows": len(training), "first": training[0]["date"], "last": training[-1]["date"]}}
    atomic_write(out, json.dumps(model, indent=2) + "\n")
    return {"path": str(out), "features": ",".join(names), "train_rows": len(training),
            "first": training[0]["date"], "last": training[-1]["date"]}


def evaluate(model: str, data: str, out: str, holdout_days: int = 28) -> dict:
    """Task `evaluate`: score the model on the held-out days; write the metrics to `out` (JSON).

    The baseline is the training days' mean, predicted every day. Outputs: path, mae, rmse, r2.
    """
    m = json.loads(Path(model).read_text(encoding="utf-8"))
    training, holdout = split(read_csv(data), holdout_days)
    mean = sum(float(r["units"]) for r in training) / len(training)
    baseline = {"features": [], "coefficients": {"intercept": mean}}
    metrics = {**score(m, holdout), "baseline_mae": score(baseline, holdout)["mae"],
               "holdout_rows": len(holdout), "holdout_first": holdout[0]["date"],
               "holdout_last": holdout[-1]["date"], "model": str(model)}
    atomic_write(out, json.dumps(metrics, indent=2) + "\n")
    return {"path": str(out), "mae": metrics["mae"], "rmse": metrics["rmse"], "r2": metrics["r2"]}


def deploy(model: str, metrics: str, data: str, current: str, holdout_days: int = 28,
           context: dict | None = None) -> dict:
    """Task `deploy`: promote the candidate to `current` when it is at least as good.

    The deployed model, if any, is scored on the candidate's held-out days, so both are
    judged on the same data; the candidate wins when its MAE is lower or equal. The
    promoted document (model and metrics together, one file) is written to a temp file
    in the same folder and moved over `current` with os.replace: readers see the old
    version or the new one, never a mix. A model deployed by a later interval (a backfill
    of past weeks) stays, unscored: it was trained on days after this interval. Outputs:
    promoted, version, candidate_mae, deployed_mae (of the model deployed before, or null),
    newer_deployed (a later interval's model was kept).
    """
    candidate = json.loads(Path(model).read_text(encoding="utf-8"))
    candidate_metrics = json.loads(Path(metrics).read_text(encoding="utf-8"))
    context = context or {}
    ds = context.get("ds") or candidate.get("version")
    deployed_mae, deployed_version, newer = None, None, False
    if Path(current).exists():
        deployed = json.loads(Path(current).read_text(encoding="utf-8"))
        deployed_version = deployed["version"]
        newer = bool(ds and deployed_version and str(deployed_version) > str(ds))
        if not newer:     # a later interval's model was trained on days after this one: not scored here
            _, holdout = split(read_csv(data), holdout_days)
            deployed_mae = score(deployed["model"], holdout)["mae"]
    promoted = not newer and (deployed_mae is None or candidate_metrics["mae"] <= deployed_mae)
    if promoted:
        document = {"version": ds,
                    "run_id": context.get("run_id"),
                    "promoted_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "model": candidate, "metrics": candidate_metrics}
        atomic_write(current, json.dumps(document, indent=2) + "\n")
    return {"promoted": promoted, "version": document["version"] if promoted else deployed_version,
            "candidate_mae": candidate_metrics["mae"], "deployed_mae": deployed_mae, "newer_deployed": newer}
