//! Warm start and delta refresh against the emulator: the cache survives a restart, deltas carry adds, changes and
//! removals, a refused delta token falls back to a full load, and a corrupt cache is discarded with a warning.
use crate::support;
use keyturn::emulator::{AppChange, EmulatorConfig, TenantSource};
use keyturn::graph::ObjectType;
use keyturn::inventory::load::LoadOptions;
use keyturn::inventory::sync::{self, SyncKind};
use keyturn::store::cache::{CachedInventory, InventoryCache};
use std::collections::BTreeMap;

/// id -> (name, sorted credential keyIds): what the inventory must agree on.
/// The entries on which two fingerprints disagree (readable where a whole-map assert_eq would print 1,500 apps).
fn differences(
    a: &BTreeMap<String, (Option<String>, Vec<String>)>,
    b: &BTreeMap<String, (Option<String>, Vec<String>)>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => out.push(format!("only in the first: {k} {v:?}")),
            Some(w) if w != v => out.push(format!("{k}: {v:?} != {w:?}")),
            _ => {}
        }
    }
    out.extend(
        b.keys()
            .filter(|k| !a.contains_key(*k))
            .map(|k| format!("only in the second: {k} {:?}", b[k])),
    );
    out
}

fn fingerprint(inv: &CachedInventory) -> BTreeMap<String, (Option<String>, Vec<String>)> {
    let mut out = BTreeMap::new();
    for a in &inv.applications {
        let mut keys: Vec<String> = a
            .password_credentials
            .iter()
            .map(|p| p.key_id.to_string())
            .chain(a.key_credentials.iter().map(|k| k.key_id.to_string()))
            .collect();
        keys.sort();
        out.insert(format!("app/{}", a.id), (a.display_name.clone(), keys));
    }
    for s in &inv.service_principals {
        let mut keys: Vec<String> = s
            .password_credentials
            .iter()
            .map(|p| p.key_id.to_string())
            .collect();
        keys.sort();
        out.insert(format!("sp/{}", s.id), (s.display_name.clone(), keys));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_survives_restart_and_delta_carries_adds_changes_removals() {
    let emu = support::start(EmulatorConfig {
        tenant: TenantSource::Generated {
            apps: 1_500,
            seed: 3,
        },
        ..EmulatorConfig::default()
    })
    .await;
    let session = support::session(&emu);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.sqlite");
    let scope = sync::scope(&session.tenant_id, &emu.info().graph_url);
    let opts = LoadOptions::default();
    let now = chrono::Utc::now();

    let (mut cache, warning) = InventoryCache::open(&path).unwrap();
    assert!(warning.is_none());
    let mut pages = 0;
    let first = sync::refresh(
        &session.graph,
        Some(&mut cache),
        &scope,
        None,
        opts,
        now,
        |_, _| pages += 1,
    )
    .await
    .unwrap();
    assert_eq!(first.how, SyncKind::Full { reason: None });
    assert!(pages >= 2, "1,500 apps come in two pages of 999: {pages}");
    assert_eq!(first.inventory.applications.len(), 1_500);
    drop(cache);

    // A restart: the cache reopens with the same inventory and delta links.
    let (mut cache, warning) = InventoryCache::open(&path).unwrap();
    assert!(warning.is_none());
    let cached = cache
        .load(&scope)
        .unwrap()
        .expect("the cache has this tenant");
    assert_eq!(
        differences(&fingerprint(&cached), &fingerprint(&first.inventory)),
        Vec::<String>::new()
    );
    assert!(cached.application_delta.is_some() && cached.service_principal_delta.is_some());
    // The warm-start snapshot holds exactly the entries the objects give.
    let snapshot = cache
        .load_snapshot(&scope)
        .unwrap()
        .expect("a snapshot")
        .entries;
    let expected = sync::entries(&first.inventory, opts);
    assert_eq!(snapshot.len(), expected.len());
    assert!(
        snapshot == expected,
        "the snapshot differs from the objects' entries"
    );

    // Nothing changed: an empty delta.
    let again = sync::refresh(
        &session.graph,
        Some(&mut cache),
        &scope,
        Some(cached),
        opts,
        now,
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(
        again.how,
        SyncKind::Delta {
            changed: 0,
            removed: 0
        }
    );

    // Changes behind keyturn's back: a new app, a rename, a deletion, a new secret.
    let victim = first.inventory.applications[10].id.to_string();
    let renamed = first.inventory.applications[20].id.to_string();
    let rotated = first.inventory.applications[30].id.clone();
    let (new_id, _) = emu.create_app("Added after the cache");
    assert!(emu.mutate_app(&victim, AppChange::Delete));
    assert!(emu.mutate_app(&renamed, AppChange::Rename("Renamed in the portal".into())));
    let secret = session
        .graph
        .add_password(ObjectType::Application, &rotated, "delta test", None)
        .await
        .unwrap();

    let cached = cache.load(&scope).unwrap().unwrap();
    let delta = sync::refresh(
        &session.graph,
        Some(&mut cache),
        &scope,
        Some(cached),
        opts,
        now,
        |_, _| {},
    )
    .await
    .unwrap();
    let SyncKind::Delta { changed, removed } = delta.how else {
        panic!("expected a delta refresh, got {:?}", delta.how);
    };
    assert!(changed >= 3, "new app, rename and new secret: {changed}");
    assert!(removed >= 1, "the deleted app: {removed}");
    let fp = fingerprint(&delta.inventory);
    assert!(fp.contains_key(&format!("app/{new_id}")));
    assert!(!fp.contains_key(&format!("app/{victim}")));
    assert_eq!(
        fp[&format!("app/{renamed}")].0.as_deref(),
        Some("Renamed in the portal")
    );
    assert!(
        fp[&format!("app/{rotated}")]
            .1
            .contains(&secret.key_id.to_string())
    );

    // The delta result equals a fresh full load, and the cache on disk holds it too.
    let fresh = sync::refresh(&session.graph, None, &scope, None, opts, now, |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        differences(&fp, &fingerprint(&fresh.inventory)),
        Vec::<String>::new()
    );
    drop(cache);
    let (cache, _) = InventoryCache::open(&path).unwrap();
    assert_eq!(
        differences(&fingerprint(&cache.load(&scope).unwrap().unwrap()), &fp),
        Vec::<String>::new()
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_delta_token_falls_back_to_a_full_load() {
    let emu = support::start(EmulatorConfig::default()).await;
    let session = support::session(&emu);
    let dir = tempfile::tempdir().unwrap();
    let (mut cache, _) = InventoryCache::open(&dir.path().join("c.sqlite")).unwrap();
    let scope = sync::scope(&session.tenant_id, &emu.info().graph_url);
    let now = chrono::Utc::now();
    let opts = LoadOptions::default();
    let first = sync::refresh(
        &session.graph,
        Some(&mut cache),
        &scope,
        None,
        opts,
        now,
        |_, _| {},
    )
    .await
    .unwrap();
    let mut stale = first.inventory.clone();
    stale.application_delta = Some(format!(
        "{}/v1.0/applications/delta?$deltatoken=bm90LWEtdG9rZW4",
        emu.info().graph_url
    ));
    stale.applications.truncate(3);
    let r = sync::refresh(
        &session.graph,
        Some(&mut cache),
        &scope,
        Some(stale),
        opts,
        now,
        |_, _| {},
    )
    .await
    .unwrap();
    match &r.how {
        SyncKind::Full { reason: Some(why) } => assert!(why.contains("delta token"), "{why}"),
        other => panic!("expected a full load after a refused token, got {other:?}"),
    }
    assert_eq!(
        differences(&fingerprint(&r.inventory), &fingerprint(&first.inventory)),
        Vec::<String>::new()
    );
    emu.shutdown().await;
}

#[test]
fn corrupt_cache_is_discarded_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inventory-cache.sqlite");
    std::fs::write(
        &path,
        b"this is not a database, just bytes that were once one".repeat(100),
    )
    .unwrap();
    let (cache, warning) = InventoryCache::open(&path).unwrap();
    let warning = warning.expect("a warning about the discarded cache");
    assert!(warning.contains("discarded"), "{warning}");
    assert!(warning.contains("inventory-cache.sqlite"), "{warning}");
    assert!(cache.load("any").unwrap().is_none());
}

/// Every event of one TUI load, until the load ends.
async fn events_of_load(
    runner: &mut keyturn::tui::effects::Runner,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<keyturn::tui::Event>,
    generation: u64,
) -> Vec<keyturn::tui::Event> {
    use keyturn::tui::{Effect, Event};
    runner.run(Effect::LoadInventory {
        generation,
        service_principals: true,
    });
    let mut out = Vec::new();
    loop {
        let e = tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv())
            .await
            .expect("the load ends")
            .expect("channel open");
        let done = matches!(e, Event::InventoryLoaded(_));
        out.push(e);
        if done {
            return out;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tui_starts_from_the_cache_then_refreshes_by_delta() {
    use keyturn::tui::{App, Event, update};
    let emu = support::start(EmulatorConfig::default()).await;
    let session = support::session(&emu);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.sqlite");
    let scope = sync::scope(&session.tenant_id, &emu.info().graph_url);

    // First run: no cache yet, so no cached event; the pages stream in.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut runner = keyturn::tui::effects::Runner::new(session.graph.clone(), tx)
        .with_cache(path.clone(), scope.clone());
    let first = events_of_load(&mut runner, &mut rx, 1).await;
    assert!(!first.iter().any(|e| matches!(e, Event::InventoryCached(_))));
    let streamed: usize = first
        .iter()
        .map(|e| {
            if let Event::InventoryPage(p) = e {
                p.entries.len()
            } else {
                0
            }
        })
        .sum();
    assert!(streamed > 30, "the demo tenant streamed in: {streamed}");
    // The cache is written after InventoryLoaded (the operator never waits for the disk), in the runner's task:
    // let it finish before this runner is dropped (which ends its tasks), or the restart below races it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (p, sc) = (path.clone(), scope.clone());
        let saved = tokio::task::spawn_blocking(move || {
            InventoryCache::open(&p)
                .ok()
                .and_then(|(c, _)| c.load_snapshot(&sc).ok().flatten())
                .is_some()
        })
        .await
        .unwrap();
        if saved {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first run wrote its cache"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Second run (a restart): the cached inventory comes first, then the delta round's result.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut runner =
        keyturn::tui::effects::Runner::new(session.graph.clone(), tx).with_cache(path, scope);
    let (new_id, _) = emu.create_app("Registered while keyturn was closed");
    let second = events_of_load(&mut runner, &mut rx, 1).await;
    let Event::InventoryCached(cached) = &second[0] else {
        panic!(
            "the first event of a warm start is the cache: {:?}",
            second[0]
        );
    };
    assert_eq!(cached.entries.len(), streamed);

    // Through the app state: the cache shows at once, the refresh replaces it in one step (no duplicates).
    let mut app = App::new(keyturn::tui::Config {
        tenant_id: session.tenant_id.clone(),
        identity: "test".into(),
        thresholds: session.thresholds,
        clock: session.clock.clone(),
        read_only: true,
        log_file: None,
        include_service_principals: true,
        theme: keyturn::tui::Theme::monochrome(),
    });
    let _ = app.start();
    let mut events = second.into_iter();
    let cached = events.next().unwrap();
    if let Some(a) = app.action_for(cached) {
        let _ = update(&mut app, a);
    }
    assert_eq!(
        app.inventory.len(),
        streamed,
        "cached rows on screen before any Graph answer"
    );
    assert!(
        keyturn::tui::views::status_text(&app).0.contains("cached"),
        "{:?}",
        keyturn::tui::views::status_text(&app)
    );
    for e in events {
        if let Some(a) = app.action_for(e) {
            let _ = update(&mut app, a);
        }
    }
    assert_eq!(
        app.inventory.len(),
        streamed + 1,
        "the refreshed list replaced the cached one"
    );
    assert!(
        app.inventory
            .get(&keyturn::graph::ObjectId::new(new_id))
            .is_some()
    );
    assert!(app.cached_at.is_none());
    emu.shutdown().await;
}

/// A tenant (or proxy) that refuses delta queries still gets its inventory; the next start simply loads in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_delta_queries_cost_only_the_warm_refresh() {
    use keyturn::emulator::{Fault, FaultKind, Op};
    let emu = support::start(EmulatorConfig::default()).await;
    let session = support::session(&emu);
    let dir = tempfile::tempdir().unwrap();
    let (mut cache, _) = InventoryCache::open(&dir.path().join("c.sqlite")).unwrap();
    let scope = sync::scope(&session.tenant_id, &emu.info().graph_url);
    let (now, opts) = (chrono::Utc::now(), LoadOptions::default());
    emu.faults().add(Fault {
        op: Op::Delta,
        kind: FaultKind::Status(400),
        times: 2,
    });
    let first = sync::refresh(
        &session.graph,
        Some(&mut cache),
        &scope,
        None,
        opts,
        now,
        |_, _| {},
    )
    .await
    .expect("the inventory loads without delta links");
    assert!(first.inventory.application_delta.is_none());
    assert!(first.inventory.applications.len() > 30);
    let cached = cache.load(&scope).unwrap().expect("saved all the same");
    let again = sync::refresh(
        &session.graph,
        Some(&mut cache),
        &scope,
        Some(cached),
        opts,
        now,
        |_, _| {},
    )
    .await
    .unwrap();
    assert!(
        matches!(again.how, SyncKind::Full { reason: Some(_) }),
        "{:?}",
        again.how
    );
    assert!(
        again.inventory.application_delta.is_some(),
        "delta links come back once delta answers"
    );
    emu.shutdown().await;
}

/// A session that does not know its tenant (Azure CLI or managed identity without tenant_id) never uses the cache:
/// its scope would be shared by every tenant the identity can reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_without_a_tenant_starts_cold() {
    let emu = support::start(EmulatorConfig::default()).await;
    let mut session = support::session(&emu);
    session.inventory_cache = Some(std::path::PathBuf::from("/tmp/never-used.sqlite"));
    let (path, scope) =
        keyturn::tui::inventory_cache_for(&session).expect("a known tenant uses the cache");
    assert!(
        scope.starts_with(&session.tenant_id.to_ascii_lowercase()),
        "{scope}"
    );
    assert_eq!(path, std::path::PathBuf::from("/tmp/never-used.sqlite"));
    session.tenant_id = String::new();
    assert!(keyturn::tui::inventory_cache_for(&session).is_none());
    session.tenant_id = "abc".into();
    session.inventory_cache = None;
    assert!(
        keyturn::tui::inventory_cache_for(&session).is_none(),
        "the demo turns the cache off"
    );
    emu.shutdown().await;
}

/// Applications and service principals are independent cursors and are paged at once: with 100 ms per request,
/// service principal pages arrive while applications are still paging (a sequential load delivers every
/// application page first). Wall time is left to the benchmark: a debug build's parsing dominates it here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_and_service_principals_page_concurrently() {
    let latency_ms = 100;
    let emu = support::start(EmulatorConfig {
        tenant: TenantSource::Generated {
            apps: 2_100,
            seed: 5,
        },
        latency: std::time::Duration::from_millis(latency_ms),
        ..EmulatorConfig::default()
    })
    .await;
    let session = support::session(&emu);
    // Sign in outside the measurement.
    let _ = session
        .graph
        .get_json::<serde_json::Value>(
            &session.graph.url("applications?$top=1"),
            keyturn::graph::client::ops::LIST_APPLICATIONS,
        )
        .await
        .expect("Graph answers");
    let mut kinds = Vec::new();
    keyturn::inventory::load::load_raw_streaming(&session.graph, LoadOptions::default(), |_, p| {
        let keyturn::inventory::load::Progress::Page { kind, .. } = p;
        kinds.push(kind);
    })
    .await
    .expect("load");
    let apps = kinds
        .iter()
        .filter(|k| **k == ObjectType::Application)
        .count();
    let sps = kinds.len() - apps;
    assert_eq!((apps, sps), (3, 3), "{kinds:?}");
    let last_app = kinds
        .iter()
        .rposition(|k| *k == ObjectType::Application)
        .unwrap();
    let first_sp = kinds
        .iter()
        .position(|k| *k == ObjectType::ServicePrincipal)
        .unwrap();
    assert!(
        first_sp < last_app,
        "service principals waited for applications: {kinds:?}"
    );
    emu.shutdown().await;
}

/// Item 11 of issue 16: an expired delta token is documented only as "a 40X-series error": each 4xx but
/// 401/403/429 on the stored delta link ends in a full load with the reason, not in an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_4xx_on_the_delta_link_falls_back_to_a_full_load() {
    use keyturn::emulator::{Fault, FaultKind, Op};
    let emu = support::start(EmulatorConfig::default()).await;
    let session = support::session(&emu);
    let dir = tempfile::tempdir().unwrap();
    let (mut cache, _) = InventoryCache::open(&dir.path().join("c.sqlite")).unwrap();
    let scope = sync::scope(&session.tenant_id, &emu.info().graph_url);
    let (now, opts) = (chrono::Utc::now(), LoadOptions::default());
    sync::refresh(
        &session.graph,
        Some(&mut cache),
        &scope,
        None,
        opts,
        now,
        |_, _| {},
    )
    .await
    .expect("first load");
    for status in [400, 404, 409, 410, 412, 422] {
        let cached = cache.load(&scope).unwrap().expect("saved");
        emu.faults().add(Fault {
            op: Op::Delta,
            kind: FaultKind::Status(status),
            times: 1,
        });
        let again = sync::refresh(
            &session.graph,
            Some(&mut cache),
            &scope,
            Some(cached),
            opts,
            now,
            |_, _| {},
        )
        .await
        .unwrap_or_else(|e| panic!("HTTP {status}: {e}"));
        let SyncKind::Full { reason: Some(why) } = &again.how else {
            panic!("HTTP {status}: {:?}", again.how)
        };
        assert!(why.contains(&status.to_string()), "{status}: {why}");
        assert!(again.inventory.applications.len() > 30, "{status}");
        emu.faults().clear();
    }
}
