//! Small statistics helpers: means, variances, autocorrelations, least squares and normal quantiles.

/// The standard normal quantile for a central 80% interval.
pub const Z80: f64 = 1.281_551_565_544_600_4;
/// The standard normal quantile for a central 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The arithmetic mean (NaN for an empty slice).
pub fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// The median (NaN for an empty slice).
pub fn median(x: &[f64]) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    let mut v = x.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// The root mean square of the finite values (0 when there are none).
pub fn rms(x: &[f64]) -> f64 {
    let (s, n) = x.iter().filter(|v| v.is_finite()).fold((0.0, 0usize), |(s, n), v| (s + v * v, n + 1));
    if n == 0 {
        0.0
    } else {
        (s / n as f64).sqrt()
    }
}

/// The sample autocorrelations at lags 1..=max_lag (zeros for a constant series).
pub fn acf(x: &[f64], max_lag: usize) -> Vec<f64> {
    let m = mean(x);
    let d: Vec<f64> = x.iter().map(|v| v - m).collect();
    let denom: f64 = d.iter().map(|v| v * v).sum();
    (1..=max_lag)
        .map(|k| if denom > 0.0 && k < d.len() { d.iter().zip(&d[k..]).map(|(a, b)| a * b).sum::<f64>() / denom } else { 0.0 })
        .collect()
}

/// The least-squares line through (t, x_t), t = 0, 1, ...: (intercept, slope).
pub fn linear_fit(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    if x.len() < 2 {
        return (x.first().copied().unwrap_or(0.0), 0.0);
    }
    let tm = (n - 1.0) / 2.0;
    let xm = mean(x);
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (t, v) in x.iter().enumerate() {
        let dt = t as f64 - tm;
        sxy += dt * (v - xm);
        sxx += dt * dt;
    }
    let slope = sxy / sxx;
    (xm - slope * tm, slope)
}

/// Whether every value equals the first (up to a relative 1e-12).
pub fn is_constant(x: &[f64]) -> bool {
    let first = x.first().copied().unwrap_or(0.0);
    x.iter().all(|v| (v - first).abs() <= 1e-12 * first.abs().max(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_match_hand_values() {
        assert_eq!(mean(&[1.0, 2.0, 6.0]), 3.0);
        assert_eq!(median(&[5.0, 1.0, 3.0, 2.0]), 2.5);
        let (a, b) = linear_fit(&[1.0, 3.0, 5.0, 7.0]);
        assert!((a - 1.0).abs() < 1e-12 && (b - 2.0).abs() < 1e-12);
        // acf of 1,2,3,4: d = -1.5,-.5,.5,1.5; denom 5; lag1 = (.75-.25+.75)/5 = 0.25
        assert!((acf(&[1.0, 2.0, 3.0, 4.0], 1)[0] - 0.25).abs() < 1e-12);
        assert!(is_constant(&[2.0, 2.0]) && !is_constant(&[2.0, 2.1]));
    }
}
