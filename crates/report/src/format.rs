//! Number and text formatting shared by the sections.

/// Numbers at least this large get a thousands suffix in [`fmt_compact`]:
/// (threshold, suffix), largest first.
const MAGNITUDES: [(f64, &str); 4] = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")];
/// A compact number within this of a whole number is printed without decimals.
const WHOLE_EPSILON: f64 = 1e-9;
/// A suffixed compact number within this of a whole number is printed without decimals.
const SUFFIXED_WHOLE_EPSILON: f64 = 0.05;
/// Suffixed compact numbers from this mantissa up are printed without decimals.
const SUFFIXED_NO_DECIMALS: f64 = 100.0;
/// Below this, [`fmt_usd`] shows cents.
const USD_CENTS_BELOW: f64 = 10.0;

/// `1234567` → `1,234,567`.
pub(crate) fn fmt_int(n: u64) -> String {
    group_thousands(&n.to_string())
}

fn group_thousands(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Compact magnitude: `950`, `12.3k`, `4.5M`, `1.2B`.
pub(crate) fn fmt_compact(v: f64) -> String {
    if !v.is_finite() {
        return "—".to_string();
    }
    let a = v.abs();
    let (div, suffix) = MAGNITUDES
        .iter()
        .find(|(threshold, _)| a >= *threshold)
        .copied()
        .unwrap_or((1.0, ""));
    let x = v / div;
    if suffix.is_empty() {
        if (x - x.round()).abs() < WHOLE_EPSILON {
            format!("{x:.0}")
        } else {
            format!("{x:.1}")
        }
    } else if x.abs() >= SUFFIXED_NO_DECIMALS || (x - x.round()).abs() < SUFFIXED_WHOLE_EPSILON {
        format!("{x:.0}{suffix}")
    } else {
        format!("{x:.1}{suffix}")
    }
}

/// A score with one decimal, or "—" when it is not finite.
pub(crate) fn fmt_score(score: f64) -> String {
    if score.is_finite() {
        format!("{score:.1}")
    } else {
        "—".to_string()
    }
}

/// US dollars for the report and the CLI: `$3.46` below ten dollars, whole
/// dollars with thousands separators from there (`$1,840`), `n/a` when not finite.
///
/// ```
/// assert_eq!(goodhart_report::fmt_usd(1_234_567.0), "$1,234,567");
/// assert_eq!(goodhart_report::fmt_usd(3.456), "$3.46");
/// ```
pub fn fmt_usd(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    if x.abs() < USD_CENTS_BELOW {
        return format!("${x:.2}");
    }
    let whole = group_thousands(&format!("{:.0}", x.abs()));
    format!("{}${whole}", if x < 0.0 { "-" } else { "" })
}

/// `part` as a percentage of `whole`, never rounding a non-zero share to "0.0%"
/// or a partial one to "100.0%" (a reviewer reads "100%" accepted as "nothing
/// was quarantined").
pub(crate) fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "—".to_string();
    }
    let p = part as f64 * 100.0 / whole as f64;
    if part == 0 || part == whole {
        format!("{p:.0}%")
    } else if p < 0.01 {
        "<0.01%".to_string()
    } else if p > 99.99 {
        ">99.99%".to_string()
    } else if !(0.1..=99.9).contains(&p) {
        format!("{p:.2}%")
    } else {
        format!("{p:.1}%")
    }
}

/// "" for one, "s" for any other count.
pub(crate) fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// "is" for one, "are" for any other count.
pub(crate) fn is_are(n: u64) -> &'static str {
    if n == 1 {
        "is"
    } else {
        "are"
    }
}

/// Linear-interpolation quantile (type 7) of an ascending slice.
/// Hand-written: the workspace has no statistics crate and this is four lines.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

/// At most `max` characters, the last one an ellipsis when cut.
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_never_hide_small_shares() {
        assert_eq!(pct(431, 1_204_331), "0.04%");
        assert_eq!(pct(1_203_900, 1_204_331), "99.96%");
        assert_eq!(pct(1, 1_000_000), "<0.01%");
        assert_eq!(pct(999_999, 1_000_000), ">99.99%");
        assert_eq!(pct(1, 4), "25.0%");
        assert_eq!(pct(0, 4), "0%");
        assert_eq!(pct(4, 4), "100%");
        assert_eq!(pct(4, 0), "—");
    }

    #[test]
    fn number_formats() {
        assert_eq!(fmt_int(0), "0");
        assert_eq!(fmt_int(1234567), "1,234,567");
        assert_eq!(fmt_int(999), "999");
        assert_eq!(fmt_compact(950.0), "950");
        assert_eq!(fmt_compact(12_345.0), "12.3k");
        assert_eq!(fmt_compact(2_000_000.0), "2M");
        assert_eq!(fmt_compact(450_000.0), "450k");
        assert_eq!(fmt_compact(1.5), "1.5");
        assert_eq!(fmt_compact(3.2e12), "3.2T");
        assert_eq!(fmt_compact(f64::NAN), "—");
        assert_eq!(fmt_score(83.46), "83.5");
        assert_eq!(fmt_score(f64::NAN), "—");
    }

    #[test]
    fn usd_formats() {
        assert_eq!(fmt_usd(1840.4), "$1,840");
        assert_eq!(fmt_usd(1_234_567.0), "$1,234,567");
        assert_eq!(fmt_usd(3.456), "$3.46");
        assert_eq!(fmt_usd(999.0), "$999");
        assert_eq!(fmt_usd(-1234.0), "-$1,234");
        assert_eq!(fmt_usd(f64::INFINITY), "n/a");
    }

    #[test]
    fn quantiles_interpolate_linearly() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), Some(2.5));
        assert_eq!(quantile(&v, 0.25), Some(1.75));
        assert_eq!(quantile(&v, 0.0), Some(1.0));
        assert_eq!(quantile(&v, 1.0), Some(4.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
