#!/usr/bin/env python3
"""The Python peer of `mba bench`: the same per-realization pipeline (draw Rayleigh gains, the
weakest requester of every sent block, optimal power control by the Lambert-W closed form,
energy-matched constant-power MBA, channel-adaptive unicast) written the way a careful
researcher would in Python:

* numba: one realization per `prange` iteration; the closed form w = W0((q - 1)/e) + 1 by
  Halley's method on (w - 1) e^w + 1 = q; a safeguarded Newton on ln(energy) in ln(beta) from
  the equal-gain solution; blocks with the same requesters grouped once per job; constant power
  by Newton in ln(p) from E / T_mba;
* numpy: the same algorithm vectorised over realizations (arrays of realizations x devices).

It reads the jobs that `mba bench --compare numba` writes (requester structure, link, and a
check set of mba's gains and latencies), times each variant on its own random gains (a warm-up
call, then calls until 0.5 s have passed, as `mba bench` does), and checks its latencies on
mba's gains against mba's, so the comparison is of the same answers.

    mba bench --backend cpu --compare numba          # runs this script, prints both
    python3 benches/peer_numba.py JOBS.json [--variant numba|numpy|both] [--threads N] [--json]
"""

import argparse
import json
import math
import sys
import time

import numpy as np

try:
    import numba
    from numba import njit, prange
except ImportError:  # the numpy variant still runs
    numba = None

MIN_SECONDS = 0.5


# ----------------------------------------------------------------------------- numba variant

if numba is not None:

    @njit(cache=True)
    def h_of(w, e):
        """h(w) = (w - 1) e^w + 1, by its series for small w (no cancellation)."""
        if w < 0.25:
            s, term = 0.0, w
            for k in range(2, 18):
                term *= w / k
                s += (k - 1) * term
            return s
        return (w - 1.0) * e + 1.0

    @njit(cache=True)
    def w_start(q, ln_q):
        """A start for w(q): the branch-point series, or the asymptote of W0 for large q."""
        if q < 1e-2:
            p = math.sqrt(2.0 * q)
            return p * (1.0 + p * (-1.0 / 3.0 + p * 11.0 / 72.0))
        if ln_q < 1.0:
            return math.sqrt(2.0 * q) if q < 0.5 else 0.5 + 0.5 * q
        return ln_q - math.log(ln_q) + 1.0 / ln_q

    @njit(cache=True)
    def w_of_q(q, w):
        """w = W0((q - 1)/e) + 1, the positive root of (w - 1) e^w + 1 = q, by Halley's method
        from `w`; cubic convergence, so a step below 1e-6 w leaves an error below 1e-17."""
        for _ in range(30):
            e = math.exp(w)
            f = h_of(w, e) - q
            d1 = w * e
            d2 = (w + 1.0) * e
            step = f / d1 / (1.0 - 0.5 * f * d2 / (d1 * d1))
            w_next = w - step
            if w_next <= 0.0:
                w_next = 0.5 * w
            if abs(w_next - w) <= 1e-6 * w:
                return w_next
            w = w_next
        return w

    @njit(cache=True)
    def equal_gain_w(r):
        """w with expm1(w)/w = r (every block at one gain)."""
        w = 2.0 * (r - 1.0) if r < 2.0 else math.log(r) + math.log(math.log(r) + 1.0)
        for _ in range(60):
            e = math.exp(w)
            m = math.expm1(w)
            w_next = w - (math.log(m / w) - math.log(r)) / (e / m - 1.0 / w)
            if not (w_next > 0.0) or abs(w_next - w) <= 1e-15 * w:
                return max(w_next, 1e-300) if w_next > 0.0 else w
            w = w_next
        return w

    @njit(cache=True)
    def energy(L, ln_a, weight, n, ws):
        """Energy at ln(beta) = L and its derivative in L (eq. 12); `ws` holds each group's w
        from the previous call as the start of the next (0 for none)."""
        e_sum, de = 0.0, 0.0
        for g in range(n):
            ln_q = ln_a[g] - L
            q = math.exp(ln_q)
            w = w_of_q(q, ws[g] if ws[g] > 0.0 else w_start(q, ln_q))
            ws[g] = w
            ew = math.exp(w)
            # e^w - 1 loses at most a bit for w >= 1 and spares an expm1
            e_sum += weight[g] * ((ew - 1.0) if w >= 1.0 else math.expm1(w)) / w
            r = q / w
            de -= weight[g] * r * r / (w * ew)
        return e_sum, de

    @njit(cache=True)
    def optimal_latency(a, ln_a, counts, n, c, budget, weight, ws):
        """Optimal PC (Proposition 2): safeguarded Newton on ln(energy) in ln(beta)."""
        if n == 0:
            return 0.0
        ws[:n] = 0.0
        inv, blocks = 0.0, 0.0
        for g in range(n):
            if not (a[g] > 0.0 and a[g] < math.inf):
                return math.inf
            inv += counts[g] / a[g]
            blocks += counts[g]
            weight[g] = counts[g] * c / a[g]
        e_min = c * inv
        if budget <= e_min:
            return math.inf
        w0 = equal_gain_w(budget / e_min)
        L = math.log(blocks / inv) - math.log(h_of(w0, math.exp(w0)))
        lo, hi = -math.inf, math.inf
        target = math.log(budget)
        for _ in range(200):
            e_sum, de = energy(L, ln_a, weight, n, ws)
            f = math.log(e_sum) - target
            if f > 0.0:
                lo = L  # too much energy: beta must grow
            else:
                hi = L
            L_next = L - f / (de / e_sum)
            # Quadratic convergence: after a Newton step below 1e-9 the error is below 1e-17.
            done = abs(L_next - L) <= 1e-9 * max(1.0, abs(L))
            if not (L_next > lo and L_next < hi):
                done = hi - lo <= 1e-15 * max(1.0, abs(L))
                if math.isinf(lo) or math.isinf(hi):
                    L_next = L + (2.0 if f > 0.0 else -2.0)
                else:
                    L_next = 0.5 * (lo + hi)
            L = L_next
            if done:
                break
        t = 0.0
        for g in range(n):
            t += counts[g] * c / w_of_q(math.exp(ln_a[g] - L), ws[g])
        return t

    @njit(cache=True)
    def constant_latency(a, counts, n, c, budget, t_mba):
        """Energy-matched constant power: Newton on ln(energy) in ln(p) from E / T_mba."""
        if n == 0:
            return 0.0
        if math.isinf(t_mba):
            return math.inf
        lp = math.log(budget / t_mba)
        t = 0.0
        for _ in range(100):
            p = math.exp(lp)
            t, d = 0.0, 0.0
            for g in range(n):
                x = p * a[g]
                r = math.log1p(x)
                t += counts[g] / r
                d += counts[g] * x / (1.0 + x) / (r * r)
            step = math.log(budget / (p * c * t)) / (1.0 - d / t)
            lp += step
            if abs(step) <= 1e-9:
                break
        p = math.exp(lp)
        t = 0.0
        for g in range(n):
            t += counts[g] / math.log1p(p * a[g])
        return c * t

    @njit(cache=True)
    def pipeline(gains, own, set_off, set_dev, set_blocks, n_model, noise, c, budget, out):
        """One realization: weakest requesters (eq. 10), then the three schemes."""
        k = gains.shape[0]
        counts = own.astype(np.float64)
        for s in range(set_blocks.shape[0]):
            best = set_dev[set_off[s]]
            for i in range(set_off[s] + 1, set_off[s + 1]):
                if gains[set_dev[i]] < gains[best]:
                    best = set_dev[i]
            counts[best] += set_blocks[s]
        a = gains / noise
        ln_a = np.log(a)
        weight, ws = np.empty(k), np.empty(k)
        ga, gl, gc = np.empty(k), np.empty(k), np.empty(k)
        n = 0
        for i in range(k):
            if counts[i] > 0:
                ga[n], gl[n], gc[n] = a[i], ln_a[i], counts[i]
                n += 1
        t_mba = optimal_latency(ga, gl, gc, n, c, budget, weight, ws)
        out[0] = t_mba
        out[1] = constant_latency(ga, gc, n, c, budget, t_mba)
        uni = np.full(k, float(n_model))
        out[2] = optimal_latency(a, ln_a, uni, k if n_model > 0 else 0, c, budget, weight, ws)

    @njit(parallel=True, cache=True)
    def run_numba(reals, k, path_loss, own, set_off, set_dev, set_blocks, n_model, noise, c,
                  budget):
        out = np.empty((reals, 3))
        for r in prange(reals):
            gains = np.empty(k)
            for i in range(k):
                gains[i] = path_loss * np.random.exponential(1.0)
            pipeline(gains, own, set_off, set_dev, set_blocks, n_model, noise, c, budget, out[r])
        return out

    @njit(parallel=True, cache=True)
    def check_numba(gains, own, set_off, set_dev, set_blocks, n_model, noise, c, budget):
        out = np.empty((gains.shape[0], 3))
        for r in prange(gains.shape[0]):
            pipeline(gains[r], own, set_off, set_dev, set_blocks, n_model, noise, c, budget,
                     out[r])
        return out


# ----------------------------------------------------------------------------- numpy variant

def h_np(w):
    """h(w) = (w - 1) e^w + 1, by its series where w < 0.25."""
    out = (w - 1.0) * np.exp(np.minimum(w, 700.0)) + 1.0
    small = w < 0.25
    if small.any():
        ws = w[small]
        s, term = np.zeros_like(ws), ws.copy()
        for k in range(2, 18):
            term *= ws / k
            s += (k - 1) * term
        out[small] = s
    return out


def w_start_np(q, ln_q):
    p = np.sqrt(2.0 * q)
    lq = np.maximum(ln_q, 1.0)
    return np.where(q < 1e-2, p * (1.0 + p * (-1.0 / 3.0 + p * 11.0 / 72.0)),
                    np.where(ln_q < 1.0, np.where(q < 0.5, p, 0.5 + 0.5 * q),
                             lq - np.log(lq) + 1.0 / lq))


def w_of_q_np(q, w):
    """w = W0((q - 1)/e) + 1 elementwise by Halley's method from `w` (cubic: a step below
    1e-6 w leaves an error below 1e-17)."""
    for _ in range(30):
        e = np.exp(w)
        f = h_np(w) - q
        d1 = w * e
        step = f / d1 / (1.0 - 0.5 * f * (w + 1.0) * e / (d1 * d1))
        w_next = w - step
        w_next = np.where(w_next > 0.0, w_next, 0.5 * w)
        done = np.all(np.abs(w_next - w) <= 1e-6 * w)
        w = w_next
        if done:
            break
    return w


def equal_gain_w_np(r):
    w = np.where(r < 2.0, 2.0 * (r - 1.0), np.log(r) + np.log(np.log(r) + 1.0))
    for _ in range(60):
        m = np.expm1(w)
        w_next = w - (np.log(m / w) - np.log(r)) / ((m + 1.0) / m - 1.0 / w)
        w_next = np.where(w_next > 0.0, w_next, w)
        done = np.all(np.abs(w_next - w) <= 1e-15 * w)
        w = w_next
        if done:
            break
    return w


def optimal_np(a, counts, c, budget):
    """Optimal PC for every row (realization); counts 0 mark absent groups."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = (counts / a).sum(axis=1)
        e_min = c * inv
        bad = ~np.all((a > 0) | (counts == 0), axis=1) | (budget <= e_min)
        ok = ~bad & (counts.sum(axis=1) > 0)
        out = np.where(counts.sum(axis=1) > 0, np.inf, 0.0)
        if not ok.any():
            return out
        a, counts, inv, e_min = a[ok], counts[ok], inv[ok], e_min[ok]
        weight = counts * c / a
        ln_a = np.log(a)
        w0 = equal_gain_w_np(budget / e_min)
        L = np.log(counts.sum(axis=1) / inv) - np.log(h_np(w0))
        lo, hi = np.full_like(L, -np.inf), np.full_like(L, np.inf)
        w = None
        for _ in range(200):
            ln_q = ln_a - L[:, None]
            q = np.exp(ln_q)
            w = w_of_q_np(q, w_start_np(q, ln_q) if w is None else w)
            e_sum = (weight * np.expm1(w) / w).sum(axis=1)
            de = -(weight * (q / w) ** 2 / (w * np.exp(w))).sum(axis=1)
            f = np.log(e_sum) - math.log(budget)
            lo = np.where(f > 0, L, lo)
            hi = np.where(f > 0, hi, L)
            L_next = L - f / (de / e_sum)
            scale = np.maximum(1.0, np.abs(L))
            converged = np.abs(L_next - L) <= 1e-9 * scale
            outside = ~((L_next > lo) & (L_next < hi))
            converged = np.where(outside, hi - lo <= 1e-15 * scale, converged)
            unbounded = np.isinf(lo) | np.isinf(hi)
            L_next = np.where(outside, np.where(unbounded, L + np.where(f > 0, 2.0, -2.0),
                                                0.5 * (lo + hi)), L_next)
            L = L_next
            if np.all(converged):
                break
        w = w_of_q_np(np.exp(ln_a - L[:, None]), w)
        out[ok] = (counts * c / w).sum(axis=1)
        return out


def constant_np(a, counts, c, budget, t_mba):
    ok = np.isfinite(t_mba) & (counts.sum(axis=1) > 0)
    out = np.where(counts.sum(axis=1) > 0, np.inf, 0.0)
    if not ok.any():
        return out
    a, counts = a[ok], counts[ok]
    lp = np.log(budget / t_mba[ok])
    for _ in range(100):
        p = np.exp(lp)[:, None]
        x = p * a
        r = np.log1p(x)
        t = (counts / r).sum(axis=1)
        d = (counts * x / (1.0 + x) / (r * r)).sum(axis=1)
        step = np.log(budget / (p[:, 0] * c * t)) / (1.0 - d / t)
        lp = lp + step
        if np.all(np.abs(step) <= 1e-9):
            break
    p = np.exp(lp)[:, None]
    out[ok] = c * (counts / np.log1p(p * a)).sum(axis=1)
    return out


def pipeline_np(gains, job, link):
    reals, k = gains.shape
    counts = np.tile(job["own"].astype(np.float64), (reals, 1))
    rows = np.arange(reals)
    off, dev, blocks = job["set_off"], job["set_dev"], job["set_blocks"]
    for s in range(blocks.shape[0]):
        members = dev[off[s]:off[s + 1]]
        weakest = members[np.argmin(gains[:, members], axis=1)]
        counts[rows, weakest] += blocks[s]
    a = gains / link["noise_w"]
    c, budget = link["c"], link["energy_j"]
    t_mba = optimal_np(a, counts, c, budget)
    t_const = constant_np(a, counts, c, budget, t_mba)
    uni = optimal_np(a, np.full_like(a, float(job["n_model"])), c, budget)
    return np.stack([t_mba, t_const, uni], axis=1)


NUMPY_CHUNK = 4096  # realizations per vectorised call: the arrays stay in cache


def run_numpy(reals, job, link, rng):
    out = []
    for start in range(0, reals, NUMPY_CHUNK):
        rows = min(NUMPY_CHUNK, reals - start)
        gains = link["path_loss"] * rng.exponential(1.0, size=(rows, job["k"]))
        out.append(pipeline_np(gains, job, link))
    return np.concatenate(out)


# ----------------------------------------------------------------------------- driver

def prepare(raw):
    """Requester sets of two or more devices grouped once per job (as mba does)."""
    k = raw["devices"]
    own = np.zeros(k, dtype=np.int64)
    sets = {}
    off, dev = raw["req_offsets"], raw["req_devices"]
    for b in range(len(off) - 1):
        members = tuple(dev[off[b]:off[b + 1]])
        if len(members) == 1:
            own[members[0]] += 1
        else:
            sets[members] = sets.get(members, 0) + 1
    set_off = np.zeros(len(sets) + 1, dtype=np.int64)
    set_dev = np.array([d for m in sets for d in m], dtype=np.int64)
    for i, m in enumerate(sets):
        set_off[i + 1] = set_off[i] + len(m)
    return {
        "k": k, "own": own, "set_off": set_off, "set_dev": set_dev,
        "set_blocks": np.array(list(sets.values()), dtype=np.int64),
        "n_model": raw["blocks_per_model"],
    }


def timed(call, reals):
    call(min(reals, 1024))  # warm-up (and numba's compilation)
    reps, start = 0, time.perf_counter()
    while reps == 0 or time.perf_counter() - start < MIN_SECONDS:
        out = call(reals)
        reps += 1
    secs = time.perf_counter() - start
    return reals * reps / secs, out


def compare(mine, theirs):
    """Largest relative latency difference, and rounds where exactly one side is an outage."""
    mine, theirs = np.asarray(mine, dtype=float), np.asarray(theirs, dtype=float)
    both = np.isfinite(mine) & np.isfinite(theirs)
    mismatch = int(np.sum(np.isfinite(mine) != np.isfinite(theirs)))
    rel = np.abs(mine[both] - theirs[both]) / np.abs(theirs[both])
    return (float(rel.max()) if rel.size else 0.0), mismatch


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("jobs", help="the JSON file `mba bench --compare numba` writes")
    ap.add_argument("--variant", choices=["numba", "numpy", "both"], default="both")
    ap.add_argument("--threads", type=int, default=None, help="numba threads (default: all)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with open(args.jobs) as f:
        spec = json.load(f)
    variants = ["numba", "numpy"] if args.variant == "both" else [args.variant]
    if "numba" in variants and numba is None:
        sys.exit("error: numba is not installed (pip install numba numpy)")
    if numba is not None and args.threads:
        numba.set_num_threads(args.threads)
    rows = []
    for raw in spec["scales"]:
        job = prepare(raw)
        link = dict(raw["link"])
        link["c"] = link["block_bits"] * math.log(2.0) / link["bandwidth_hz"]
        link["path_loss"] = raw["path_loss"]
        check = raw["check"]
        check_gains = np.array(check["gains"], dtype=float)
        reals = raw["realizations"]
        for variant in variants:
            if variant == "numba":
                jargs = (job["own"], job["set_off"], job["set_dev"], job["set_blocks"],
                         job["n_model"], link["noise_w"], link["c"], link["energy_j"])
                rate, out = timed(lambda r: run_numba(r, job["k"], link["path_loss"], *jargs),
                                  reals)
                got = check_numba(check_gains, *jargs)
                threads = numba.get_num_threads()
            else:
                rng = np.random.default_rng(1)
                rate, out = timed(lambda r: run_numpy(r, job, link, rng), reals)
                got = pipeline_np(check_gains, job, link)
                threads = 1
            errors = {}
            for i, scheme in enumerate(["mba", "constant", "unicast"]):
                rel, mismatch = compare(got[:, i], check[scheme])
                errors[scheme] = {"max_rel_error": rel, "outage_mismatches": mismatch}
            finite = out[np.isfinite(out[:, 0]), 0]
            rows.append({
                "scale": raw["scale"], "variant": variant, "threads": threads,
                "realizations": reals, "realizations_per_s": rate,
                "mean_mba_latency_s": float(finite.mean()) if finite.size else None,
                "mba_outages": int(np.sum(~np.isfinite(out[:, 0]))),
                "check_realizations": int(check_gains.shape[0]), "vs_mba": errors,
            })
    if args.json:
        json.dump({"python": sys.version.split()[0], "numpy": np.__version__,
                   "numba": numba.__version__ if numba else None, "rows": rows}, sys.stdout)
        print()
        return
    for r in rows:
        worst = max(e["max_rel_error"] for e in r["vs_mba"].values())
        print(f"{r['scale']:28} {r['variant']:6} {r['threads']:2} threads "
              f"{r['realizations_per_s']:10.4e} realizations/s, mean MBA latency "
              f"{r['mean_mba_latency_s']:.6g} s, vs mba: max rel error {worst:.1e}")


if __name__ == "__main__":
    main()
