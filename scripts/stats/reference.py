#!/usr/bin/env python3
"""Reference values for leakhound_core::trend::sen_interval, computed independently.

    pip install scipy pymannkendall      # numpy comes with them
    python3 scripts/stats/reference.py > crates/leakhound-core/src/testdata/sen_reference.json
    python3 scripts/stats/reference.py --r2   # the R² / standard-error numbers in docs/statistics.md

Where each number comes from (see docs/statistics.md, "Test data"):

* s, var_s, z              pymannkendall.original_test (Mann 1945, Kendall 1975, Gilbert 1987).
* slope_per_hour           scipy.stats.theilslopes(x, t) * 3600.
* scipy_lower/upper        scipy.stats.theilslopes' own interval (plain Kendall variance, ranks
                           rounded half-to-even to the nearest order statistic).
* lower/upper              Gilbert (1987) §16.5.1 ranks M1 and M2 + 1 with linear interpolation
                           between neighbouring order statistics, from the plain variance.
* hr_var_s, hr_z           pymannkendall.hamed_rao_modification_test, for evenly spaced series;
                           for the uneven series (which pymannkendall cannot express: it detrends by
                           sample index) the small time-aware version below, which is asserted to
                           reproduce pymannkendall exactly on every evenly spaced case.
* hr_lower/upper           the same Gilbert interval computed from hr_var_s.

The script fails (AssertionError) rather than writing a file if pymannkendall no longer reproduces
its own published test values, or if the time-aware Hamed–Rao disagrees with pymannkendall on an
evenly spaced series.
"""

import json
import math
import sys

import numpy as np
import pymannkendall as mk
import scipy
import scipy.stats as st

# Two-sided 95 %: norm.ppf(0.975) = 1.959963984540054.
CONFIDENCE = 0.95
Z_CRIT = float(st.norm.ppf(1 - (1 - CONFIDENCE) / 2))

# Column "Bogra" of tests/data/Monthly Rainfall.csv in pyMannKendall (MIT licence,
# https://github.com/mmhs013/pyMannKendall), monthly rainfall in mm, 1981-01 .. 2010-12; None is a
# missing month. pyMannKendall's tests/test_pymannkendall.py uses exactly this series as
# `arbitrary_1d_data` and asserts the values in PUBLISHED below.
BOGRA = [
    32, 20, 25, 189, 240, 193, 379, 278, 301, 0, 0, 82,
    0, 4, None, None, 121, 234, 360, 262, 120, 30, 11, 1,
    7, 3, 31, 31, 355, 102, 248, 274, 308, None, 5, 26,
    11, 16, 6, 48, 388, 539, 431, 272, 404, 186, 0, 2,
    0, 4, 1, 54, 272, 459, 235, 164, 365, 135, 2, None,
    None, 4, 0, 128, 210, 163, 446, 225, 462, 467, 19, 13,
    0, 3, 17, 132, 178, 338, 525, 623, 145, 31, 19, 3,
    0, 29, 25, 87, 259, 756, 486, 180, 292, 43, 92, 1,
    0, 16, 2, 0, 130, 253, 594, 111, 273, 30, 0, 4,
    0, 27, 24, 41, 292, 378, 499, 265, 320, 227, 4, 0,
    4, 14, 8, 48, 416, 240, 404, 207, 733, 105, 0, 112,
    0, 14, 0, 30, 140, 202, 289, 159, 424, 106, 3, 0,
    65, 3, 14, 58, 268, 466, 432, 266, 240, 95, 1, 0,
    10, 26, 4, 114, 94, 289, 173, 208, 263, 156, 5, 0,
    16, 16, 14, 0, 111, 475, 534, 432, 471, 117, 70, 1,
    3, 28, 7, 401, 184, 283, 338, 171, 335, 176, 0, 0,
    10, 11, 9, 140, 102, 208, 298, 245, 220, 29, 2, 27,
    10, 13, 26, 84, 143, 367, 749, 563, 283, 353, 10, 0,
    0, 0, 0, 9, 246, 265, 343, 429, 168, 133, 17, 0,
    18, 35, 76, 158, 272, 250, 190, 289, 466, 84, 0, 0,
    0, 0, 0, 22, 217, 299, 185, 115, 344, 203, 8, None,
    None, 0, 5, 284, 123, 254, 476, 496, 326, 27, 20, 0,
    4, 53, 72, 113, 214, 364, 219, 220, 156, 264, 0, 13,
    0, 0, 45, 90, 137, 638, 529, 261, 206, 251, 0, 0,
    5, 9, 58, 72, 138, 130, 471, 328, 356, 523, 0, 1,
    0, 0, 12, 143, 193, 184, 192, 138, 174, 69, 1, 0,
    0, 18, 25, 28, 92, 732, 320, 256, 302, 131, 15, 0,
    27, 0, 22, 20, 213, 393, 474, 374, 109, 159, 0, 0,
    0, 3, 3, 49, 205, 128, 194, 570, 169, 89, 0, 0,
    0, 0, 0, 26, 185, 286, 92, 225, 244, 190, 3, 20,
]
# pyMannKendall 1.4.3, tests/test_pymannkendall.py (test_sens_slope, test_original_test,
# test_hamed_rao_modification_test on arbitrary_1d_data). Slope is per month.
PUBLISHED = {
    "s": -1959.0,
    "var_s": 4889800.333333333,
    "z": -0.8854562842589916,
    "slope_per_month": -0.006369426751592357,
    "hr_var_s": 259723.81316716125,
    "hr_z": -3.8419950613710894,
}


def mk_z(s, var_s):
    """Continuity-corrected Mann–Kendall Z (Gilbert 1987 eq. 16.4)."""
    if s > 0:
        return (s - 1) / math.sqrt(var_s)
    if s < 0:
        return (s + 1) / math.sqrt(var_s)
    return 0.0


def sorted_slopes(t, x):
    """All pairwise slopes with distinct times, ascending (the N' of Gilbert 1987 §16.5)."""
    dt = t[:, None] - t
    dx = x[:, None] - x
    return np.sort(dx[dt > 0] / dt[dt > 0])


def order_statistic(slopes, rank):
    """Value at a 1-based, possibly fractional rank: linear interpolation between neighbours,
    a + f * (b - a), rank clamped to [1, N']."""
    n = len(slopes)
    rank = min(max(rank, 1.0), float(n))
    k = math.floor(rank)
    frac = rank - k
    a = slopes[k - 1]
    if frac == 0.0 or k == n:
        return float(a)
    b = slopes[k]
    return float(a + frac * (b - a))


def gilbert_interval(slopes, var_s, z_crit):
    """Gilbert (1987) §16.5.1: C = z·sqrt(Var S), M1 = (N' - C)/2, M2 = (N' + C)/2; the limits are
    the M1-th and (M2 + 1)-th smallest slopes, interpolated (see order_statistic)."""
    n = len(slopes)
    c = z_crit * math.sqrt(var_s)
    return order_statistic(slopes, (n - c) / 2), order_statistic(slopes, (n + c) / 2 + 1)


def tolerant_ranks(x, trend):
    """Average ranks (1-based) of x - trend, where values closer than 1e-9 times the largest |x| or
    |trend| count as tied. Integer counts detrended with a rational slope are often exactly tied on
    paper and one rounding apart in floating point (15 - 1.2*3 vs 21 - 1.2*8); scipy.stats.rankdata
    would split such a tie depending on the rounding."""
    d = x - trend
    tol = 1e-9 * float(np.max(np.maximum(np.abs(x), np.abs(trend))))
    order = np.argsort(d, kind="stable")
    ranks = np.empty(len(d))
    start = 0
    for k in range(1, len(d) + 1):
        if k == len(d) or d[order[k]] - d[order[k - 1]] > tol:
            ranks[order[start:k]] = (start + 1 + k) / 2.0
            start = k
    return ranks


def hamed_rao_time_aware(t, x, slope_per_second):
    """Hamed & Rao (1998) n/n* exactly as pymannkendall.hamed_rao_modification_test computes it
    (all lags, ACF of the ranks with the biased 1/n autocovariance, lags outside
    ±norm.ppf(0.975)/sqrt(n) kept, no floor), except that the series is detrended with the slope
    per second times the time since the first point instead of the slope per sample times the
    sample number, and that ties are found with a tolerance (tolerant_ranks). For evenly spaced
    points without such rounding-split ties the two give the same ranks."""
    n = len(x)
    ranks = tolerant_ranks(x, slope_per_second * (t - t[0]))
    y = ranks - ranks.mean()
    acov = np.correlate(y, y, "full")[n - 1:] / n
    acf = acov / acov[0]
    bound = st.norm.ppf(1 - 0.05 / 2) / np.sqrt(n)
    total = 0.0
    for k in range(1, n):
        if not (-bound <= acf[k] <= bound):
            total += (n - k) * (n - k - 1) * (n - k - 2) * acf[k]
    return 1 + (2 / (n * (n - 1) * (n - 2))) * total


def q3(values):
    """Round to 3 decimals so that the JSON text of every input has few enough digits for any
    JSON parser (serde_json's default one included) to read back exactly the same double."""
    return np.round(np.asarray(values, dtype=float), 3)


def case(name, source, t, x, evenly_spaced, published=None):
    t = np.asarray(t, dtype=float)
    x = np.asarray(x, dtype=float)
    assert len(t) == len(x) and np.all(np.diff(t) > 0)
    n = len(x)

    orig = mk.original_test(x)
    theil = st.theilslopes(x, t, CONFIDENCE)
    slopes = sorted_slopes(t, x)
    slope_per_second = float(np.median(slopes))
    assert slope_per_second == float(theil.slope)

    # scipy's interval uses Sen's (1968) variance, which here (distinct times) is the
    # tie-corrected Kendall variance: check that it is the one pymannkendall reports.
    lower, upper = gilbert_interval(slopes, orig.var_s, Z_CRIT)

    factor_time = hamed_rao_time_aware(t, x, slope_per_second)
    out = {
        "name": name,
        "source": source,
        "evenly_spaced": evenly_spaced,
        "t": t.tolist(),
        "x": x.tolist(),
        "n": n,
        "pairs": len(slopes),
        "s": float(orig.s),
        "var_s": float(orig.var_s),
        "z": float(orig.z),
        "slope_per_hour": float(theil.slope) * 3600.0,
        "lower_per_hour": lower * 3600.0,
        "upper_per_hour": upper * 3600.0,
        "scipy_lower_per_hour": float(theil.low_slope) * 3600.0,
        "scipy_upper_per_hour": float(theil.high_slope) * 3600.0,
    }
    if evenly_spaced:
        hr = mk.hamed_rao_modification_test(x)
        assert hr.s == orig.s
        factor_pmk = hr.var_s / orig.var_s
        # pymannkendall's detrended series and its plain (rounding-sensitive) ranks.
        pmk_detrended = x - np.arange(1, n + 1) * orig.slope
        pmk_split_a_tie = not np.array_equal(
            st.rankdata(pmk_detrended), tolerant_ranks(x, np.arange(1, n + 1) * orig.slope))
        if pmk_split_a_tie:
            # Record both; the reference is the tolerant one (see tolerant_ranks).
            hr_var_s = float(orig.var_s * factor_time)
            hr_source = ("time-aware Hamed–Rao in reference.py: pymannkendall splits a tie of the "
                         "detrended values that only rounding separates")
            out["pymannkendall_hr_var_s"] = float(hr.var_s)
        else:
            assert math.isclose(factor_pmk, factor_time, rel_tol=1e-12, abs_tol=1e-12), (
                name, factor_pmk, factor_time)
            hr_var_s, hr_source = float(hr.var_s), "pymannkendall.hamed_rao_modification_test"
    else:
        hr_var_s = float(orig.var_s * factor_time)
        hr_source = "time-aware Hamed–Rao in reference.py (pymannkendall detrends by sample index)"
        # For the record: what pymannkendall says when it ignores the spacing.
        out["pymannkendall_index_detrended_hr_var_s"] = float(
            mk.hamed_rao_modification_test(x).var_s)
    hr_lower, hr_upper = gilbert_interval(slopes, hr_var_s, Z_CRIT)
    out.update({
        "hr_source": hr_source,
        "hr_var_s": hr_var_s,
        "hr_z": mk_z(orig.s, hr_var_s),
        "hr_correction": hr_var_s / float(orig.var_s),
        "hr_lower_per_hour": hr_lower * 3600.0,
        "hr_upper_per_hour": hr_upper * 3600.0,
    })
    if published is not None:
        out["published"] = published
    return out


def bogra_case():
    raw = np.array([np.nan if v is None else float(v) for v in BOGRA])
    assert len(raw) == 360
    # pymannkendall must still reproduce its own published numbers on the raw series (with gaps).
    orig = mk.original_test(raw)
    hr = mk.hamed_rao_modification_test(raw)
    got = {
        "s": float(orig.s), "var_s": float(orig.var_s), "z": float(orig.z),
        "slope_per_month": float(orig.slope), "hr_var_s": float(hr.var_s), "hr_z": float(hr.z),
    }
    assert got == PUBLISHED, got
    keep = ~np.isnan(raw)
    months = np.arange(360)[keep]
    x = raw[keep]
    # One "month" per hour of leakhound time, so slope_per_hour is the slope per month.
    t = months * 3600.0
    # The seven missing months make the series unevenly spaced in time. pymannkendall detrends the
    # 353 remaining values by their position (1..353) with the slope per real month; the time-aware
    # version detrends by the real month, which changes a few tied ranks. Check that the time-aware
    # code reproduces pymannkendall's published Hamed–Rao variance when given its positions.
    positions = np.arange(len(x), dtype=float)
    f_positions = hamed_rao_time_aware(positions, x, PUBLISHED["slope_per_month"])
    assert math.isclose(f_positions * PUBLISHED["var_s"], PUBLISHED["hr_var_s"], rel_tol=1e-12)
    published = dict(PUBLISHED)
    published["source"] = ("pyMannKendall 1.4.3 tests/test_pymannkendall.py, arbitrary_1d_data "
                           "(the Bogra column of tests/data/Monthly Rainfall.csv)")
    return case(
        "pymannkendall_bogra_rainfall",
        "pyMannKendall's published test series: 360 months of rainfall, 7 missing (dropped); "
        "t = month number * 3600 s",
        t, x, evenly_spaced=False, published=published)


def main():
    cases = [bogra_case()]

    # The scenario of docs/statistics.md: +1 goroutine/s, noise sigma 50, 5 s sampling, 5 min.
    rng = np.random.default_rng(20240601)
    t = 1_700_000_000.0 + 5.0 * np.arange(60)
    x = q3(2000.0 + 1.0 * (t - t[0]) + rng.normal(0.0, 50.0, 60))
    cases.append(case("noisy_linear", "2000 + 1/s, N(0, 50) noise, 60 points every 5 s, seed 20240601",
                      t, x, evenly_spaced=True))

    # Goroutine counts are integers: a slow climb rounded to whole numbers has many ties.
    rng = np.random.default_rng(7)
    t = 10.0 * np.arange(50)
    x = np.round(100.0 + 0.01 * t + rng.normal(0.0, 1.5, 50))
    cases.append(case("integer_ties", "round(100 + 0.01/s + N(0, 1.5)), 50 points every 10 s, seed 7",
                      t, x, evenly_spaced=True))

    # AR(1) noise (phi 0.8) on a mild trend: positive serial correlation, n/n* > 1.
    rng = np.random.default_rng(11)
    e = np.zeros(120)
    for i in range(1, 120):
        e[i] = 0.8 * e[i - 1] + rng.normal(0.0, 10.0)
    t = 5.0 * np.arange(120)
    x = q3(500.0 + 0.05 * t + e)
    cases.append(case("ar1", "500 + 0.05/s + AR(1) phi 0.8 sigma 10, 120 points every 5 s, seed 11",
                      t, x, evenly_spaced=True))

    rng = np.random.default_rng(3)
    t = 30.0 * np.arange(80)
    x = q3(1000.0 + rng.normal(0.0, 20.0, 80))
    cases.append(case("flat_noise", "1000 + N(0, 20), no trend, 80 points every 30 s, seed 3",
                      t, x, evenly_spaced=True))

    rng = np.random.default_rng(5)
    t = q3(1_700_000_000.0 + np.cumsum(rng.uniform(1.0, 20.0, 40)))
    x = q3(300.0 + 0.2 * (t - t[0]) + rng.normal(0.0, 5.0, 40))
    cases.append(case("uneven_spacing",
                      "300 + 0.2/s + N(0, 5) at 40 times 1..20 s apart (uniform), seed 5",
                      t, x, evenly_spaced=False))

    # A short series with a tie, small enough to check by hand.
    t = 60.0 * np.arange(10)
    x = np.array([10.0, 12.0, 11.0, 15.0, 15.0, 14.0, 18.0, 17.0, 21.0, 20.0])
    cases.append(case("short_with_tie", "10 points a minute apart, one tied pair",
                      t, x, evenly_spaced=True))

    doc = {
        "generator": "scripts/stats/reference.py",
        "versions": {"python": sys.version.split()[0], "numpy": np.__version__,
                     "scipy": scipy.__version__,
                     "pymannkendall": getattr(mk, "__version__", "unknown")},
        "z_crit": Z_CRIT,
        "cases": cases,
    }
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")


def r2_numbers():
    """The numbers in docs/statistics.md, "Why not R²"."""
    sigma, dt, window = 50.0, 5.0, 300.0
    n = int(window / dt)
    t = dt * np.arange(n)
    sxx = float(np.sum((t - t.mean()) ** 2))
    for slope in (1.0, 0.3):
        signal = slope ** 2 * sxx / n
        r2_population = signal / (signal + sigma ** 2)
        rng = np.random.default_rng(1)
        r2 = []
        lows = []
        for _ in range(2000):
            x = slope * t + rng.normal(0.0, sigma, n)
            r2.append(st.linregress(t, x).rvalue ** 2)
            lows.append(st.theilslopes(x, t, CONFIDENCE).low_slope)
        print(f"slope {slope}/s ({slope * 3600:.0f}/h), sigma {sigma}, {n} points every {dt} s:")
        print(f"  population R² = {r2_population:.4f}, mean sample R² over 2000 runs = "
              f"{np.mean(r2):.4f} (5th percentile {np.percentile(r2, 5):.3f}), "
              f"P(R² < 0.5) = {np.mean(np.array(r2) < 0.5):.3f}, "
              f"P(R² >= 0.85) = {np.mean(np.array(r2) >= 0.85):.3f}")
        print(f"  least-squares slope s.e. = sigma/sqrt(Sxx) = {sigma / math.sqrt(sxx):.4f}/s "
              f"({sigma / math.sqrt(sxx) * 3600:.0f}/h); z = {slope / (sigma / math.sqrt(sxx)):.1f}")
        print(f"  Sen lower 95 % limit: median {np.median(lows):.3f}/s, "
              f"5th percentile {np.percentile(lows, 5):.3f}/s")


if __name__ == "__main__":
    if sys.argv[1:] == ["--r2"]:
        r2_numbers()
    else:
        main()
