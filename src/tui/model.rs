//! The list model: one row per app registration or service principal, with everything the list needs computed once
//! per load (summary, lowercase haystack, sort keys), so that a keystroke in the filter over 50,000 rows is a scan of
//! precomputed strings and nothing else.
use crate::graph::{ObjectId, ObjectType, Owner};
use crate::inventory::{
    Coverage, CoverageStatus, Covered, Entry, Summary, Thresholds, next_transition,
};
use chrono::{DateTime, Utc};
use std::cmp::Ordering;
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Row {
    pub entry: Entry,
    /// Which of several tenants the row belongs to (index into the app's tenants; 0 with one tenant).
    pub tenant: u16,
    /// Classified at some instant; it holds until `next_change` (see [`Inventory::reclassify`]).
    pub summary: Summary,
    /// The app's status in the list: by when it stops working.
    pub coverage: Coverage,
    next_change: Option<DateTime<Utc>>,
    name_lower: String,
    /// Owners' names and UPNs, lowercased, once they are known (empty before).
    owners_lower: String,
}

impl Row {
    pub fn new(entry: Entry, now: DateTime<Utc>, t: Thresholds) -> Self {
        let summary = Summary::of(&entry, now, t);
        let coverage = Coverage::of(&entry, now, t);
        let next_change = next_transition(&entry, now, t);
        let name_lower = entry.display_name.to_lowercase();
        Self {
            entry,
            tenant: 0,
            summary,
            coverage,
            next_change,
            name_lower,
            owners_lower: String::new(),
        }
    }

    fn set_owners(&mut self, owners: &[Owner]) {
        let mut s = String::new();
        for o in owners {
            s.push_str(&o.display_name().to_lowercase());
            s.push(SEP);
            s.push_str(&o.detail().to_lowercase());
            s.push(SEP);
        }
        self.owners_lower = s;
    }

    pub fn is_service_principal(&self) -> bool {
        self.entry.object_type == ObjectType::ServicePrincipal
    }
}

/// Separates fields inside one row's haystack, and rows from each other: nobody types it into a filter.
const SEP: char = '\u{1f}';

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Broken apps first (nothing valid left), then by the date coverage ends: what stops working next.
    #[default]
    CoverageEnds,
    /// Soonest credential end first, expired leftovers included: what expires next, credential by credential.
    SoonestExpiry,
    Name,
}

impl SortKey {
    pub fn next(self) -> Self {
        match self {
            SortKey::CoverageEnds => SortKey::SoonestExpiry,
            SortKey::SoonestExpiry => SortKey::Name,
            SortKey::Name => SortKey::CoverageEnds,
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
    /// Broken and critical: what needs action today.
    Urgent,
    /// Broken, critical and warning.
    Due,
    BrokenOnly,
}

impl StatusFilter {
    pub fn next(self) -> Self {
        match self {
            StatusFilter::All => StatusFilter::Urgent,
            StatusFilter::Urgent => StatusFilter::Due,
            StatusFilter::Due => StatusFilter::BrokenOnly,
            StatusFilter::BrokenOnly => StatusFilter::All,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            StatusFilter::All => "all statuses",
            StatusFilter::Urgent => "broken+critical",
            StatusFilter::Due => "broken+critical+warning",
            StatusFilter::BrokenOnly => "broken only",
        }
    }

    pub fn admits(self, s: CoverageStatus) -> bool {
        match self {
            StatusFilter::All => true,
            StatusFilter::Urgent => matches!(s, CoverageStatus::Broken | CoverageStatus::Critical),
            StatusFilter::Due => s != CoverageStatus::Ok,
            StatusFilter::BrokenOnly => s == CoverageStatus::Broken,
        }
    }
}

/// What narrows the list; `needle` is lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct View {
    pub needle: String,
    pub status: StatusFilter,
    pub service_principals: bool,
    /// With several tenants, only this one's rows (the tenant switcher); `None`: all.
    pub tenant: Option<u16>,
}

/// All rows, their order under the current sort, and the visible subset under the current view.
///
/// What a keystroke touches is kept apart from the rows, contiguous: the lowercase haystacks of all rows in one
/// buffer (searched with one SIMD pass), a status/kind byte and integer sort keys per row. Filtering 50,000 rows
/// then reads a few megabytes in order instead of chasing 50,000 allocations.
#[derive(Debug, Default)]
pub struct Inventory {
    rows: Vec<Row>,
    by_id: HashMap<ObjectId, usize>,
    /// `name appid objectid` of every row, lowercased, each followed by `SEP`; row i ends at `hay_end[i]`.
    hay: String,
    hay_end: Vec<u32>,
    /// Coverage status (`CoverageStatus as u8`) in the low bits, `SP_FLAG` for service principals.
    flags: Vec<u8>,
    /// Soonest end, unix seconds (`i64::MAX` when nothing ends).
    soonest: Vec<i64>,
    coverage: Vec<(u8, i64)>,
    /// Row indices by name (then object id), and each row's position in that order: the tie-breaker of every sort.
    by_name: Vec<u32>,
    name_rank: Vec<u32>,
    /// Rows whose owners are known: few (owners load per selected row), searched one by one.
    with_owners: Vec<u32>,
    /// Row indices in sort order.
    order: Vec<u32>,
    /// Row indices that pass the view, in sort order.
    visible: Vec<u32>,
    sort: SortKey,
    view: View,
    /// Counts per coverage status (index = `CoverageStatus as usize`) for applications and service principals.
    counts_apps: [usize; 4],
    counts_sps: [usize; 4],
    /// The earliest `next_change` of all rows: before it, no row's summary can differ from a fresh one.
    next_change: Option<DateTime<Utc>>,
}

const SP_FLAG: u8 = 0b100;
const STATUS_MASK: u8 = 0b011;

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

    /// The entries the view covers before its text and status filters (what the header counts): the tenant's
    /// apps, and its service principals when they are shown.
    pub fn entries_in_view(&self) -> impl Iterator<Item = &Entry> {
        let sps = self.view.service_principals;
        self.rows
            .iter()
            .filter(move |r| sps || !r.is_service_principal())
            .map(|r| &r.entry)
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

    /// Record an app's owners so the filter finds it by owner. Returns false when the app is not in the list.
    pub fn set_owners(&mut self, id: &ObjectId, owners: &[Owner]) -> bool {
        let Some(&i) = self.by_id.get(id) else {
            return false;
        };
        self.rows[i].set_owners(owners);
        let i = i as u32;
        let known = self.with_owners.iter().position(|&r| r == i);
        match (owners.is_empty(), known) {
            (false, None) => self.with_owners.push(i),
            (true, Some(p)) => {
                self.with_owners.swap_remove(p);
            }
            _ => {}
        }
        true
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
        let first_new = self.rows.len();
        let mut replaced = false;
        for row in rows {
            self.next_change = earliest(self.next_change, row.next_change);
            let counts = if row.is_service_principal() {
                &mut self.counts_sps
            } else {
                &mut self.counts_apps
            };
            counts[row.coverage.status as usize] += 1;
            match self.by_id.get(&row.entry.object_id) {
                Some(&i) => {
                    let old = std::mem::replace(&mut self.rows[i], row);
                    let counts = if old.is_service_principal() {
                        &mut self.counts_sps
                    } else {
                        &mut self.counts_apps
                    };
                    counts[old.coverage.status as usize] -= 1;
                    replaced = true;
                }
                None => {
                    self.by_id
                        .insert(row.entry.object_id.clone(), self.rows.len());
                    self.rows.push(row);
                }
            }
        }
        if replaced {
            // Rare (an object listed twice): rebuild the derived data rather than patch it.
            self.hay.clear();
            self.hay_end.clear();
            self.flags.clear();
            self.soonest.clear();
            self.coverage.clear();
            self.by_name.clear();
            self.with_owners = (0..self.rows.len() as u32)
                .filter(|&i| !self.rows[i as usize].owners_lower.is_empty())
                .collect();
            self.index_rows(0);
        } else {
            self.index_rows(first_new);
        }
        self.resort();
    }

    /// Derived data for rows `from..`; their names are merged into `by_name`.
    fn index_rows(&mut self, from: usize) {
        for row in &self.rows[from..] {
            let e = &row.entry;
            self.hay.push_str(&row.name_lower);
            self.hay.push(SEP);
            self.hay.push_str(&e.app_id.as_str().to_lowercase());
            self.hay.push(SEP);
            self.hay.push_str(&e.object_id.as_str().to_lowercase());
            self.hay.push(SEP);
            self.hay_end.push(self.hay.len() as u32);
            let sp = if row.is_service_principal() {
                SP_FLAG
            } else {
                0
            };
            self.flags.push(row.coverage.status as u8 | sp);
            self.soonest
                .push(row.summary.soonest.map_or(i64::MAX, |d| d.timestamp()));
            let (class, date) = coverage_rank(row);
            self.coverage
                .push((class, date.map_or(i64::MAX, |d| d.timestamp())));
        }
        let rows = &self.rows;
        let by_name = |a: &u32, b: &u32| {
            let (ra, rb) = (&rows[*a as usize], &rows[*b as usize]);
            ra.name_lower
                .cmp(&rb.name_lower)
                .then_with(|| ra.entry.object_id.cmp(&rb.entry.object_id))
        };
        let mut new: Vec<u32> = (from as u32..rows.len() as u32).collect();
        new.sort_unstable_by(by_name);
        // A page is merged into the names already sorted: a few thousand comparisons instead of a full sort.
        let old = std::mem::take(&mut self.by_name);
        let mut merged = Vec::with_capacity(old.len() + new.len());
        let (mut a, mut b) = (old.into_iter().peekable(), new.into_iter().peekable());
        loop {
            let take_a = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => by_name(x, y) != Ordering::Greater,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            merged.extend(if take_a { a.next() } else { b.next() });
        }
        self.by_name = merged;
        self.name_rank = vec![0; self.rows.len()];
        for (rank, &i) in self.by_name.iter().enumerate() {
            self.name_rank[i as usize] = rank as u32;
        }
    }

    /// Classify again the rows whose statuses changed since they were classified (a warning window opened, a
    /// credential expired while the TUI was open), so that the list, its counts, filters and sort, and the detail
    /// view all speak of the same instant. Cheap when nothing changed: one comparison. Returns whether rows changed.
    pub fn reclassify(&mut self, now: DateTime<Utc>, t: Thresholds) -> bool {
        if self.next_change.is_none_or(|at| at > now) {
            return false;
        }
        self.next_change = None;
        for (i, row) in self.rows.iter_mut().enumerate() {
            if row.next_change.is_some_and(|at| at <= now) {
                let counts = if row.is_service_principal() {
                    &mut self.counts_sps
                } else {
                    &mut self.counts_apps
                };
                counts[row.coverage.status as usize] -= 1;
                row.summary = Summary::of(&row.entry, now, t);
                row.coverage = Coverage::of(&row.entry, now, t);
                row.next_change = next_transition(&row.entry, now, t);
                counts[row.coverage.status as usize] += 1;
                let sp = self.flags[i] & SP_FLAG;
                self.flags[i] = row.coverage.status as u8 | sp;
                let (class, date) = coverage_rank(row);
                self.coverage[i] = (class, date.map_or(i64::MAX, |d| d.timestamp()));
            }
            self.next_change = earliest(self.next_change, row.next_change);
        }
        self.resort();
        true
    }

    pub fn set_sort(&mut self, sort: SortKey) {
        self.sort = sort;
        self.resort();
    }

    /// Sort by integer keys only; names were ranked once when the rows arrived.
    fn resort(&mut self) {
        let rank = &self.name_rank;
        self.order = match self.sort {
            SortKey::Name => self.by_name.clone(),
            SortKey::SoonestExpiry => {
                let mut keyed: Vec<(i64, u32, u32)> = (0..self.rows.len())
                    .map(|i| (self.soonest[i], rank[i], i as u32))
                    .collect();
                keyed.sort_unstable();
                keyed.into_iter().map(|k| k.2).collect()
            }
            SortKey::CoverageEnds => {
                let mut keyed: Vec<((u8, i64), u32, u32)> = (0..self.rows.len())
                    .map(|i| (self.coverage[i], rank[i], i as u32))
                    .collect();
                keyed.sort_unstable();
                keyed.into_iter().map(|k| k.2).collect()
            }
        };
        self.refilter();
    }

    /// Apply a new view. Typing one more character only narrows, so the scan covers the current matches only.
    pub fn set_view(&mut self, view: View) {
        let narrows = view.status == self.view.status
            && view.service_principals == self.view.service_principals
            && view.tenant == self.view.tenant
            && view.needle.starts_with(&self.view.needle);
        self.view = view;
        if narrows {
            let needle = self.view.needle.clone();
            let finder = memchr::memmem::Finder::new(needle.as_bytes());
            let (hay, ends, rows) = (self.hay.as_bytes(), &self.hay_end, &self.rows);
            self.visible.retain(|&i| {
                let i = i as usize;
                let start = if i == 0 { 0 } else { ends[i - 1] as usize };
                finder.find(&hay[start..ends[i] as usize]).is_some()
                    || finder.find(rows[i].owners_lower.as_bytes()).is_some()
            });
        } else {
            self.refilter();
        }
    }

    pub fn refilter(&mut self) {
        let matched = self.text_matches();
        let flags = &self.flags;
        let v = &self.view;
        let statuses: [bool; 4] = CoverageStatus::ALL.map(|s| v.status.admits(s));
        let rows = &self.rows;
        self.visible = self
            .order
            .iter()
            .copied()
            .filter(|&i| {
                let f = flags[i as usize];
                v.tenant.is_none_or(|t| rows[i as usize].tenant == t)
                    && (v.service_principals || f & SP_FLAG == 0)
                    && statuses[(f & STATUS_MASK) as usize]
                    && matched.as_ref().is_none_or(|m| m[i as usize])
            })
            .collect();
    }

    /// Which rows contain the needle: one pass over all haystacks, then the few rows with known owners.
    fn text_matches(&self) -> Option<Vec<bool>> {
        let needle = self.view.needle.as_bytes();
        if needle.is_empty() {
            return None;
        }
        let mut matched = vec![false; self.rows.len()];
        let finder = memchr::memmem::Finder::new(needle);
        let mut row = 0usize;
        for pos in finder.find_iter(self.hay.as_bytes()) {
            // Matches come in order: walk the row cursor forward instead of searching for it.
            while row < self.hay_end.len() && self.hay_end[row] as usize <= pos {
                row += 1;
            }
            if let Some(m) = matched.get_mut(row) {
                *m = true;
            }
        }
        for &i in &self.with_owners {
            if finder
                .find(self.rows[i as usize].owners_lower.as_bytes())
                .is_some()
            {
                matched[i as usize] = true;
            }
        }
        Some(matched)
    }
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Broken apps rank first (the longest broken first), then the earliest coverage end, then apps covered by a
/// credential that never expires, then apps without credentials.
fn coverage_rank(r: &Row) -> (u8, Option<DateTime<Utc>>) {
    match r.coverage.covered {
        Covered::Broken { since } => (0, Some(since.unwrap_or(DateTime::<Utc>::MIN_UTC))),
        Covered::Until(d) => (1, Some(d)),
        Covered::Forever => (2, None),
        Covered::NoCredentials => (3, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{AppId, Application};
    use chrono::TimeZone;

    fn rows(names: &[&str]) -> Vec<Row> {
        rows_from(0, names)
    }

    fn rows_from(base: usize, names: &[&str]) -> Vec<Row> {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let i = base + i;
                let e = Entry::from_application(Application {
                    id: ObjectId::new(format!("obj-{i:04}")),
                    app_id: AppId::new(format!("APP-{i:04}")),
                    display_name: Some((*n).into()),
                    created_date_time: None,
                    sign_in_audience: None,
                    password_credentials: vec![],
                    key_credentials: vec![],
                });
                Row::new(e, now, Thresholds::default())
            })
            .collect()
    }

    fn names(inv: &Inventory) -> Vec<String> {
        (0..inv.visible_len())
            .map(|i| inv.visible_row(i).unwrap().entry.display_name.clone())
            .collect()
    }

    fn view(needle: &str) -> View {
        View {
            needle: needle.into(),
            status: StatusFilter::All,
            service_principals: true,
            tenant: None,
        }
    }

    #[test]
    fn typing_narrows_to_the_same_rows_as_a_fresh_filter() {
        let mut inv = Inventory::default();
        inv.set_sort(SortKey::Name);
        inv.extend(rows(&[
            "Payroll Sync",
            "payments",
            "Sync Daemon",
            "Ünïcode Päy",
        ]));
        inv.extend(rows_from(10, &["late page pay"]));
        for needle in ["p", "pa", "pay", "pay ", "payr", "äy", "app-000", "zz"] {
            let mut typed = Inventory::default();
            typed.set_sort(SortKey::Name);
            typed.extend(rows(&[
                "Payroll Sync",
                "payments",
                "Sync Daemon",
                "Ünïcode Päy",
            ]));
            typed.extend(rows_from(10, &["late page pay"]));
            for end in 1..=needle.chars().count() {
                typed.set_view(view(&needle.chars().take(end).collect::<String>()));
            }
            inv.set_view(view(""));
            inv.set_view(view(needle));
            assert_eq!(names(&typed), names(&inv), "needle {needle:?}");
        }
        inv.set_view(view("pay"));
        assert_eq!(
            names(&inv),
            ["late page pay", "payments", "Payroll Sync"],
            "sorted by name"
        );
    }

    #[test]
    fn a_match_never_spans_two_rows() {
        let mut inv = Inventory::default();
        // "obj-0000" ends row 0 and "b" starts row 1: "0000b" must not match across the separator.
        inv.extend(rows(&["a", "b"]));
        inv.set_view(view("0b"));
        assert_eq!(inv.visible_len(), 0);
    }

    #[test]
    fn owners_are_searchable_once_known() {
        let mut inv = Inventory::default();
        inv.extend(rows(&["one", "two"]));
        let owner = Owner::User {
            id: ObjectId::new("u1"),
            display_name: Some("Dana Reyes".into()),
            user_principal_name: Some("dana@contoso.com".into()),
            mail: None,
        };
        assert!(inv.set_owners(&ObjectId::new("obj-0001"), &[owner]));
        inv.set_view(view("dana@"));
        assert_eq!(names(&inv), ["two"]);
        inv.set_owners(&ObjectId::new("obj-0001"), &[]);
        inv.refilter();
        assert_eq!(inv.visible_len(), 0);
    }
}
