//! The Lambert-W quantity of the optimal power (eq. 11): `w = W0((q - 1)/e) + 1`, computed to full
//! f64 precision including near the branch point `q -> 0` (docs/algorithms/power-control.md).
//!
//! `w` is the positive root of `h(w) = (w - 1) e^w + 1 = q`, which follows from `W e^W = z`.
//! We start from the branch-point series or the `lambert_w` crate and polish with Newton on `h`,
//! evaluated without cancellation for small `w`.

/// `h(w) = (w - 1) e^w + 1`, cancellation-free for small `w` (series `sum_{k>=2} (k-1) w^k / k!`).
pub fn h(w: f64) -> f64 {
    if w.abs() < 0.25 {
        let mut term = w; // w^k / k! at k = 1
        let mut sum = 0.0;
        for k in 2..=24 {
            term *= w / k as f64;
            sum += (k - 1) as f64 * term;
        }
        sum
    } else {
        (w - 1.0) * w.exp() + 1.0
    }
}

/// `expm1(w) / w`, with its limit 1 at `w = 0`.
pub fn expm1_over(w: f64) -> f64 {
    if w.abs() < 1e-8 {
        1.0 + 0.5 * w
    } else {
        w.exp_m1() / w
    }
}

/// `w(q) = W0((q - 1)/e) + 1` for `q >= 0`, given `ln q` too so huge `q` never overflows.
pub fn w_of_q(q: f64, ln_q: f64) -> f64 {
    w_and_exp(q, ln_q).0
}

/// `(w(q), e^w)`: the Newton polish shares one `exp` between `h` and `h'`, and the returned
/// `e^w` spares callers another (speed; the same full-precision `w`).
pub fn w_and_exp(q: f64, ln_q: f64) -> (f64, f64) {
    if q <= 0.0 {
        return (0.0, 1.0);
    }
    if ln_q > 600.0 {
        let w = w_large(ln_q);
        return (w, w.exp());
    }
    let mut w = if q < 1e-2 {
        // Branch-point series in p = sqrt(2q): W0 + 1 = p - p^2/3 + 11 p^3/72 - 43 p^4/540 + ...
        let p = (2.0 * q).sqrt();
        p * (1.0 + p * (-1.0 / 3.0 + p * (11.0 / 72.0 + p * (-43.0 / 540.0 + p * 769.0 / 17280.0))))
    } else {
        lambert_w::lambert_w0((q - 1.0) / std::f64::consts::E) + 1.0
    };
    let mut e = w.exp();
    for _ in 0..3 {
        let Some(step) = newton_step(q, &mut w, &mut e) else {
            break;
        };
        if step.abs() <= 1e-17 * w.abs() {
            break;
        }
    }
    (w, e)
}

/// One Newton step on `h(w) = q`, updating `w` and `e = e^w` together; the step taken, or
/// `None` (nothing changed) when it is not finite.
fn newton_step(q: f64, w: &mut f64, e: &mut f64) -> Option<f64> {
    let hw = if w.abs() < 0.25 {
        h(*w)
    } else {
        (*w - 1.0) * *e + 1.0
    };
    let step = (hw - q) / (*w * *e);
    if !step.is_finite() {
        return None;
    }
    *w -= step;
    // e^(w - step) = e * e^-step; a 3-term series is exact to rounding for tiny steps.
    *e = if step.abs() < 1e-6 {
        *e * (1.0 - step * (1.0 - 0.5 * step))
    } else {
        w.exp()
    };
    Some(step)
}

/// [`w_and_exp`] warm-started from the root `w_prev` of a nearby `ln q` (within 0.05): Newton on
/// `h` converges in one or two steps there; falls back to the cold start otherwise (speed only).
pub fn w_and_exp_near(q: f64, ln_q: f64, ln_q_prev: f64, w_prev: f64, e_prev: f64) -> (f64, f64) {
    if !((ln_q - ln_q_prev).abs() < 0.05 && w_prev > 0.0 && ln_q <= 600.0 && q > 0.0) {
        return w_and_exp(q, ln_q);
    }
    let (mut w, mut e) = (w_prev, e_prev);
    for _ in 0..4 {
        let Some(step) = newton_step(q, &mut w, &mut e) else {
            break;
        };
        // Quadratic convergence: after a step below 1e-9 w the error is below ~1e-18 w.
        if step.abs() <= 1e-9 * w.abs() {
            return (w, e);
        }
    }
    w_and_exp(q, ln_q)
}

/// Large-`q` solve of `ln(w - 1) + w = ln q` (q - 1 ~ q there) by Newton.
fn w_large(ln_q: f64) -> f64 {
    let mut w = ln_q - ln_q.ln();
    for _ in 0..8 {
        let f = (w - 1.0).ln() + w - ln_q;
        w -= f / (1.0 / (w - 1.0) + 1.0);
    }
    w
}
