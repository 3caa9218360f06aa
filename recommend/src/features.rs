//! The items' numeric features (price, counts, recency) that model plugins get beside the
//! interactions, computed from the histories a fit may see so that nothing leaks from held-out items.

/// Column names, in the order [`item_features`] writes them.
pub const ITEM_FEATURES: [&str; 6] =
    ["log_price", "log_interactions", "log_users", "mean_position", "log_days_since_last", "log_days_active"];

const DAY: f64 = 86_400.0;

/// Per item: `ln(1 + price)`, `ln(1 + interactions)`, `ln(1 + distinct users)`, the mean relative
/// position of its interactions in their users' histories (0 first, 1 last: where in a journey
/// people meet it, which works without timestamps), `ln(1 + days)` from its last interaction to
/// the newest one in the data, and `ln(1 + days)` between its first and last interaction.
/// NaN marks what is unknown: no price, never interacted with, or no times in the data.
///
/// `histories` and `times` are the kept (training) histories, oldest first; times are Unix
/// seconds, 0 where the source had none. Returns `n_items × ITEM_FEATURES.len()` values, row-major.
pub fn item_features(prices: &[Option<f64>], histories: &[&[u32]], times: &[&[i64]]) -> Vec<f32> {
    let n_items = prices.len();
    let mut interactions = vec![0u32; n_items];
    let mut users = vec![0u32; n_items];
    let mut position_sum = vec![0.0f64; n_items];
    let mut first = vec![i64::MAX; n_items];
    let mut last = vec![i64::MIN; n_items];
    let mut newest = i64::MIN;
    let mut seen_by_user = vec![usize::MAX; n_items];
    for (user, (history, history_times)) in histories.iter().zip(times).enumerate() {
        let span = history.len().saturating_sub(1).max(1) as f64;
        for (at, (&item, &ts)) in history.iter().zip(history_times.iter()).enumerate() {
            let item = item as usize;
            interactions[item] += 1;
            if seen_by_user[item] != user {
                seen_by_user[item] = user;
                users[item] += 1;
            }
            position_sum[item] += if history.len() == 1 { 0.5 } else { at as f64 / span };
            if ts > 0 {
                first[item] = first[item].min(ts);
                last[item] = last[item].max(ts);
                newest = newest.max(ts);
            }
        }
    }
    let mut values = Vec::with_capacity(n_items * ITEM_FEATURES.len());
    for item in 0..n_items {
        let timed = last[item] != i64::MIN;
        let row = [
            prices[item].filter(|price| price.is_finite() && *price >= 0.0).map_or(f64::NAN, f64::ln_1p),
            f64::from(interactions[item]).ln_1p(),
            f64::from(users[item]).ln_1p(),
            if interactions[item] > 0 { position_sum[item] / f64::from(interactions[item]) } else { f64::NAN },
            if timed { ((newest - last[item]) as f64 / DAY).ln_1p() } else { f64::NAN },
            if timed { ((last[item] - first[item]) as f64 / DAY).ln_1p() } else { f64::NAN },
        ];
        values.extend(row.iter().map(|&value| value as f32));
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_count_position_and_time_from_the_kept_histories_only() {
        let prices = [Some(9.0), None, Some(-1.0)];
        let day = 86_400;
        // Item 0: twice by user 0 (first and last), once by user 1 (its only item); item 1 once in
        // the middle; item 2 never.
        let histories: [&[u32]; 2] = [&[0, 1, 0], &[0]];
        let times: [&[i64]; 2] = [&[day, 2 * day, 4 * day], &[2 * day]];
        let values = item_features(&prices, &histories, &times);
        let row = |item: usize| &values[item * ITEM_FEATURES.len()..(item + 1) * ITEM_FEATURES.len()];
        let close = |a: f32, b: f64| (f64::from(a) - b).abs() < 1e-6;
        let item0 = row(0);
        assert!(close(item0[0], 10f64.ln()) && close(item0[1], 4f64.ln()) && close(item0[2], 3f64.ln()));
        assert!(close(item0[3], (0.0 + 1.0 + 0.5) / 3.0), "{item0:?}");
        assert!(close(item0[4], 0.0) && close(item0[5], 4f64.ln()));
        let item1 = row(1);
        assert!(item1[0].is_nan() && close(item1[3], 0.5) && close(item1[4], 3f64.ln()) && close(item1[5], 0.0));
        let item2 = row(2);
        assert!(item2[0].is_nan(), "a negative price is unknown");
        assert!(close(item2[1], 0.0) && item2[3].is_nan() && item2[4].is_nan());
        // Without times the time columns are unknown.
        let untimed = item_features(&prices, &histories, &[&[0, 0, 0], &[0]]);
        assert!(untimed[4].is_nan() && untimed[5].is_nan() && !untimed[3].is_nan());
    }
}
