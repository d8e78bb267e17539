//! Last use is cached with the inventory: the selected app's facts, read lazily, are written to the inventory cache,
//! and the next start shows them from the cache right after the cached list, before anything is read again.
use crate::support;
use keyturn::emulator::EmulatorConfig;
use keyturn::graph::{AppId, KeyId, ObjectId, ObjectType};
use keyturn::inventory::sync;
use keyturn::store::cache::InventoryCache;
use keyturn::tui::app::{DetailRequest, Effect};
use keyturn::tui::event::Event;
use std::time::{Duration, Instant};

/// Run one effect and collect events until `done` says so (at most 60 s).
async fn events_until(
    runner: &mut keyturn::tui::effects::Runner,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    effect: Effect,
    done: impl Fn(&Event) -> bool,
) -> Vec<Event> {
    runner.run(effect);
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = tokio::time::timeout(left, rx.recv())
            .await
            .expect("the runner answers in time")
            .expect("the channel stays open");
        let stop = done(&e);
        out.push(e);
        if stop {
            return out;
        }
    }
}

fn load() -> Effect {
    Effect::LoadInventory {
        generation: 1,
        service_principals: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_selected_apps_last_use_is_cached_and_shown_at_the_next_start() {
    let emu = support::start(EmulatorConfig::default()).await;
    let session = support::session(&emu);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.sqlite");
    let scope = sync::scope(&session.tenant_id, &emu.info().graph_url);
    let state = emu.state();
    let app = state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["displayName"] == "Backup Daemon")
        .unwrap()
        .clone();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let secret = app["passwordCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["endDateTime"].as_str().unwrap() > now.as_str())
        .unwrap()
        .clone();
    let key = secret["keyId"].as_str().unwrap().to_string();
    let object_id = ObjectId::new(app["id"].as_str().unwrap());
    let app_id = app["appId"].as_str().unwrap().to_string();
    let resp = support::token_response(
        &emu,
        &app_id,
        secret["secretText"].as_str().unwrap(),
        support::GRAPH_SCOPE,
    )
    .await;
    assert_eq!(resp.status(), 200);
    let recorded = emu.state()["signIns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["keyId"] == key.as_str() && a["success"] == true)
        .filter_map(|a| a["dateTime"].as_str())
        .max()
        .unwrap()
        .to_string();
    let recorded = chrono::DateTime::parse_from_rfc3339(&recorded)
        .unwrap()
        .with_timezone(&chrono::Utc);

    // First run: the list, then the app opened: its facts are read and cached.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut runner = keyturn::tui::effects::Runner::new(session.graph.clone(), tx)
        .with_cache(path.clone(), scope.clone());
    let first = events_until(&mut runner, &mut rx, load(), |e| {
        matches!(e, Event::InventoryLoaded(_))
    })
    .await;
    assert!(
        !first.iter().any(|e| matches!(e, Event::ImpactLoaded(_))),
        "nothing cached yet"
    );
    let request = DetailRequest {
        id: 1,
        object_type: ObjectType::Application,
        object_id: object_id.clone(),
        app_id: AppId::new(app_id.clone()),
        delay: Duration::ZERO,
    };
    let opened = events_until(
        &mut runner,
        &mut rx,
        Effect::LoadDetail {
            owners: Some(request),
            audit: None,
        },
        |e| matches!(e, Event::OwnersLoaded(_)),
    )
    .await;
    let live = opened
        .iter()
        .find_map(|e| match e {
            Event::ImpactLoaded(i) if i.object_id == object_id => Some(i.facts.clone()),
            _ => None,
        })
        .expect("the facts were read");
    assert_eq!(
        live.last_sign_in_of(&KeyId::new(&key))
            .map(|t| t.timestamp()),
        Some(recorded.timestamp())
    );
    // Both cache writes (the list's snapshot, this app's facts) run after their events: wait for them.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (p, sc) = (path.clone(), scope.clone());
        let ready = tokio::task::spawn_blocking(move || {
            InventoryCache::open(&p).ok().is_some_and(|(c, _)| {
                c.load_snapshot(&sc).ok().flatten().is_some()
                    && !c.load_last_use(&sc).unwrap_or_default().is_empty()
            })
        })
        .await
        .unwrap();
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "the first run wrote its cache");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(runner);

    // The app signs in again meanwhile: the next start shows the cached value first, not a fresh read.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let _ = support::token_response(
        &emu,
        &app_id,
        secret["secretText"].as_str().unwrap(),
        support::GRAPH_SCOPE,
    )
    .await;

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut runner =
        keyturn::tui::effects::Runner::new(session.graph.clone(), tx).with_cache(path, scope);
    let second = events_until(&mut runner, &mut rx, load(), |e| {
        matches!(e, Event::InventoryLoaded(_))
    })
    .await;
    assert!(
        matches!(second[0], Event::InventoryCached(_)),
        "{:?}",
        second[0]
    );
    let cached = second
        .iter()
        .position(|e| matches!(e, Event::ImpactLoaded(i) if i.object_id == object_id))
        .expect("the cached facts come with the cached list");
    assert!(
        second[..cached]
            .iter()
            .all(|e| matches!(e, Event::InventoryCached(_) | Event::ImpactLoaded(_))),
        "right after the cached list, before any page of the refresh"
    );
    let Event::ImpactLoaded(i) = &second[cached] else {
        unreachable!()
    };
    assert_eq!(i.facts, live, "exactly what the first run read");

    // Through the app state: the detail's facts are there at warm start.
    let mut app_state = keyturn::tui::App::new(keyturn::tui::Config {
        tenant_id: session.tenant_id.clone(),
        identity: "test".into(),
        thresholds: session.thresholds,
        clock: session.clock.clone(),
        read_only: true,
        log_file: None,
        include_service_principals: false,
        theme: keyturn::tui::Theme::monochrome(),
    });
    let _ = app_state.start();
    for e in second.into_iter().take(cached + 1) {
        if let Some(a) = app_state.action_for(e) {
            let _ = keyturn::tui::update(&mut app_state, a);
        }
    }
    assert_eq!(
        app_state
            .impact
            .get(&object_id)
            .and_then(|f| f.last_sign_in_of(&KeyId::new(&key)))
            .map(|t| t.timestamp()),
        Some(recorded.timestamp())
    );
    emu.shutdown().await;
}
