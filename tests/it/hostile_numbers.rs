//! Hostile numbers and sizes (issue 16 item 6): a `Retry-After` of any size, answers larger than keyturn reads,
//! listings that never end, and thresholds past the last date there is all end in clear errors, never a panic or an
//! endless wait. Every wait here is bounded by the client's own caps; each test also has an outer timeout so a
//! regression fails instead of hanging.
use crate::support;
use keyturn::emulator::{EmulatorConfig, Fault, FaultKind, Op, TenantSource};
use keyturn::graph::client::{Limits, RETRY_AFTER_CAP, RetryPolicy, ops};
use keyturn::graph::{Application, GraphClient, GraphError};
use std::time::Duration;

const OUTER: Duration = Duration::from_secs(60);

fn tenant(apps: usize) -> EmulatorConfig {
    EmulatorConfig {
        tenant: TenantSource::Generated { apps, seed: 7 },
        ..EmulatorConfig::default()
    }
}

/// A Graph client of a session on `emu` with short retries (the production caps are minutes).
fn graph(emu: &keyturn::emulator::Emulator) -> GraphClient {
    support::session(emu).graph.with_retry(RetryPolicy {
        max_attempts: 3,
        max_wait: Duration::from_millis(200),
        backoff: Duration::from_millis(10),
    })
}

async fn first_page(client: &GraphClient) -> Result<usize, GraphError> {
    let mut pager = client.applications();
    match pager.next_page().await {
        Some(page) => page.map(|p| p.value.len()),
        None => Ok(0),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_of_any_size_is_capped_and_ends_in_a_clear_error() {
    let emu = support::start(tenant(3)).await;
    let client = graph(&emu);
    for value in ["1e20", "1e308", "Fri, 31 Dec 9999 23:59:59 GMT"] {
        emu.faults().add(Fault {
            op: Op::ListApplications,
            kind: FaultKind::Throttle {
                retry_after: value.into(),
            },
            times: u32::MAX,
        });
        let result = tokio::time::timeout(OUTER, first_page(&client))
            .await
            .unwrap_or_else(|_| panic!("Retry-After {value}: the wait was not capped"));
        let err = result.expect_err("always throttled");
        let GraphError::Throttled {
            retry_after,
            attempts,
        } = &err
        else {
            panic!("Retry-After {value}: {err}")
        };
        assert_eq!(*attempts, 3, "{value}");
        assert_eq!(*retry_after, Duration::from_secs(3600), "{value}: capped");
        assert_eq!(RETRY_AFTER_CAP, Duration::from_secs(3600));
        assert!(err.to_string().contains("3600.0 s"), "{err}");
        emu.faults().clear();
    }
    // Negative: not believed, the client's own backoff applies and the next answer is read.
    emu.faults().add(Fault {
        op: Op::ListApplications,
        kind: FaultKind::Throttle {
            retry_after: "-5".into(),
        },
        times: 1,
    });
    let n = tokio::time::timeout(OUTER, first_page(&client))
        .await
        .expect("bounded")
        .expect("the retry after a negative Retry-After succeeds");
    assert_eq!(n, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_larger_than_the_cap_is_refused_with_a_clear_error() {
    let emu = support::start(tenant(20)).await;
    let client = graph(&emu).with_limits(Limits {
        max_body_bytes: 2048,
        ..Limits::default()
    });
    let err = tokio::time::timeout(OUTER, first_page(&client))
        .await
        .expect("bounded")
        .expect_err("20 applications are more than 2 KiB");
    assert!(
        matches!(
            err,
            GraphError::TooLarge {
                limit: 2048,
                operation: "list applications"
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("2048 bytes"), "{err}");
    // The same listing under the default cap reads fine.
    assert_eq!(first_page(&graph(&emu)).await.expect("default cap"), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_pages_than_the_cap_end_the_listing_with_a_clear_error() {
    let emu = support::start(tenant(5)).await;
    let client = graph(&emu).with_limits(Limits {
        max_pages: 3,
        ..Limits::default()
    });
    let url = client.url("applications?$top=1&$select=id,appId,displayName");
    let mut pager = client.pager::<Application>(url.clone(), ops::LIST_APPLICATIONS);
    let mut ok_pages = 0;
    let mut end = None;
    // Bounded: 5 apps, one a page, never more than 6 calls.
    for _ in 0..6 {
        match pager.next_page().await {
            Some(Ok(_)) => ok_pages += 1,
            Some(Err(e)) => {
                end = Some(e);
                break;
            }
            None => break,
        }
    }
    assert_eq!(ok_pages, 3);
    let err = end.expect("the fourth page is refused");
    assert!(
        matches!(err, GraphError::TooManyPages { limit: 3, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("after 3"), "{err}");
    // collect_all stops the same way.
    let err = client
        .collect_all::<Application>(url, ops::LIST_APPLICATIONS)
        .await
        .expect_err("capped");
    assert!(matches!(err, GraphError::TooManyPages { .. }), "{err:?}");
}

fn keyturn_bin(home: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("keyturn").unwrap();
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .timeout(Duration::from_secs(60));
    cmd
}

#[test]
fn huge_thresholds_exit_3_with_a_message_not_a_panic_or_clap_exit_2() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        vec!["check", "--warn-days", "100000000"],
        vec!["check", "--critical-days", "-1"],
        vec!["check", "--warn-days", "9223372036854775807"],
        vec!["check", "--warn-days", "lots"],
        vec!["check", "--no-such-flag"],
    ] {
        let out = keyturn_bin(home.path()).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(stderr.contains("error:"), "{args:?}: {stderr}");
        if args[1] == "--warn-days" && args[2] != "lots" {
            assert!(stderr.contains("must be 0 to 36500"), "{args:?}: {stderr}");
        }
    }
    // --help is not an error.
    let out = keyturn_bin(home.path())
        .args(["check", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // The same bound in a profile: exit 3 naming the key.
    let config = home.path().join("hostile.toml");
    std::fs::write(&config, "[profiles.default]\nwarn_days = 100000000\n").unwrap();
    let out = keyturn_bin(home.path())
        .env("KEYTURN_CONFIG", &config)
        .args(["check"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("warn_days"), "{stderr}");
    assert!(stderr.contains("must be 0 to 36500"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
