//! Warm start and refresh: show the cached inventory at once, then bring it up to date with Graph delta queries
//! (`/applications/delta`, `/servicePrincipals/delta`) from the stored delta links. Without a cache, or when Graph
//! refuses a delta token (expired, or from another tenant state), a full load runs and the cache starts anew.
//!
//! A full load asks for `$deltatoken=latest` *before* listing: a change made while the list is read is then in the
//! next delta round as well as possibly in the list, and applying it twice is harmless. Asking after the list could
//! lose such a change for good.
use super::Entry;
use super::load::{LoadOptions, Progress, RawPage, has_credentials, load_raw_streaming};
use crate::graph::client::{APPLICATION_SELECT, SERVICE_PRINCIPAL_SELECT, ops};
use crate::graph::{Application, GraphClient, GraphError, ObjectType, ServicePrincipal};
use crate::store::cache::{CacheError, CachedInventory, InventoryCache};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use std::collections::HashMap;

/// The snapshot keeps every entry; a view without service principals filters them when it reads it.
const ALL: LoadOptions = LoadOptions {
    service_principals: true,
};

/// A snapshot's entries as a view with `opts` shows them.
pub fn snapshot_entries(mut entries: Vec<Entry>, opts: LoadOptions) -> Vec<Entry> {
    if !opts.service_principals {
        entries.retain(|e| e.object_type == ObjectType::Application);
    }
    entries
}

/// The cache key of a tenant as seen through one Graph endpoint.
pub fn scope(tenant_id: &str, graph_url: &str) -> String {
    format!(
        "{}|{}",
        tenant_id.to_ascii_lowercase(),
        graph_url.trim_end_matches('/')
    )
}

/// How the inventory was brought up to date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncKind {
    /// Delta rounds applied to the cached inventory.
    Delta { changed: usize, removed: usize },
    /// A full load; `reason` says why no delta was used when there was a cache.
    Full { reason: Option<String> },
}

/// The result of a refresh.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub inventory: CachedInventory,
    pub how: SyncKind,
    /// After a delta round: every entry of the refreshed inventory, service principals included (filter with
    /// [`snapshot_entries`]), computed once for the cache's snapshot and for the caller. Empty after a full load:
    /// its entries went out page by page through `on_page`, and [`entries`] makes them again from `inventory`.
    pub entries: Vec<Entry>,
    /// A full load not yet written to the cache ([`refresh_deferred`]): write it with [`Refreshed::save`] once the
    /// operator has the list.
    pub needs_save: bool,
}

impl Refreshed {
    /// Write a full load to the cache: the Graph objects with their delta links, and the snapshot, whose entries
    /// are made from the objects one at a time (the list is never held twice).
    pub fn save(&self, cache: &mut InventoryCache, scope: &str) -> Result<(), CacheError> {
        cache.replace(scope, &self.inventory)?;
        let inv = &self.inventory;
        let sps: Vec<&ServicePrincipal> = inv
            .service_principals
            .iter()
            .filter(|sp| has_credentials(sp))
            .collect();
        let entries = || {
            inv.applications
                .iter()
                .map(|a| Entry::from_application(a.clone()))
                .chain(
                    sps.iter()
                        .map(|sp| Entry::from_service_principal((*sp).clone())),
                )
        };
        cache.save_snapshot_from(
            scope,
            inv.applications.len() + sps.len(),
            entries,
            inv.saved_at,
        )
    }

    /// How many entries a view with `opts` shows of this inventory.
    pub fn count(&self, opts: LoadOptions) -> usize {
        let sps = if opts.service_principals {
            self.inventory
                .service_principals
                .iter()
                .filter(|sp| has_credentials(sp))
                .count()
        } else {
            0
        };
        self.inventory.applications.len() + sps
    }
}

/// Inventory entries of a cached (or refreshed) inventory.
pub fn entries(inv: &CachedInventory, opts: LoadOptions) -> Vec<Entry> {
    let mut out: Vec<Entry> = crate::parallel::map_chunks(&inv.applications, |apps| {
        apps.iter()
            .cloned()
            .map(Entry::from_application)
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    if opts.service_principals {
        out.extend(
            inv.service_principals
                .iter()
                .filter(|sp| has_credentials(sp))
                .cloned()
                .map(Entry::from_service_principal),
        );
    }
    out
}

/// Bring `previous` (the cached inventory, if any) up to date and store the result in `cache`.
/// `on_page` sees the pages of a full load as they arrive; a delta refresh reports nothing until it is done.
pub async fn refresh(
    client: &GraphClient,
    mut cache: Option<&mut InventoryCache>,
    scope: &str,
    previous: Option<CachedInventory>,
    opts: LoadOptions,
    now: DateTime<Utc>,
    on_page: impl FnMut(Vec<Entry>, Progress),
) -> Result<Refreshed, GraphError> {
    let mut refreshed = refresh_deferred(
        client,
        cache.as_deref_mut(),
        scope,
        previous,
        opts,
        now,
        on_page,
    )
    .await?;
    if refreshed.needs_save
        && let Some(c) = cache
    {
        if let Err(e) = refreshed.save(c, scope) {
            tracing::warn!(error = %e, "could not save the inventory cache");
        }
        refreshed.needs_save = false;
    }
    Ok(refreshed)
}

/// [`refresh`], except that a full load is not written to the cache: `needs_save` is set and the caller writes it
/// with [`Refreshed::save`] off the critical path (the TUI does so after it has shown the loaded list). A delta
/// round is small and is written at once.
pub async fn refresh_deferred(
    client: &GraphClient,
    cache: Option<&mut InventoryCache>,
    scope: &str,
    previous: Option<CachedInventory>,
    opts: LoadOptions,
    now: DateTime<Utc>,
    mut on_page: impl FnMut(Vec<Entry>, Progress),
) -> Result<Refreshed, GraphError> {
    let mut cache = cache;
    let mut reason = None;
    if let Some(prev) = previous {
        match delta_refresh(client, cache.as_deref_mut(), scope, prev, opts, now).await {
            Ok(r) => return Ok(r),
            Err(DeltaFailure::Fallback(why)) => {
                tracing::info!(%why, "delta refresh not possible; loading in full");
                reason = Some(why);
            }
            Err(DeltaFailure::Graph(e)) => return Err(e),
        }
    }
    // Delta links only speed up the next start: a tenant or proxy that refuses delta queries still gets its
    // inventory, just without a warm refresh next time. Both are asked for at once (one round trip), and before
    // the listing starts (see the module docs).
    let (application_delta, service_principal_delta) =
        futures::join!(optional_link(client, ObjectType::Application), async {
            if opts.service_principals {
                optional_link(client, ObjectType::ServicePrincipal).await
            } else {
                None
            }
        });
    let mut applications = Vec::new();
    let mut service_principals = Vec::new();
    load_raw_streaming(client, opts, |page, progress| {
        match &page {
            RawPage::Applications(a) => applications.extend(a.iter().cloned()),
            RawPage::ServicePrincipals(s) => service_principals.extend(s.iter().cloned()),
        }
        on_page(page.into_entries(), progress);
    })
    .await?;
    let inventory = CachedInventory {
        saved_at: now,
        applications,
        service_principals,
        application_delta,
        service_principal_delta,
    };
    Ok(Refreshed {
        inventory,
        how: SyncKind::Full { reason },
        entries: Vec::new(),
        needs_save: cache.is_some(),
    })
}

enum DeltaFailure {
    /// The delta cannot be used (no link, token refused, an item that cannot be merged): load in full.
    Fallback(String),
    /// A failure a full load would hit too (network, sign-in, permission): report it.
    Graph(GraphError),
}

async fn delta_refresh(
    client: &GraphClient,
    cache: Option<&mut InventoryCache>,
    scope: &str,
    mut inv: CachedInventory,
    opts: LoadOptions,
    now: DateTime<Utc>,
) -> Result<Refreshed, DeltaFailure> {
    let app_link = inv
        .application_delta
        .clone()
        .ok_or_else(|| DeltaFailure::Fallback("the cache has no delta link".into()))?;
    let sp_link = match (opts.service_principals, &inv.service_principal_delta) {
        (false, _) => None,
        (true, Some(l)) => Some(l.clone()),
        (true, None) => {
            return Err(DeltaFailure::Fallback(
                "the cache has no service principal delta link".into(),
            ));
        }
    };
    // Fetch both rounds before changing anything, so a failure leaves the cache as it was.
    let app_round = delta_round(client, app_link).await?;
    let sp_round = match sp_link {
        Some(l) => Some(delta_round(client, l).await?),
        None => None,
    };
    let mut changed = 0;
    let mut removed = 0;
    let app_changes = merge_round(&mut inv.applications, &app_round, |a: &Application| {
        a.id.as_str()
    })?;
    changed += app_changes.changed.len();
    removed += app_changes.removed.len();
    inv.application_delta = Some(app_round.delta_link.clone());
    let sp_changes = match &sp_round {
        Some(round) => {
            let mut c = merge_round(
                &mut inv.service_principals,
                round,
                |s: &ServicePrincipal| s.id.as_str(),
            )?;
            // Like a full load, keep only service principals with credentials of their own: one that has none
            // (new, or its last credential removed) leaves the cache.
            let bare: Vec<String> = inv
                .service_principals
                .iter()
                .filter(|sp| !has_credentials(sp))
                .map(|sp| sp.id.to_string())
                .collect();
            inv.service_principals.retain(has_credentials);
            c.changed.retain(|(id, _)| !bare.contains(id));
            c.removed.extend(bare);
            changed += c.changed.len();
            removed += c.removed.len();
            inv.service_principal_delta = Some(round.delta_link.clone());
            Some(c)
        }
        None => None,
    };
    inv.saved_at = now;
    let all = entries(&inv, ALL);
    if let Some(c) = cache {
        let mut save = c.apply_delta(
            scope,
            ObjectType::Application,
            &app_changes.changed,
            &app_changes.removed,
            &app_round.delta_link,
            now,
        );
        if let (Ok(()), Some(sc), Some(round)) = (&save, &sp_changes, &sp_round) {
            save = c.apply_delta(
                scope,
                ObjectType::ServicePrincipal,
                &sc.changed,
                &sc.removed,
                &round.delta_link,
                now,
            );
        }
        let save = save.and_then(|()| c.save_snapshot(scope, &all, now));
        if let Err(e) = save {
            tracing::warn!(error = %e, "could not save the delta to the inventory cache");
        }
    }
    Ok(Refreshed {
        inventory: inv,
        how: SyncKind::Delta { changed, removed },
        entries: all,
        needs_save: false,
    })
}

/// All pages of one delta round.
struct DeltaRound {
    items: Vec<serde_json::Value>,
    delta_link: String,
}

#[derive(serde::Deserialize)]
struct DeltaPage {
    #[serde(default)]
    value: Vec<serde_json::Value>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    delta_link: Option<String>,
}

async fn delta_round(client: &GraphClient, link: String) -> Result<DeltaRound, DeltaFailure> {
    let mut items = Vec::new();
    let mut next = link;
    let mut pages = 0u32;
    loop {
        pages += 1;
        if pages > client.limits().max_pages {
            return Err(DeltaFailure::Graph(
                client.too_many_pages(ops::LIST_APPLICATIONS),
            ));
        }
        let page: DeltaPage = match client.get_json(&next, ops::LIST_APPLICATIONS).await {
            Ok(p) => p,
            // Microsoft documents an expired delta token only as "a 40X-series error" (400 and 410 seen, 404
            // syncStateNotFound named): any 4xx but 401/403/429 (which a full load meets too) means load in full.
            Err(GraphError::BadRequest {
                status,
                code,
                message,
                ..
            }) if (400..500).contains(&status) => {
                return Err(DeltaFailure::Fallback(format!(
                    "Graph refused the stored delta token (HTTP {status} {code}: {message})"
                )));
            }
            Err(GraphError::NotFound { message, .. }) => {
                return Err(DeltaFailure::Fallback(format!(
                    "Graph does not know the stored delta token (HTTP 404: {message})"
                )));
            }
            Err(e) => return Err(DeltaFailure::Graph(e)),
        };
        items.extend(page.value);
        match (page.next_link, page.delta_link) {
            (Some(n), _) => next = n,
            (None, Some(d)) => {
                return Ok(DeltaRound {
                    items,
                    delta_link: d,
                });
            }
            (None, None) => {
                return Err(DeltaFailure::Fallback(
                    "a delta page had neither nextLink nor deltaLink".into(),
                ));
            }
        }
    }
}

struct Merged {
    /// (id, object JSON) of every object added or changed.
    changed: Vec<(String, String)>,
    removed: Vec<String>,
}

/// Apply delta items to `objects`: `@removed` deletes, anything else is merged property by property over the cached
/// object (Graph sends "at least the properties that have been updated"), or added when new. Graph may send one
/// object several times in a round; later items win.
fn merge_round<T>(
    objects: &mut Vec<T>,
    round: &DeltaRound,
    id_of: impl Fn(&T) -> &str,
) -> Result<Merged, DeltaFailure>
where
    T: DeserializeOwned + serde::Serialize,
{
    let index: HashMap<&str, usize> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| (id_of(o), i))
        .collect();
    // Per id, in first-seen order: the merged JSON, or None when the round removed it.
    let mut order: Vec<String> = Vec::new();
    let mut latest: HashMap<String, Option<serde_json::Value>> = HashMap::new();
    for item in &round.items {
        let Some(id) = item.get("id").and_then(|v| v.as_str()).map(str::to_string) else {
            return Err(DeltaFailure::Fallback("a delta item has no id".into()));
        };
        if !latest.contains_key(&id) {
            order.push(id.clone());
        }
        if item.get("@removed").is_some() {
            latest.insert(id, None);
            continue;
        }
        let base = match latest.get(&id) {
            Some(Some(v)) => v.clone(),
            Some(None) => serde_json::Value::Object(Default::default()),
            None => match index.get(id.as_str()) {
                Some(&i) => serde_json::to_value(&objects[i]).unwrap_or_default(),
                None => serde_json::Value::Object(Default::default()),
            },
        };
        let mut merged = base;
        if let (Some(m), Some(src)) = (merged.as_object_mut(), item.as_object()) {
            for (k, v) in src {
                if !k.starts_with('@') && !k.contains("@odata") {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
        latest.insert(id, Some(merged));
    }
    let mut out = Merged {
        changed: Vec::new(),
        removed: Vec::new(),
    };
    let mut replace: Vec<(usize, T)> = Vec::new();
    let mut added: Vec<T> = Vec::new();
    let mut drop = vec![false; objects.len()];
    for id in order {
        match latest.remove(&id).flatten() {
            None => {
                if let Some(&i) = index.get(id.as_str()) {
                    drop[i] = true;
                }
                out.removed.push(id);
            }
            Some(json) => {
                let obj: T = serde_json::from_value(json.clone()).map_err(|e| {
                    DeltaFailure::Fallback(format!("a delta item for {id} cannot be merged ({e})"))
                })?;
                match index.get(id.as_str()) {
                    Some(&i) => replace.push((i, obj)),
                    None => added.push(obj),
                }
                out.changed.push((id, json.to_string()));
            }
        }
    }
    for (i, obj) in replace {
        objects[i] = obj;
        drop[i] = false;
    }
    let mut keep = drop.into_iter().map(|d| !d);
    objects.retain(|_| keep.next().unwrap_or(true));
    objects.extend(added);
    Ok(out)
}

async fn optional_link(client: &GraphClient, kind: ObjectType) -> Option<String> {
    match latest_link(client, kind).await {
        Ok(link) => Some(link),
        Err(e) => {
            tracing::warn!(error = %e, ?kind, "no delta link: the next start loads in full");
            None
        }
    }
}

/// `$deltatoken=latest`: a delta link that starts from now, without reading the collection.
async fn latest_link(client: &GraphClient, kind: ObjectType) -> Result<String, GraphError> {
    let select = match kind {
        ObjectType::Application => APPLICATION_SELECT,
        ObjectType::ServicePrincipal => SERVICE_PRINCIPAL_SELECT,
    };
    let url = client.url(&format!(
        "{}/delta?$select={select}&$deltatoken=latest",
        kind.collection()
    ));
    let page: DeltaPage = client.get_json(&url, ops::LIST_APPLICATIONS).await?;
    page.delta_link.ok_or_else(|| GraphError::Malformed {
        operation: ops::LIST_APPLICATIONS.name,
        detail: "the delta answer has no @odata.deltaLink".into(),
        body_excerpt: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(id: &str, name: &str) -> Application {
        serde_json::from_value(json!({"id": id, "appId": format!("a-{id}"), "displayName": name}))
            .unwrap()
    }

    #[test]
    fn merge_adds_changes_and_removes() {
        let mut objects = vec![app("1", "one"), app("2", "two"), app("3", "three")];
        let round = DeltaRound {
            items: vec![
                json!({"id": "2", "displayName": "two renamed"}),
                json!({"id": "3", "@removed": {"reason": "deleted"}}),
                json!({"id": "4", "appId": "a-4", "displayName": "four", "passwordCredentials": []}),
            ],
            delta_link: "next".into(),
        };
        let m = merge_round(&mut objects, &round, |a: &Application| a.id.as_str())
            .ok()
            .unwrap();
        let names: Vec<_> = objects
            .iter()
            .map(|a| a.display_name.clone().unwrap())
            .collect();
        assert_eq!(names, vec!["one", "two renamed", "four"]);
        // The partial item kept the cached appId.
        assert_eq!(objects[1].app_id.as_str(), "a-2");
        assert_eq!(m.changed.len(), 2);
        assert_eq!(m.removed, vec!["3".to_string()]);
    }

    #[test]
    fn repeated_items_in_one_round() {
        let mut objects = vec![app("1", "one")];
        let round = DeltaRound {
            items: vec![
                json!({"id": "5", "appId": "a-5", "displayName": "five"}),
                json!({"id": "5", "displayName": "five again"}),
                json!({"id": "1", "@removed": {"reason": "changed"}}),
                json!({"id": "1", "appId": "a-1", "displayName": "one restored"}),
            ],
            delta_link: "next".into(),
        };
        let m = merge_round(&mut objects, &round, |a: &Application| a.id.as_str())
            .ok()
            .unwrap();
        let names: Vec<_> = objects
            .iter()
            .map(|a| a.display_name.clone().unwrap())
            .collect();
        assert_eq!(names, vec!["one restored", "five again"]);
        assert!(m.removed.is_empty());
    }

    #[test]
    fn unmergeable_item_falls_back() {
        let mut objects = vec![app("1", "one")];
        // A new object without appId cannot become an Application.
        let round = DeltaRound {
            items: vec![json!({"id": "9", "displayName": "partial"})],
            delta_link: "next".into(),
        };
        assert!(matches!(
            merge_round(&mut objects, &round, |a: &Application| a.id.as_str()),
            Err(DeltaFailure::Fallback(_))
        ));
    }
}
