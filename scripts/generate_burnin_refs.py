#!/usr/bin/env python3
"""Reference values for `titlesim promote` and `titlesim burn-in`, from scipy and statsmodels.

Writes tests/fixtures/references/burnin.json, which the Rust tests of titlesim-calibrate read
(crates/calibrate/tests/burnin_references.rs and crates/calibrate/tests/promote_burnin.rs, and
crates/cli/tests/cli_promote.rs). Nothing here runs in CI.

    python3 -m venv /tmp/genvenv && /tmp/genvenv/bin/pip install numpy scipy statsmodels
    /tmp/genvenv/bin/python scripts/generate_burnin_refs.py

What the burn-in computes, and what each reference is:

- Wilson 95% interval of a calibration share k/n (the expectation's interval):
  statsmodels `proportion_confint(k, n, alpha=0.05, method="wilson")`.
- Two-proportion z-test of the burn-in share k2/n2 against the calibration share k1/n1 (pooled
  variance, two-sided): statsmodels `proportions_ztest([k1, k2], [n1, n2])`.
- Cohen's h between the expected share p1 and a drifted share p2:
  statsmodels `proportion_effectsize(p1, p2)`.
- Pairs needed to tell a drift of `drift` (absolute, in share) from the calibration share at
  a given power, two-sided, at the per-test level alpha / m (Bonferroni over the m tests of a
  burn-in: 2 per phase). The calibration sample (n1) is fixed; only the burn-in (n2) grows.
  The normal power of statsmodels `NormalIndPower` depends on n1 and n2 only through
  n = 1 / (1/n1 + 1/n2), so we solve for that effective n with equal groups
  (`NormalIndPower().solve_power(effect_size=h, nobs1=None, alpha, power, ratio=1)` gives
  nobs1 = 2 n), refine that root of statsmodels' `normal_power(h, n, alpha) - power` with
  scipy's `brentq` at a tight tolerance (`solve_power` stops at about 1e-8 relative), and turn
  it back into n2 = 1 / (1/n - 1/n1): the closed form of what
  `solve_power(..., nobs1=n1, ratio=None) * n1` finds, without its root finder (which returns
  NaN when no n2 suffices). When n >= n1 no burn-in size reaches the power (`null`). Each
  direction of drift a share can take (p1 - drift and p1 + drift where they lie in [0, 1]; when
  neither does, the farther end of [0, 1]) is solved and the larger n2 kept (a direction past 0
  or 1 is left out, not clamped: clamped, 99.8% + 10 points stood for a 0.2-point drift); `needed` is the smallest integer n2 reaching the power (ceil), checked with
  `NormalIndPower().power`.
"""
import json
import math
import os

import numpy as np
import scipy
import statsmodels
from scipy.optimize import brentq
from scipy.stats import norm
from statsmodels.stats.power import NormalIndPower, normal_power
from statsmodels.stats.proportion import (
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
)

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "references", "burnin.json")

# The defaults of `titlesim burn-in`.
ALPHA, POWER, DRIFT = 0.05, 0.8, 0.10


def wilson(k, n):
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    return [float(lo), float(hi)]


def ztest(k1, n1, k2, n2):
    if k1 + k2 in (0, n1 + n2):
        return 0.0, 1.0  # both shares 0 or both 1: no difference to test
    z, p = proportions_ztest([k1, k2], [n1, n2])
    return float(z), float(p)


def needed_one(p1, p2, n1, alpha, power):
    h = float(proportion_effectsize(p1, p2))
    nobs1 = NormalIndPower().solve_power(effect_size=abs(h), nobs1=None, alpha=alpha, power=power, ratio=1.0)
    rough = float(nobs1) / 2.0
    n_eff = brentq(lambda n: normal_power(abs(h), n, alpha) - power, rough * 0.9, rough * 1.1, xtol=1e-13, rtol=1e-15)
    assert abs(n_eff - rough) <= 1e-6 * rough, (n_eff, rough)
    if n_eff >= n1:
        return h, n_eff, None
    n2 = 1.0 / (1.0 / n_eff - 1.0 / n1)
    # the root finder for the ratio agrees where a solution exists
    r = NormalIndPower().solve_power(effect_size=abs(h), nobs1=n1, alpha=alpha, power=power, ratio=None)
    if np.isfinite(r):
        # (statsmodels' solver stops about 1e-3 pairs short of a tiny n2, such as a 90-point drift's)
        assert abs(r * n1 - n2) <= max(1e-4 * n2, 2e-3), (r * n1, n2)
    return h, n_eff, n2


def drift_targets(p1, drift):
    """p1 - drift and p1 + drift where each is a share; when neither is, the farther end of [0, 1]."""
    eps = 1e-12
    out = [min(1.0, max(0.0, p2)) for p2 in (p1 - drift, p1 + drift) if -eps <= p2 <= 1.0 + eps]
    if not out:
        out = [0.0 if p1 >= 0.5 else 1.0]
    return [p2 for p2 in out if p2 != p1]


def needed(p1, n1, alpha, power=POWER, drift=DRIFT):
    """The pairs needed for the drift directions a share can take, and the larger."""
    out = {"p1": p1, "n1": n1, "alpha": alpha, "power": power, "drift": drift, "directions": []}
    worst = 0.0
    for p2 in drift_targets(p1, drift):
        h, n_eff, n2 = needed_one(p1, p2, n1, alpha, power)
        out["directions"].append({"p2": p2, "h": h, "n_eff": n_eff, "n2": n2})
        worst = math.inf if n2 is None else max(worst, n2)
    if math.isinf(worst):
        out["n2"], out["needed"] = None, None
    else:
        out["n2"] = worst
        out["needed"] = int(math.ceil(worst - 1e-9))
        # the power at `needed` reaches the target for every direction, and not at needed - 1
        for d in out["directions"]:
            pw = NormalIndPower().power(effect_size=abs(d["h"]), nobs1=n1, alpha=alpha, ratio=out["needed"] / n1)
            assert pw >= power - 1e-12, pw
        pw_less = min(
            NormalIndPower().power(effect_size=abs(d["h"]), nobs1=n1, alpha=alpha, ratio=(out["needed"] - 1) / n1)
            for d in out["directions"]
        )
        assert pw_less < power, pw_less
    return out


# Calibration logs of the tests: per phase, pairs of four kinds (canonical = the old model at
# T = 0.70 with cosine 0.80 (pass) or 0.60 (fail); shadow = the candidate with cosine 0.85, 0.65,
# 0.70 or 0.78):
#   a: old pass, candidate 0.85     b: old fail, candidate 0.65
#   c: old pass, candidate 0.70     d: old fail, candidate 0.78
# Agreement is highest for t in (0.78, 0.85], so the compromise is 0.79; there the candidate
# passes a only, and agrees with the old model on a, b and d.
CALIBRATION = {
    "qualifying": {"a": 240, "b": 200, "c": 40, "d": 20},
    "race": {"a": 260, "b": 240, "c": 40, "d": 60},
}
T_OLD, T_NEW = 0.70, 0.79

# Burn-in logs (after the promotion: canonical = the candidate at 0.79, shadow = the old model
# at 0.70), per phase as counts of (candidate verdict, old verdict): pp, pf, fp, ff.
def swap_counts(c, scale):
    return {"pp": c["a"] * scale, "pf": 0, "fp": c["c"] * scale, "ff": (c["b"] + c["d"]) * scale}


BURN_IN = {
    # the same proportions as the calibration, twice the pairs: promote to stable
    "match": {p: swap_counts(c, 2) for p, c in CALIBRATION.items()},
    # qualifying as calibrated; race passes far fewer pairs and agrees less: roll back, race
    "drift_race": {
        "qualifying": swap_counts(CALIBRATION["qualifying"], 2),
        "race": {"pp": 360, "pf": 0, "fp": 240, "ff": 600},
    },
    # the calibrated proportions, but a fifth of the pairs: keep watching
    "few": {
        "qualifying": {"pp": 48, "pf": 0, "fp": 8, "ff": 44},
        "race": {"pp": 52, "pf": 0, "fp": 8, "ff": 60},
    },
}


def expectation():
    out = {}
    for phase, c in CALIBRATION.items():
        n = sum(c.values())
        k_pass = c["a"]
        k_agree = c["a"] + c["b"] + c["d"]
        out[phase] = {
            "n": n,
            "pass_rate": {"k": k_pass, "n": n, "share": k_pass / n, "interval": wilson(k_pass, n)},
            "agreement": {"k": k_agree, "n": n, "share": k_agree / n, "interval": wilson(k_agree, n)},
        }
    return out


def scenarios(exp):
    m = 2 * len(CALIBRATION)
    alpha = ALPHA / m
    out = {}
    for name, phases in BURN_IN.items():
        sc = {"phases": {}}
        for phase, b in phases.items():
            n2 = sum(b.values())
            got = {"pass_rate": b["pp"] + b["pf"], "agreement": b["pp"] + b["ff"]}
            res = {"counts": b}
            for metric in ("pass_rate", "agreement"):
                k1, n1 = exp[phase][metric]["k"], exp[phase][metric]["n"]
                z, p = ztest(k1, n1, got[metric], n2)
                nd = needed(k1 / n1, n1, alpha)
                res[metric] = {
                    "k1": k1, "n1": n1, "k2": got[metric], "n2": n2,
                    "z": z, "p": p, "drifted": p < alpha,
                    "needed": nd["needed"], "needed_exact": nd["n2"],
                }
            sc["phases"][phase] = res
        out[name] = sc
    return out


def main():
    exp = expectation()
    m = 2 * len(CALIBRATION)
    doc = {
        "generator": "scripts/generate_burnin_refs.py",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "statsmodels": statsmodels.__version__},
        "defaults": {"alpha": ALPHA, "power": POWER, "drift": DRIFT, "tests": m, "alpha_per_test": ALPHA / m},
        "normal": {
            "cdf": [[x, float(norm.cdf(x))] for x in (-8.0, -3.5, -1.959963984540054, -0.5, 0.0, 0.3, 1.0, 2.5, 6.0)],
            "ppf": [[p, float(norm.ppf(p))] for p in (1e-10, 0.001, 0.0125 / 2, 0.025, 0.2, 0.5, 0.8, 0.975, 0.99375, 0.999999)],
        },
        "wilson": [[k, n, *wilson(k, n)] for k, n in ((0, 10), (1, 10), (7, 15), (260, 600), (560, 600), (499, 500), (5735, 5735))],
        "ztest": [[k1, n1, k2, n2, *ztest(k1, n1, k2, n2)] for k1, n1, k2, n2 in (
            (260, 600, 520, 1200), (260, 600, 360, 1200), (560, 600, 960, 1200), (5, 20, 15, 20), (0, 50, 0, 80), (50, 50, 79, 80), (1, 3, 2, 3),
        )],
        "effect_size": [[p1, p2, float(proportion_effectsize(p1, p2))] for p1, p2 in ((0.5, 0.4), (0.4333, 0.5333), (0.9333, 1.0), (0.1, 0.0))],
        "needed": [needed(p1, n1, a, pw, d) for p1, n1, a, pw, d in (
            (0.4333333333333333, 600, 0.0125, 0.8, 0.10),
            (0.48, 500, 0.0125, 0.8, 0.10),
            (0.92, 500, 0.0125, 0.8, 0.10),
            (0.5, 5735, 0.05, 0.9, 0.05),
            (0.5, 100, 0.0125, 0.8, 0.10),
            (0.0, 300, 0.05, 0.8, 0.10),
            # near 1: the upward drift cannot happen and is left out (clamped, 99.8% asked
            # for tens of thousands of pairs, 95% for a 5-point drift's count)
            (0.998, 1519, 0.0125, 0.8, 0.10),
            (0.95, 500, 0.0125, 0.8, 0.10),
            (0.9, 500, 0.0125, 0.8, 0.10),
            # a drift larger than either side's room: the farther end
            (0.3, 500, 0.05, 0.8, 0.9),
        )],
        "calibration": {"t_old": T_OLD, "t_new": T_NEW, "phases": CALIBRATION},
        "expectation": exp,
        "scenarios": scenarios(exp),
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
