//! The expiry timeline: how many credentials end in each of the next weeks, by the status `check` gives them now.
//! Counted from the same rows as `check` ([`super::unsorted_rows`]), so the picture and the report cannot disagree.
use super::{CredentialRow, Status};
use chrono::{DateTime, Duration, Utc};

/// 13 weeks: the next 91 days, a quarter.
pub const TIMELINE_WEEKS: usize = 13;

/// Credentials ending in `[start, end)`, counted per status (index = `Status as usize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Week {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub counts: [usize; 4],
}

impl Week {
    pub fn total(&self) -> usize {
        self.counts.iter().sum()
    }
}

/// What the timeline shows: `weeks` consecutive weeks from `now`, and what falls outside them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    pub weeks: Vec<Week>,
    /// Already expired (not on the timeline: they are the list's broken apps and stale leftovers).
    pub expired: usize,
    /// Ending after the last week, or never.
    pub later: usize,
}

/// Week `i` holds the rows whose end is in `[now + 7i days, now + 7(i+1) days)`; an end at `now` has expired.
pub fn weekly<'a>(
    rows: impl IntoIterator<Item = CredentialRow<'a>>,
    now: DateTime<Utc>,
    weeks: usize,
) -> Timeline {
    let week = Duration::days(7);
    let mut out = Timeline {
        weeks: (0..weeks)
            .map(|i| {
                let start = now + week * i as i32;
                Week {
                    start,
                    end: start + week,
                    counts: [0; 4],
                }
            })
            .collect(),
        expired: 0,
        later: 0,
    };
    for row in rows {
        match row.end_date_time {
            _ if row.status == Status::Expired => out.expired += 1,
            None => out.later += 1,
            Some(end) => {
                let i = ((end - now).num_seconds() / week.num_seconds()) as usize;
                match out.weeks.get_mut(i) {
                    Some(w) => w.counts[row.status as usize] += 1,
                    None => out.later += 1,
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{AppId, Application, KeyId, ObjectId, PasswordCredential};
    use crate::inventory::{Entry, Thresholds, unsorted_rows};
    use chrono::TimeZone;

    #[test]
    fn weeks_are_half_open_and_counted_by_status() {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
        let ends = [
            Duration::zero(),                          // expired
            Duration::seconds(1),                      // week 0, critical
            Duration::days(7) - Duration::seconds(1),  // week 0, critical
            Duration::days(7),                         // week 1, critical (within 7 days)
            Duration::days(7) + Duration::seconds(1),  // week 1, warning
            Duration::days(91) - Duration::seconds(1), // week 12, ok
            Duration::days(91),                        // later
        ];
        let entry = Entry::from_application(Application {
            id: ObjectId::new("o"),
            app_id: AppId::new("a"),
            display_name: Some("x".into()),
            created_date_time: None,
            sign_in_audience: None,
            password_credentials: ends
                .iter()
                .enumerate()
                .map(|(i, d)| PasswordCredential {
                    key_id: KeyId::new(format!("k{i}")),
                    display_name: None,
                    hint: None,
                    start_date_time: None,
                    end_date_time: Some(now + *d),
                    custom_key_identifier: None,
                })
                .collect(),
            key_credentials: vec![],
        });
        let t = weekly(
            unsorted_rows([&entry], now, Thresholds::default()),
            now,
            TIMELINE_WEEKS,
        );
        assert_eq!((t.expired, t.later), (1, 1));
        assert_eq!(t.weeks[0].counts[Status::Critical as usize], 2);
        assert_eq!(t.weeks[1].counts[Status::Critical as usize], 1);
        assert_eq!(t.weeks[1].counts[Status::Warning as usize], 1);
        assert_eq!(t.weeks[12].counts[Status::Ok as usize], 1);
        assert_eq!(t.weeks.iter().map(Week::total).sum::<usize>(), 5);
        assert_eq!(t.weeks[12].end, now + Duration::days(91));
    }
}
