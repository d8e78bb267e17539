//! The list model: one row per app registration or service principal, with everything the list needs computed once
//! per load (summary, lowercase haystack, sort keys), so that a keystroke in the filter over 50,000 rows is a scan of
//! precomputed strings and nothing else.
use crate::graph::{ObjectId, ObjectType, Owner};
use crate::inventory::{Entry, Status, Summary, Thresholds};
use chrono::{DateTime, Utc};
use std::cmp::Ordering;
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Row {
    pub entry: Entry,
    pub summary: Summary,
    /// `name appid objectid`, lowercased once.
    haystack: String,
    name_lower: String,
    /// Owners' names and UPNs, lowercased, once they are known (empty before).
    owners_lower: String,
}

impl Row {
    pub fn new(entry: Entry, now: DateTime<Utc>, t: Thresholds) -> Self {
        let summary = Summary::of(&entry, now, t);
        let name_lower = entry.display_name.to_lowercase();
        let haystack = format!(
            "{name_lower}\u{1f}{}\u{1f}{}",
            entry.app_id.as_str().to_lowercase(),
            entry.object_id.as_str().to_lowercase()
        );
        Self {
            entry,
            summary,
            haystack,
            name_lower,
            owners_lower: String::new(),
        }
    }

    pub fn set_owners(&mut self, owners: &[Owner]) {
        let mut s = String::new();
        for o in owners {
            s.push_str(&o.display_name().to_lowercase());
            s.push('\u{1f}');
            s.push_str(&o.detail().to_lowercase());
            s.push('\u{1f}');
        }
        self.owners_lower = s;
    }

    /// `needle` must already be lowercase.
    pub fn matches(&self, needle: &str) -> bool {
        needle.is_empty() || self.haystack.contains(needle) || self.owners_lower.contains(needle)
    }

    pub fn is_service_principal(&self) -> bool {
        self.entry.object_type == ObjectType::ServicePrincipal
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Soonest credential end first: what expires next.
    #[default]
    SoonestExpiry,
    /// Apps with nothing valid left first, then by the date coverage ends: what breaks next.
    CoverageEnds,
    Name,
}

impl SortKey {
    pub fn next(self) -> Self {
        match self {
            SortKey::SoonestExpiry => SortKey::CoverageEnds,
            SortKey::CoverageEnds => SortKey::Name,
            SortKey::Name => SortKey::SoonestExpiry,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::SoonestExpiry => "soonest expiry",
            SortKey::CoverageEnds => "coverage ends",
            SortKey::Name => "name",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    #[default]
    All,
    /// Expired and critical: what needs action today.
    Urgent,
    /// Expired, critical and warning.
    Due,
    ExpiredOnly,
}

impl StatusFilter {
    pub fn next(self) -> Self {
        match self {
            StatusFilter::All => StatusFilter::Urgent,
            StatusFilter::Urgent => StatusFilter::Due,
            StatusFilter::Due => StatusFilter::ExpiredOnly,
            StatusFilter::ExpiredOnly => StatusFilter::All,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            StatusFilter::All => "all statuses",
            StatusFilter::Urgent => "expired+critical",
            StatusFilter::Due => "expired+critical+warning",
            StatusFilter::ExpiredOnly => "expired only",
        }
    }

    pub fn admits(self, s: Status) -> bool {
        match self {
            StatusFilter::All => true,
            StatusFilter::Urgent => matches!(s, Status::Expired | Status::Critical),
            StatusFilter::Due => s != Status::Ok,
            StatusFilter::ExpiredOnly => s == Status::Expired,
        }
    }
}

/// What narrows the list; `needle` is lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct View {
    pub needle: String,
    pub status: StatusFilter,
    pub service_principals: bool,
}

/// All rows, their order under the current sort, and the visible subset under the current view.
#[derive(Debug, Default)]
pub struct Inventory {
    rows: Vec<Row>,
    by_id: HashMap<ObjectId, usize>,
    /// Row indices in sort order.
    order: Vec<u32>,
    /// Row indices that pass the view, in sort order.
    visible: Vec<u32>,
    sort: SortKey,
    view: View,
    /// Counts per status (index = `Status as usize`) for applications and service principals.
    counts_apps: [usize; 4],
    counts_sps: [usize; 4],
}

impl Inventory {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn visible_len(&self) -> usize {
        self.visible.len()
    }

    /// The visible row at `pos` (position in the visible list).
    pub fn visible_row(&self, pos: usize) -> Option<&Row> {
        self.visible.get(pos).map(|&i| &self.rows[i as usize])
    }

    pub fn visible_rows(&self, start: usize, len: usize) -> impl Iterator<Item = &Row> {
        let end = (start + len).min(self.visible.len());
        let start = start.min(end);
        self.visible[start..end]
            .iter()
            .map(|&i| &self.rows[i as usize])
    }

    pub fn position_of(&self, id: &ObjectId) -> Option<usize> {
        let idx = *self.by_id.get(id)? as u32;
        self.visible.iter().position(|&i| i == idx)
    }

    pub fn get(&self, id: &ObjectId) -> Option<&Row> {
        self.by_id.get(id).map(|&i| &self.rows[i])
    }

    pub fn get_mut(&mut self, id: &ObjectId) -> Option<&mut Row> {
        self.by_id.get(id).map(|&i| &mut self.rows[i])
    }

    pub fn sort_key(&self) -> SortKey {
        self.sort
    }

    pub fn view(&self) -> &View {
        &self.view
    }

    /// Counts per status in what the view shows before the text and status filters (i.e. the tenant, with or
    /// without service principals).
    pub fn counts(&self) -> [usize; 4] {
        let mut c = self.counts_apps;
        if self.view.service_principals {
            for (a, b) in c.iter_mut().zip(self.counts_sps) {
                *a += b;
            }
        }
        c
    }

    pub fn count_apps(&self) -> usize {
        self.counts_apps.iter().sum()
    }

    pub fn count_service_principals(&self) -> usize {
        self.counts_sps.iter().sum()
    }

    pub fn clear(&mut self) {
        let sort = self.sort;
        let view = std::mem::take(&mut self.view);
        *self = Self::default();
        self.sort = sort;
        self.view = view;
    }

    /// Add rows (a page as it arrives); an object seen again replaces its earlier row.
    pub fn extend(&mut self, rows: impl IntoIterator<Item = Row>) {
        for row in rows {
            let counts = if row.is_service_principal() {
                &mut self.counts_sps
            } else {
                &mut self.counts_apps
            };
            counts[row.summary.status as usize] += 1;
            match self.by_id.get(&row.entry.object_id) {
                Some(&i) => {
                    let old = std::mem::replace(&mut self.rows[i], row);
                    let counts = if old.is_service_principal() {
                        &mut self.counts_sps
                    } else {
                        &mut self.counts_apps
                    };
                    counts[old.summary.status as usize] -= 1;
                }
                None => {
                    self.by_id
                        .insert(row.entry.object_id.clone(), self.rows.len());
                    self.rows.push(row);
                }
            }
        }
        self.resort();
    }

    pub fn set_sort(&mut self, sort: SortKey) {
        self.sort = sort;
        self.resort();
    }

    fn resort(&mut self) {
        let rows = &self.rows;
        let mut order: Vec<u32> = (0..rows.len() as u32).collect();
        let cmp = |a: &u32, b: &u32| -> Ordering {
            let (a, b) = (&rows[*a as usize], &rows[*b as usize]);
            let primary = match self.sort {
                SortKey::SoonestExpiry => cmp_none_last(a.summary.soonest, b.summary.soonest),
                SortKey::CoverageEnds => coverage_rank(a).cmp(&coverage_rank(b)),
                SortKey::Name => a.name_lower.cmp(&b.name_lower),
            };
            primary
                .then_with(|| a.name_lower.cmp(&b.name_lower))
                .then_with(|| a.entry.object_id.cmp(&b.entry.object_id))
        };
        order.sort_unstable_by(cmp);
        self.order = order;
        self.refilter();
    }

    /// Apply a new view. Typing one more character only narrows, so the scan covers the current matches only.
    pub fn set_view(&mut self, view: View) {
        let narrows = view.status == self.view.status
            && view.service_principals == self.view.service_principals
            && view.needle.starts_with(&self.view.needle);
        self.view = view;
        if narrows {
            let rows = &self.rows;
            let v = &self.view;
            self.visible.retain(|&i| admits(v, &rows[i as usize]));
        } else {
            self.refilter();
        }
    }

    pub fn refilter(&mut self) {
        let rows = &self.rows;
        let v = &self.view;
        self.visible = self
            .order
            .iter()
            .copied()
            .filter(|&i| admits(v, &rows[i as usize]))
            .collect();
    }
}

fn admits(v: &View, row: &Row) -> bool {
    (v.service_principals || !row.is_service_principal())
        && v.status.admits(row.summary.status)
        && row.matches(&v.needle)
}

fn cmp_none_last(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Nothing valid left (but something that expired) ranks first, then the earliest coverage end, then apps with a
/// credential that never expires, then apps without credentials.
fn coverage_rank(r: &Row) -> (u8, Option<DateTime<Utc>>) {
    let creds = &r.entry.credentials;
    if creds.is_empty() {
        (3, None)
    } else if creds.iter().any(|c| c.end.is_none()) {
        (2, None)
    } else if let Some(d) = r.summary.covered_until {
        (1, Some(d))
    } else {
        (0, None)
    }
}
