//! Text helpers shared by the views. Dates are UTC and ISO-like on purpose: an on-call admin compares them with
//! portal and log timestamps, and day-month order is ambiguous across teams.
use chrono::{DateTime, Utc};

pub fn date(d: DateTime<Utc>) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub fn date_opt(d: Option<DateTime<Utc>>) -> String {
    d.map(date).unwrap_or_else(|| "never".into())
}

pub fn datetime(d: DateTime<Utc>) -> String {
    d.format("%Y-%m-%d %H:%M").to_string()
}

/// `3d`, `-12d`, or `–` when nothing expires.
pub fn days(d: Option<i64>) -> String {
    match d {
        Some(d) => format!("{d}d"),
        None => "–".into(),
    }
}

/// 50000 -> `50,000`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub use crate::clock::ago;

/// `s` cut to at most `max` terminal columns, ending in `…` when cut (wide characters count as two).
pub fn fit(s: &str, max: usize) -> String {
    let width = |c: char| ratatui::text::Span::raw(c.encode_utf8(&mut [0; 4]).to_string()).width();
    if ratatui::text::Span::raw(s).width() <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = width(c);
        if used + w + 1 > max {
            break;
        }
        used += w;
        out.push(c);
    }
    if max > 0 {
        out.push('…');
    }
    out
}

pub fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{} {one}", thousands(n))
    } else {
        format!("{} {many}", thousands(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_cuts_to_columns_with_an_ellipsis() {
        assert_eq!(fit("Payroll Sync", 12), "Payroll Sync");
        assert_eq!(fit("Payroll Sync", 8), "Payroll…");
        // Wide characters take two columns each.
        assert_eq!(fit("日本語アプリ", 7), "日本語…");
        assert_eq!(fit("abc", 0), "");
    }
    use chrono::TimeZone;

    #[test]
    fn thousands_groups() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(50_000), "50,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn ago_buckets() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now - chrono::Duration::minutes(4), now), "4 min ago");
        assert_eq!(ago(now - chrono::Duration::hours(3), now), "3 h ago");
        assert_eq!(ago(now - chrono::Duration::days(2), now), "2 d ago");
    }
}
