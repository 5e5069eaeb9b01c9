#!/usr/bin/env python3
"""Reference values for titlesim-calibrate's statistics, from scipy / numpy / scikit-learn.

Writes tests/fixtures/references/stats.json: seeded input data and, for each data set, per
phase and pooled, what independent implementations say:

- Pearson r (scipy.stats.pearsonr) and Spearman rho with average ranks for ties
  (scipy.stats.spearmanr);
- mean, sample sd (numpy std ddof=1), min, max, and the 1/5/25/50/75/95/99 percentiles with
  numpy's default definition (method="linear", Hyndman & Fan type 7);
- pass rates: canonical at T, shadow at the configured t (float32 comparison cosine >= t);
- agreement(t) = mean((canonical >= T) == (shadow >= t)) over the grid (float32 thresholds
  parsed from exact decimal strings), the best t per phase (first maximum = lowest t) and the
  compromise t maximising the minimum agreement over phases (exact fractions, lowest t on
  ties) with the contiguous range of t keeping every phase at or above the floor;
- ROC AUC (sklearn.metrics.roc_auc_score), the best-F1 threshold among observed scores
  (sklearn.metrics.f1_score at each, lowest on ties), accuracy/precision/recall at T and t
  (sklearn.metrics);
- exact two-sided binomial p-values (scipy.stats.binomtest(k, n, 0.5).pvalue) and 95% Wilson
  intervals (binomtest(k, n).proportion_ci(0.95, method="wilson")).

Never run in CI; the Rust tests only read the JSON. Run with the generator venv:

    /root/venvs/gen/bin/python scripts/generate_stats_refs.py
"""

import json
import os
from fractions import Fraction

import numpy as np
import scipy
import scipy.stats as st
import sklearn
from sklearn import metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "references", "stats.json")
PERCENTILES = [1, 5, 25, 50, 75, 95, 99]


def grid(start, stop, step_cents):
    """Decimal strings start..stop in steps of step_cents/100, as float32 thresholds."""
    labels = [f"{c / 100:.2f}" for c in range(start, stop + 1, step_cents)]
    return labels, [np.float32(s) for s in labels]


def f32(a):
    return np.asarray(a, dtype=np.float32)


def plain(x):
    """float(np.float32) is exact: the JSON number is the float32 value."""
    return [float(v) for v in x]


def scope_stats(c, s, y, T, t_conf, labels, thresholds):
    c64, s64 = c.astype(np.float64), s.astype(np.float64)
    n = len(c)
    out = {"n": n}
    if n >= 2 and np.ptp(c64) > 0 and np.ptp(s64) > 0:
        out["pearson"] = float(st.pearsonr(c64, s64).statistic)
        out["spearman"] = float(st.spearmanr(c64, s64).statistic)
    else:
        out["pearson"] = None
        out["spearman"] = None
    for name, v, thr in (("canonical", c64, T), ("shadow", s64, t_conf)):
        d = {
            "mean": float(np.mean(v)) if n else None,
            "sd": float(np.std(v, ddof=1)) if n >= 2 else None,
            "min": float(np.min(v)) if n else None,
            "max": float(np.max(v)) if n else None,
            "percentiles": {f"p{p}": float(np.percentile(v, p)) for p in PERCENTILES} if n else None,
            "pass_rate": float(np.mean((c if name == "canonical" else s) >= thr)) if n else None,
        }
        out[name] = d
    canon_pass = c >= T
    agree_k = [int(np.sum(canon_pass == (s >= t))) for t in thresholds]
    out["agreement_k"] = agree_k
    out["agreement"] = [k / n if n else None for k in agree_k]
    if n:
        i = int(np.argmax(agree_k))  # first maximum: lowest t
        out["best_threshold"] = labels[i]
        out["best_agreement"] = agree_k[i] / n
    else:
        out["best_threshold"] = None
        out["best_agreement"] = None
    if y is not None:
        m = ~np.isnan(y)
        yy = y[m].astype(int)
        out["labels"] = {"n": int(m.sum()), "positives": int(yy.sum())}
        for name, v, thr in (("canonical", c[m], T), ("shadow", s[m], t_conf)):
            d = {}
            if 0 < yy.sum() < len(yy):
                d["auc"] = float(metrics.roc_auc_score(yy, v.astype(np.float64)))
            else:
                d["auc"] = None
            if yy.sum() > 0:
                best = None
                for thr_c in np.unique(v):  # ascending: strict > keeps the lowest on ties
                    f1 = metrics.f1_score(yy, (v >= thr_c).astype(int), zero_division=0.0)
                    if best is None or f1 > best[1]:
                        best = (thr_c, f1)
                d["best_f1_threshold"] = float(best[0])
                d["best_f1"] = float(best[1])
            pred = (v >= thr).astype(int)
            d["accuracy"] = float(metrics.accuracy_score(yy, pred))
            d["precision"] = float(metrics.precision_score(yy, pred, zero_division=np.nan)) if pred.sum() else None
            d["recall"] = float(metrics.recall_score(yy, pred)) if yy.sum() else None
            out["labels"][name] = d
    return out


def dataset(name, c, s, phase, y, T, t_conf, gstart, gstop, gstep, floor):
    c, s = f32(c), f32(s)
    T32, t32 = np.float32(T), np.float32(t_conf)
    labels, thresholds = grid(gstart, gstop, gstep)
    phase = np.array(phase, dtype=object)
    names = sorted({("(none)" if p is None else p) for p in phase})
    ph = np.array(["(none)" if p is None else p for p in phase], dtype=object)
    yarr = None if y is None else np.array([np.nan if v is None else v for v in y], dtype=float)
    res = {"phases": {}, "pooled": None}
    for p in names:
        m = ph == p
        res["phases"][p] = scope_stats(c[m], s[m], None if yarr is None else yarr[m], T32, t32, labels, thresholds)
    res["pooled"] = scope_stats(c, s, yarr, T32, t32, labels, thresholds)
    # compromise: maximise the minimum agreement over phases, exactly; lowest t on ties
    mins = []
    for i in range(len(thresholds)):
        mins.append(min(Fraction(res["phases"][p]["agreement_k"][i], res["phases"][p]["n"]) for p in names))
    best_i = max(range(len(mins)), key=lambda i: (mins[i], -i))
    ok = [all(Fraction(res["phases"][p]["agreement_k"][i], res["phases"][p]["n"]) >= Fraction(floor).limit_denominator(10**6) for p in names) for i in range(len(mins))]
    feasible = None
    if ok[best_i]:
        lo = hi = best_i
        while lo > 0 and ok[lo - 1]:
            lo -= 1
        while hi + 1 < len(ok) and ok[hi + 1]:
            hi += 1
        feasible = [labels[lo], labels[hi]]
    res["compromise"] = {
        "threshold": labels[best_i],
        "min_agreement": float(mins[best_i]),
        "per_phase": {p: res["phases"][p]["agreement"][best_i] for p in names},
        "feasible": feasible,
    }
    return {
        "name": name,
        "input": {
            "canonical": plain(c),
            "shadow": plain(s),
            "phase": list(phase),
            "label": y,
            "canonical_threshold": T,
            "shadow_threshold": t_conf,
            "grid": f"{gstart / 100:.2f}:{gstop / 100:.2f}:{gstep / 100:.2f}",
            "floor": floor,
        },
        "expected": res,
    }


def main():
    rng = np.random.default_rng(20261128)
    sets = []

    # 1. Continuous cosines, two phases of different noise, labels on every pair.
    n_r, n_q = 400, 90
    c = np.clip(rng.normal(0.72, 0.11, n_r + n_q), -1, 1)
    noise = np.concatenate([rng.normal(0, 0.04, n_r), rng.normal(0, 0.08, n_q)])
    s = np.clip(0.65 * c + 0.30 + noise, -1, 1)
    phase = ["race"] * n_r + ["qualifying"] * n_q
    y = [int(v) for v in (c + rng.normal(0, 0.08, n_r + n_q) > 0.70)]
    sets.append(dataset("two_phases_labelled", c, s, phase, y, 0.70, 0.95, 50, 99, 1, 0.78))

    # 2. Heavy ties (cosines on a 0.01 grid), a phase-less part, partial labels.
    n = 120
    c = np.round(rng.uniform(0.55, 0.95, n), 2)
    s = np.round(np.clip(c + rng.normal(0, 0.05, n), 0, 1), 2)
    phase = [None if i % 3 == 0 else "qualifying" for i in range(n)]
    y = [None if i % 4 == 0 else int(c[i] + rng.normal(0, 0.05) > 0.75) for i in range(n)]
    sets.append(dataset("ties_partial_labels", c, s, phase, y, 0.75, 0.80, 60, 90, 2, 0.80))

    # 3. Tiny: five pairs, one phase, no labels.
    c = [0.91, 0.42, 0.77, 0.63, 0.70]
    s = [0.88, 0.51, 0.69, 0.70, 0.70]
    sets.append(dataset("tiny", c, s, ["race"] * 5, None, 0.70, 0.70, 60, 80, 5, 0.78))

    binom = []
    for k, n in [(7, 15), (8, 15), (0, 5), (5, 5), (1, 6), (3, 20), (12, 40), (60, 100), (50, 100), (4000, 10000), (1, 1), (0, 1), (230, 500), (0, 30)]:
        r = st.binomtest(k, n, 0.5)
        ci = r.proportion_ci(confidence_level=0.95, method="wilson")
        binom.append({"k": k, "n": n, "pvalue": float(r.pvalue), "wilson_low": float(ci.low), "wilson_high": float(ci.high)})

    doc = {
        "generator": "scripts/generate_stats_refs.py",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__},
        "percentile_definition": "numpy.percentile method='linear' (Hyndman & Fan type 7)",
        "sd_definition": "sample standard deviation, ddof=1",
        "datasets": sets,
        "binomial": binom,
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
