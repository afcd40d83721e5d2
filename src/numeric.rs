//! Arithmetic that stays finite on any finite input.
//!
//! The contract accepts every finite `f64`, and two of them can still overflow: `1.7e308 -
//! -1.7e308` and `9e307 + 9e307` are infinite, and one infinity turns into NaN a step later
//! (`inf - inf`, `0 × inf`). Features, scores and running statistics therefore go through the
//! helpers here wherever a difference, sum or square of inputs is taken. They return exactly
//! the plain operation's result whenever that is finite, so ordinary data keeps its bits; only
//! results beyond `±f64::MAX` change, and they saturate there.
//!
//! ```
//! use anomaly_kit::numeric::{difference, saturate};
//! assert_eq!(difference(3.0, 1.0), 2.0);
//! assert_eq!(difference(1.7e308, -1.7e308), f64::MAX);
//! assert_eq!(saturate(f64::NEG_INFINITY), -f64::MAX);
//! assert!(saturate(f64::NAN).is_nan()); // NaN is a bug upstream, not something to hide
//! ```

/// `x` clamped to `[-f64::MAX, f64::MAX]`: infinities become the largest finite values of their
/// sign, finite values are unchanged and NaN stays NaN.
#[inline]
pub fn saturate(x: f64) -> f64 {
    x.clamp(-f64::MAX, f64::MAX)
}

/// `a - b`, saturated at `±f64::MAX` instead of overflowing to infinity.
#[inline]
pub fn difference(a: f64, b: f64) -> f64 {
    saturate(a - b)
}

/// The mean of `values`, finite for any finite values: the plain `sum / n` when the sum is
/// finite (so the same bits as before), else the sum of `value / n`, which cannot overflow.
/// `None` for no values.
///
/// ```
/// use anomaly_kit::numeric::mean;
/// assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
/// assert_eq!(mean(&[9e307, 9e307]), Some(9e307));
/// assert_eq!(mean(&[]), None);
/// ```
pub fn mean(values: &[f64]) -> Option<f64> {
    mean_of(values.iter().copied(), values.len())
}

/// [`mean`] of `n` values given as an iterator that can be walked twice (a `VecDeque`'s).
pub(crate) fn mean_of<I>(values: I, n: usize) -> Option<f64>
where
    I: Iterator<Item = f64> + Clone,
{
    if n == 0 {
        return None;
    }
    let sum: f64 = values.clone().sum();
    if sum.is_finite() {
        return Some(sum / n as f64);
    }
    let n = n as f64;
    Some(saturate(values.map(|v| v / n).sum()))
}

/// The sample standard deviation (`n - 1` in the denominator) of values whose mean is `mean`:
/// the plain formula when it is finite, else the same computed on values scaled by their
/// largest magnitude, saturated at `f64::MAX` (`[f64::MAX, -f64::MAX]` spreads wider than any
/// `f64`). `None` for fewer than two values.
///
/// ```
/// use anomaly_kit::numeric::sample_sd;
/// assert_eq!(sample_sd(&[1.0, 3.0], 2.0), Some(2f64.sqrt()));
/// let wide = sample_sd(&[1e300, -1e300], 0.0).unwrap(); // the squares overflow
/// assert!((wide / 1e300 - 2f64.sqrt()).abs() < 1e-15);
/// assert_eq!(sample_sd(&[f64::MAX, -f64::MAX], 0.0), Some(f64::MAX));
/// ```
pub fn sample_sd(values: &[f64], mean: f64) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let n1 = (values.len() - 1) as f64;
    let plain = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n1).sqrt();
    if plain.is_finite() {
        return Some(plain);
    }
    let scale = values
        .iter()
        .chain(std::iter::once(&mean))
        .fold(0f64, |m, v| m.max(v.abs()));
    let scaled = values
        .iter()
        .map(|v| (v / scale - mean / scale).powi(2))
        .sum::<f64>()
        / n1;
    Some(saturate(scale * scaled.sqrt()))
}

/// Mean and sample standard deviation (`n - 1`; 0 for a single value, NaN for none): how the
/// benchmark reports a metric over seeds.
///
/// ```
/// use anomaly_kit::numeric::mean_sd;
/// let (m, s) = mean_sd(&[1.0, 2.0, 3.0, 4.0]);
/// assert_eq!(m, 2.5);
/// assert!((s - 1.2909944487358056).abs() < 1e-15);
/// assert_eq!(mean_sd(&[5.0]), (5.0, 0.0));
/// ```
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let Some(mean) = mean(values) else {
        return (f64::NAN, f64::NAN);
    };
    (mean, sample_sd(values, mean).unwrap_or(0.0))
}

/// The median of `values` (the midpoint of the middle two for an even count); `None` for none.
///
/// ```
/// use anomaly_kit::numeric::median;
/// assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
/// assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
/// assert_eq!(median(&[f64::MAX, f64::MAX]), Some(f64::MAX));
/// assert_eq!(median(&[]), None);
/// ```
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some(v[n / 2 - 1].midpoint(v[n / 2])),
    }
}

/// The share of `true` in `flags` (0.0 for none): a flagged rate or a base rate.
///
/// ```
/// assert_eq!(anomaly_kit::numeric::share(&[true, false, false, true]), 0.5);
/// assert_eq!(anomaly_kit::numeric::share(&[]), 0.0);
/// ```
pub fn share(flags: &[bool]) -> f64 {
    flags.iter().filter(|&&f| f).count() as f64 / flags.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::any_finite;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn helpers_are_finite_and_exact_when_the_plain_result_is(
            a in any_finite(), b in any_finite(), c in any_finite(),
        ) {
            let d = difference(a, b);
            prop_assert!(d.is_finite());
            if (a - b).is_finite() {
                prop_assert_eq!(d.to_bits(), (a - b).to_bits());
            }
            let m = mean(&[a, b, c]).unwrap();
            prop_assert!(m.is_finite());
            // within the values' range, up to rounding
            let (lo, hi) = (a.min(b).min(c), a.max(b).max(c));
            let slack = 1e-12 * lo.abs().max(hi.abs()) + f64::MIN_POSITIVE;
            prop_assert!(m >= lo - slack && m <= hi + slack, "{m} outside [{a}, {b}, {c}]");
            let sd = sample_sd(&[a, b, c], m).unwrap();
            prop_assert!(sd.is_finite() && sd >= 0.0, "sd {sd}");
        }
    }
}
