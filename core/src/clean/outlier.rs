//! Outlier detection on price and quantity: robust z-score (median/MAD) or Tukey's IQR fences.
//! Outliers are flagged, never dropped.

use crate::config::OutlierMethod;
use crate::record::RecordKind;

/// The (record kind, field) pairs checked for outliers.
pub const OUTLIER_FIELDS: [(RecordKind, &str); 3] =
    [(RecordKind::Item, "price"), (RecordKind::Order, "quantity"), (RecordKind::Order, "unit_price")];

/// Fewest values before any outlier is flagged: below this, spread estimates are noise.
const MIN_VALUES: usize = 8;

/// Returns the indices of `values` that are outliers.
pub fn find_outliers(values: &[f64], method: OutlierMethod, threshold: f64) -> Vec<usize> {
    if values.len() < MIN_VALUES {
        return Vec::new();
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let is_outlier: Box<dyn Fn(f64) -> bool> = match method {
        OutlierMethod::RobustZ => {
            let median = quantile(&sorted, 0.5);
            let mut deviations: Vec<f64> = sorted.iter().map(|x| (x - median).abs()).collect();
            deviations.sort_by(f64::total_cmp);
            let mad = quantile(&deviations, 0.5) * 1.4826;
            if mad == 0.0 {
                // More than half the values are equal: anything different stands out only if the
                // mean absolute deviation says so too.
                let mean_dev = deviations.iter().sum::<f64>() / deviations.len() as f64 * 1.2533;
                if mean_dev == 0.0 {
                    return Vec::new();
                }
                Box::new(move |x| (x - median).abs() / mean_dev > threshold)
            } else {
                Box::new(move |x| (x - median).abs() / mad > threshold)
            }
        }
        OutlierMethod::Iqr => {
            let (q1, q3) = (quantile(&sorted, 0.25), quantile(&sorted, 0.75));
            let iqr = q3 - q1;
            Box::new(move |x| x < q1 - threshold * iqr || x > q3 + threshold * iqr)
        }
    };
    values.iter().enumerate().filter(|(_, x)| is_outlier(**x)).map(|(index, _)| index).collect()
}

/// Linear-interpolated quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robust_z_flags_the_planted_price() {
        let mut prices = vec![10.0, 12.0, 11.0, 9.5, 10.5, 13.0, 12.5, 11.5, 10.0, 9999.0];
        assert_eq!(find_outliers(&prices, OutlierMethod::RobustZ, 3.5), vec![9]);
        prices.pop();
        assert!(find_outliers(&prices, OutlierMethod::RobustZ, 3.5).is_empty());
    }

    #[test]
    fn iqr_flags_both_tails() {
        let values = vec![-500.0, 5.0, 6.0, 5.5, 6.5, 5.2, 6.1, 5.9, 6.0, 700.0];
        assert_eq!(find_outliers(&values, OutlierMethod::Iqr, 1.5), vec![0, 9]);
    }

    #[test]
    fn constant_data_with_a_spike_still_flags_the_spike() {
        let mut values = vec![1.0; 20];
        values.push(50.0);
        assert_eq!(find_outliers(&values, OutlierMethod::RobustZ, 3.5), vec![20]);
    }

    #[test]
    fn too_few_values_flag_nothing() {
        assert!(find_outliers(&[1.0, 1000.0], OutlierMethod::RobustZ, 3.5).is_empty());
    }
}
