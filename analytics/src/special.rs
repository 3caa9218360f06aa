//! Special functions the likelihoods need: log-gamma, log-beta, the Gauss hypergeometric 2F1 and log-space sums.
//!
//! Hand-written rather than pulled from a crate: each is a few lines and tested against closed
//! forms. All are pure `f64 -> f64` and return NaN outside their documented domain.

/// ½·ln(2π).
const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// The coefficients B₂ₖ / (2k(2k−1)) of Stirling's series, k = 1..7.
const STIRLING: [f64; 7] = [1.0 / 12.0, -1.0 / 360.0, 1.0 / 1260.0, -1.0 / 1680.0, 1.0 / 1188.0, -691.0 / 360_360.0, 1.0 / 156.0];

/// ln Γ(x) for x > 0 (NaN for x ≤ 0 or NaN), accurate to about 1e-14 absolute.
///
/// Shifts x up to at least 10 with the recurrence Γ(x+1) = x·Γ(x), then sums Stirling's series,
/// whose first omitted term is below 3e-17 there.
pub fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if x.is_infinite() {
        return f64::INFINITY;
    }
    let mut y = x;
    let mut product = 1.0;
    while y < 10.0 {
        product *= y;
        y += 1.0;
    }
    let inv = 1.0 / y;
    let inv2 = inv * inv;
    let mut series = 0.0;
    let mut power = inv;
    for coefficient in STIRLING {
        series += coefficient * power;
        power *= inv2;
    }
    (y - 0.5) * y.ln() - y + HALF_LN_2PI + series - product.ln()
}

/// ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a+b), for a, b > 0.
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// ln(eᵃ + eᵇ) without overflow; −∞ operands are allowed.
pub fn log_add_exp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let (high, low) = if a >= b { (a, b) } else { (b, a) };
    high + (low - high).exp().ln_1p()
}

/// ln(eᵃ − eᵇ) for a ≥ b without cancellation in the exponentials; −∞ when a == b.
pub fn log_sub_exp(a: f64, b: f64) -> f64 {
    if b == f64::NEG_INFINITY {
        return a;
    }
    if b > a {
        return f64::NAN;
    }
    a + (-(b - a).exp_m1()).ln()
}

/// The most series terms [`hyp2f1`] sums before giving up (NaN).
const HYP2F1_MAX_TERMS: usize = 2_000_000;

/// The Gauss hypergeometric function ₂F₁(a, b; c; z) for real z < 1.
///
/// Sums the power series Σ (a)ₙ(b)ₙ / ((c)ₙ n!) zⁿ, first mapping z < −½ into (0, ⅓] with
/// Pfaff's transformation ₂F₁(a,b;c;z) = (1−z)^(−a) ₂F₁(a, c−b; c; z/(z−1)). The sum stops when a
/// bound on the remaining tail is below 1e-16 of it. Returns NaN for z ≥ 1, for c a non-positive
/// integer, and when the series has not converged after two million terms (z within about 1e-5
/// of 1); it is meant for the moderate z of the CLV models, not as a general-purpose 2F1.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    if !(a.is_finite() && b.is_finite() && c.is_finite() && z.is_finite()) || z >= 1.0 {
        return f64::NAN;
    }
    if c <= 0.0 && c.fract() == 0.0 {
        return f64::NAN;
    }
    if z < -0.5 {
        let w = z / (z - 1.0);
        return (1.0 - z).powf(-a) * hyp2f1_series(a, c - b, c, w);
    }
    hyp2f1_series(a, b, c, z)
}

fn hyp2f1_series(a: f64, b: f64, c: f64, z: f64) -> f64 {
    if z == 0.0 {
        return 1.0;
    }
    let limit = z.abs();
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 0..HYP2F1_MAX_TERMS {
        let k = n as f64;
        let ratio = (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        term *= ratio;
        sum += term;
        if term == 0.0 {
            return sum;
        }
        if !sum.is_finite() {
            return f64::NAN;
        }
        // Once the ratio is below one the remaining terms shrink at least like a geometric series
        // with ratio max(|ratio|, |z|) (the ratio tends to |z| from either side).
        let rho = ratio.abs().max(limit);
        if rho < 1.0 && term.abs() * rho / (1.0 - rho) <= 1e-16 * sum.abs() {
            return sum;
        }
    }
    f64::NAN
}

#[cfg(test)]
pub(crate) mod quadrature {
    //! Adaptive Gauss-Legendre integration (20-point rule checked against the 10-point one), for
    //! checking closed forms in tests.

    /// The nodes and weights of the n-point Gauss-Legendre rule on [−1, 1] (Newton on Pₙ).
    fn rule(n: usize) -> Vec<(f64, f64)> {
        (1..=n)
            .map(|i| {
                let mut x = (std::f64::consts::PI * (i as f64 - 0.25) / (n as f64 + 0.5)).cos();
                let mut derivative = 1.0;
                for _ in 0..100 {
                    let (mut p0, mut p1) = (1.0, x);
                    for k in 2..=n {
                        let k = k as f64;
                        (p0, p1) = (p1, ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k);
                    }
                    derivative = n as f64 * (x * p1 - p0) / (x * x - 1.0);
                    let step = p1 / derivative;
                    x -= step;
                    if step.abs() < 1e-16 {
                        break;
                    }
                }
                (x, 2.0 / ((1.0 - x * x) * derivative * derivative))
            })
            .collect()
    }

    fn apply(f: &dyn Fn(f64) -> f64, rule: &[(f64, f64)], a: f64, b: f64) -> f64 {
        let (mid, half) = (0.5 * (a + b), 0.5 * (b - a));
        half * rule.iter().map(|(x, w)| w * f(mid + half * x)).sum::<f64>()
    }

    /// ∫ₐᵇ f to about `tolerance` relative, starting from 16 panels and bisecting any panel whose
    /// 20- and 10-point estimates disagree.
    pub(crate) fn integrate(f: &dyn Fn(f64) -> f64, a: f64, b: f64, tolerance: f64) -> f64 {
        if a == b {
            return 0.0;
        }
        let (fine, coarse) = (rule(20), rule(10));
        let mut stack: Vec<(f64, f64, u32)> =
            (0..16).map(|i| (a + (b - a) * i as f64 / 16.0, a + (b - a) * (i + 1) as f64 / 16.0, 0)).collect();
        let scale = stack.iter().map(|(lo, hi, _)| apply(f, &fine, *lo, *hi).abs()).sum::<f64>().max(f64::MIN_POSITIVE);
        let mut total = 0.0;
        let mut panels = 0;
        while let Some((lo, hi, depth)) = stack.pop() {
            panels += 1;
            let (good, rough) = (apply(f, &fine, lo, hi), apply(f, &coarse, lo, hi));
            if (good - rough).abs() <= tolerance * scale * (hi - lo) / (b - a) || depth >= 40 || panels > 100_000 {
                total += good;
            } else {
                let mid = 0.5 * (lo + hi);
                stack.push((lo, mid, depth + 1));
                stack.push((mid, hi, depth + 1));
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, tolerance: f64) {
        assert!((actual - expected).abs() <= tolerance * expected.abs().max(1.0), "{actual} vs {expected}");
    }

    #[test]
    fn ln_gamma_matches_factorials_and_half_integers() {
        let mut factorial = 1.0_f64;
        for n in 1..30 {
            close(ln_gamma(n as f64), factorial.ln(), 1e-14);
            factorial *= n as f64;
        }
        close(ln_gamma(0.5), std::f64::consts::PI.sqrt().ln(), 1e-14);
        close(ln_gamma(1.5), (std::f64::consts::PI.sqrt() / 2.0).ln(), 1e-14);
        // Γ(x) ~ 1/x − γ near zero.
        close(ln_gamma(1e-8), -(1e-8_f64).ln() - 0.577_215_664_901_532_9 * 1e-8, 1e-14);
        // ln Γ(1000) from Stirling with its first terms, computed independently.
        let x = 1000.0_f64;
        close(ln_gamma(x), (x - 0.5) * x.ln() - x + HALF_LN_2PI + 1.0 / (12.0 * x) - 1.0 / (360.0 * x.powi(3)), 1e-15);
        assert!(ln_gamma(0.0).is_nan() && ln_gamma(-1.0).is_nan());
    }

    #[test]
    fn ln_beta_matches_closed_form() {
        // B(2, 3) = 1/12, B(0.5, 0.5) = π.
        close(ln_beta(2.0, 3.0), (1.0_f64 / 12.0).ln(), 1e-14);
        close(ln_beta(0.5, 0.5), std::f64::consts::PI.ln(), 1e-14);
    }

    #[test]
    fn hyp2f1_matches_elementary_cases() {
        // ₂F₁(1,1;2;z) = −ln(1−z)/z.
        for z in [-3.0, -0.7, -0.2, 0.1, 0.5, 0.9, 0.99] {
            close(hyp2f1(1.0, 1.0, 2.0, z), -(1.0 - z).ln() / z, 1e-13);
        }
        // ₂F₁(a,b;b;z) = (1−z)^(−a).
        for z in [-5.0, -0.3, 0.4, 0.95] {
            close(hyp2f1(0.7, 2.5, 2.5, z), (1.0 - z).powf(-0.7), 1e-13);
        }
        // ₂F₁(½,1;3/2;−z²) = arctan(z)/z.
        for zz in [0.3_f64, 0.9, 2.0] {
            close(hyp2f1(0.5, 1.0, 1.5, -zz * zz), zz.atan() / zz, 1e-13);
        }
        // A terminating series: ₂F₁(−2, b; c; z) = 1 − 2bz/c + b(b+1)z²/(c(c+1)).
        let (b, c, z) = (1.3, 2.7, 0.8);
        close(hyp2f1(-2.0, b, c, z), 1.0 - 2.0 * b * z / c + b * (b + 1.0) * z * z / (c * (c + 1.0)), 1e-14);
        assert!(hyp2f1(1.0, 1.0, 2.0, 1.0).is_nan());
        assert!(hyp2f1(1.0, 1.0, -2.0, 0.5).is_nan());
    }

    #[test]
    fn hyp2f1_matches_euler_integral() {
        // ₂F₁(a,b;c;z) = ∫₀¹ t^(b−1)(1−t)^(c−b−1)(1−zt)^(−a) dt / B(b, c−b), here with b = 2, c = 3.5.
        let (a, b, c) = (1.7, 2.0, 3.5);
        for z in [0.3, 0.8] {
            let integrand = |t: f64| t.powf(b - 1.0) * (1.0 - t).powf(c - b - 1.0) * (1.0 - z * t).powf(-a);
            let integral = quadrature::integrate(&integrand, 0.0, 1.0, 1e-13) / ln_beta(b, c - b).exp();
            close(hyp2f1(a, b, c, z), integral, 1e-9);
        }
    }

    #[test]
    fn log_sums() {
        close(log_add_exp(1.0, 2.0), (1.0_f64.exp() + 2.0_f64.exp()).ln(), 1e-15);
        close(log_add_exp(f64::NEG_INFINITY, 2.0), 2.0, 0.0);
        close(log_add_exp(1000.0, 1000.0), 1000.0 + 2.0_f64.ln(), 1e-15);
        close(log_sub_exp(2.0, 1.0), (2.0_f64.exp() - 1.0_f64.exp()).ln(), 1e-15);
        assert_eq!(log_sub_exp(3.0, 3.0), f64::NEG_INFINITY);
        assert!(log_sub_exp(1.0, 2.0).is_nan());
    }
}
