//! `keyturn audit` end to end (the real binary against the emulator, every expected value read from the emulator's
//! own state, decoded here independently of keyturn's decoder) and each finding rule on hand-made rows.
use crate::show::{env_for, keyturn};
use crate::support;
use chrono::{DateTime, Duration, Utc};
use keyturn::audit::facts::{CurrentCredential, FactsByTarget, TargetFacts};
use keyturn::audit::findings::{FindingPolicy, apply, mark_by_keyturn};
use keyturn::audit::{Activity, AuditRow, CredentialState, Initiator, InitiatorType};
use keyturn::emulator::{Emulator, EmulatorConfig};
use keyturn::graph::{LifetimeCap, ObjectType};
use serde_json::Value;
use std::collections::BTreeSet;

/// The demo's suspicious change: a secret added by Frank (owner of other apps) to ci-pipeline-deployer, which holds
/// Application.ReadWrite.All.
const SUSPICIOUS_KEY: &str = "5c0ffee1-7a1e-4d2b-9e11-0b5e55ed0a17";
const FRANK_UPN: &str = "frank.mueller@contoso-demo.onmicrosoft.com";

async fn emulator(p1: bool) -> Emulator {
    support::start(EmulatorConfig {
        state_route: true,
        entra_id_p1: p1,
        ..EmulatorConfig::default()
    })
    .await
}

/// The keyIds listed in a KeyDescription value (a JSON array of `[KeyIdentifier=..,KeyType=..,..]` strings).
fn key_ids(value: &Value) -> BTreeSet<String> {
    let Some(text) = value.as_str() else {
        return BTreeSet::new();
    };
    let items: Vec<String> = serde_json::from_str(text).unwrap_or_default();
    items
        .iter()
        .filter_map(|i| {
            let rest = i.split("KeyIdentifier=").nth(1)?;
            Some(rest.split(',').next()?.to_ascii_lowercase())
        })
        .collect()
}

/// (time, activity, keyId, target id, initiator id) of every credential change the emulator logged since `since`.
fn expected_changes(
    state: &Value,
    since: DateTime<Utc>,
) -> BTreeSet<(String, String, String, String, String)> {
    let mut out = BTreeSet::new();
    for e in state["auditEvents"].as_array().unwrap() {
        let when: DateTime<Utc> = e["activityDateTime"].as_str().unwrap().parse().unwrap();
        if when < since || e["category"] != "ApplicationManagement" {
            continue;
        }
        let who = if e["initiatedBy"]["user"].is_object() {
            e["initiatedBy"]["user"]["id"].as_str().unwrap().to_string()
        } else {
            e["initiatedBy"]["app"]["servicePrincipalId"]
                .as_str()
                .unwrap()
                .to_string()
        };
        for t in e["targetResources"].as_array().unwrap() {
            for m in t["modifiedProperties"].as_array().unwrap() {
                if m["displayName"] != "KeyDescription" {
                    continue;
                }
                let (old, new) = (key_ids(&m["oldValue"]), key_ids(&m["newValue"]));
                let time = when.format("%Y-%m-%dT%H:%M:%SZ").to_string();
                for k in new.difference(&old) {
                    out.insert((
                        time.clone(),
                        "credentialAdded".into(),
                        k.clone(),
                        t["id"].as_str().unwrap().into(),
                        who.clone(),
                    ));
                }
                for k in old.difference(&new) {
                    out.insert((
                        time.clone(),
                        "credentialRemoved".into(),
                        k.clone(),
                        t["id"].as_str().unwrap().into(),
                        who.clone(),
                    ));
                }
            }
        }
    }
    out
}

fn got_changes(doc: &Value) -> BTreeSet<(String, String, String, String, String)> {
    doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["keyId"].is_string())
        .map(|e| {
            (
                e["activityDateTime"].as_str().unwrap().into(),
                e["activity"].as_str().unwrap().into(),
                e["keyId"].as_str().unwrap().into(),
                e["targetObjectId"].as_str().unwrap().into(),
                e["initiatedBy"]["id"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    t - Duration::nanoseconds(t.timestamp_subsec_nanos() as i64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_lists_its_changes_with_who_what_when_and_flags_the_suspicious_one() {
    let emu = emulator(true).await;
    let home = tempfile::tempdir().unwrap();
    let run = keyturn(
        env_for(&emu, home.path()),
        &["audit", "--days", "30", "--format", "json"],
    )
    .await;
    assert_eq!(run.code, 1, "findings exit 1: {}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let keys: BTreeSet<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["generatedAt", "tenantId", "days", "source", "events"])
    );
    assert_eq!(doc["days"], 30);
    assert_eq!(doc["source"], "graph");
    assert_eq!(doc["tenantId"], emu.info().tenant_id.as_str());
    let generated: DateTime<Utc> = doc["generatedAt"].as_str().unwrap().parse().unwrap();

    let state = emu.state();
    // Events exactly 30 days old may fall either side of the window by the seconds between the two reads.
    let expected = expected_changes(&state, whole_seconds(generated) - Duration::days(30));
    let got = got_changes(&doc);
    assert!(!expected.is_empty());
    let near_edge = |t: &str| {
        let t: DateTime<Utc> = t.parse().unwrap();
        (t - (generated - Duration::days(30))).num_seconds().abs() < 120
    };
    let diff: Vec<_> = expected
        .symmetric_difference(&got)
        .filter(|c| !near_edge(&c.0))
        .collect();
    assert!(
        diff.is_empty(),
        "differences from the emulator's log: {diff:#?}"
    );

    let events = doc["events"].as_array().unwrap();
    let times: Vec<&str> = events
        .iter()
        .map(|e| e["activityDateTime"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    for e in events {
        let e_keys: BTreeSet<&str> = e.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(
            e_keys,
            BTreeSet::from([
                "activityDateTime",
                "activity",
                "targetObjectType",
                "targetObjectId",
                "targetAppId",
                "targetDisplayName",
                "credentialType",
                "keyId",
                "credentialName",
                "initiatedBy",
                "result",
                "byKeyturn",
                "findings"
            ])
        );
    }

    // The suspicious change: who, what, when, and its reasons.
    let cideploy = state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["displayName"] == "ci-pipeline-deployer")
        .unwrap();
    let frank_id = state["auditEvents"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| {
            (e["initiatedBy"]["user"]["userPrincipalName"] == FRANK_UPN)
                .then(|| e["initiatedBy"]["user"]["id"].as_str().unwrap().to_string())
        })
        .unwrap();
    let owners: Vec<&str> = cideploy["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    assert!(
        !owners.contains(&frank_id.as_str()),
        "the seed: Frank is no owner"
    );
    let cred = cideploy["passwordCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["keyId"] == SUSPICIOUS_KEY)
        .expect("the suspicious secret is on the app");
    let suspicious: Vec<&Value> = events
        .iter()
        .filter(|e| e["keyId"] == SUSPICIOUS_KEY)
        .collect();
    assert_eq!(suspicious.len(), 1, "{suspicious:#?}");
    let s = suspicious[0];
    assert_eq!(s["activity"], "credentialAdded");
    assert_eq!(s["credentialType"], "secret");
    assert_eq!(s["credentialName"], cred["displayName"]);
    assert_eq!(s["targetObjectType"], "application");
    assert_eq!(s["targetObjectId"], cideploy["id"]);
    assert_eq!(s["targetAppId"], cideploy["appId"]);
    assert_eq!(s["targetDisplayName"], "ci-pipeline-deployer");
    assert_eq!(s["initiatedBy"]["type"], "user");
    assert_eq!(s["initiatedBy"]["id"], frank_id.as_str());
    assert_eq!(s["initiatedBy"]["name"], FRANK_UPN);
    assert_eq!(s["result"], "success");
    assert_eq!(s["byKeyturn"], false);
    let findings: Vec<&str> = s["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(
        findings,
        vec![
            format!("added by {FRANK_UPN}, who is neither an owner of the app nor keyturn")
                .as_str(),
            "added to an app with privileged permissions (Application.ReadWrite.All)",
        ]
    );
    // The start of the secret is when it was added (the seed writes both from one instant).
    let start: DateTime<Utc> = cred["startDateTime"].as_str().unwrap().parse().unwrap();
    let when: DateTime<Utc> = s["activityDateTime"].as_str().unwrap().parse().unwrap();
    assert_eq!(when, whole_seconds(start));

    // The table says the same for a person.
    let table = keyturn(env_for(&emu, home.path()), &["audit", "--days", "30"]).await;
    assert_eq!(table.code, 1);
    assert!(
        table
            .stdout
            .contains("added secret 'debug-temp' (keyId 5c0ffee1)"),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .contains(&format!("by {FRANK_UPN} from 127.0.0.1"))
    );
    assert!(
        table
            .stdout
            .contains("FINDING: added to an app with privileged permissions")
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_suspicious_change_there_are_no_findings_and_audit_exits_0() {
    let emu = emulator(true).await;
    let home = tempfile::tempdir().unwrap();
    let env = env_for(&emu, home.path());
    let run = keyturn(env.clone(), &["audit", "--days", "1", "--format", "json"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let keys: Vec<&str> = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["keyId"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        vec![SUSPICIOUS_KEY],
        "the demo's last day holds only it"
    );

    assert!(emu.forget_audit_events_about(SUSPICIOUS_KEY) > 0);
    // The Done-when: over the demo's 30 days, without that event, the other changes are listed and none is a finding.
    let month = keyturn(env.clone(), &["audit", "--days", "30", "--format", "json"]).await;
    assert_eq!(month.code, 0, "{}\n{}", month.stderr, month.stdout);
    let doc: Value = serde_json::from_str(&month.stdout).unwrap();
    let events = doc["events"].as_array().unwrap();
    assert!(
        events.len() >= 3,
        "the demo's other changes are there: {doc}"
    );
    assert!(
        events
            .iter()
            .all(|e| e["findings"] == serde_json::json!([])),
        "{doc}"
    );
    let run = keyturn(env.clone(), &["audit", "--days", "1", "--format", "json"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["events"], serde_json::json!([]));
    let table = keyturn(env, &["audit", "--days", "1"]).await;
    assert_eq!(table.code, 0);
    assert!(
        table
            .stdout
            .contains("No credential changes in the last 1 days."),
        "{}",
        table.stdout
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_free_tenant_never_claims_more_than_7_days() {
    let emu = emulator(false).await;
    let home = tempfile::tempdir().unwrap();
    let run = keyturn(
        env_for(&emu, home.path()),
        &["audit", "--days", "30", "--format", "json"],
    )
    .await;
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    // `days` is the N asked for (the contract); no event is older than what the source holds, and stderr says so.
    assert_eq!(doc["days"], 30);
    assert!(
        run.stderr.contains("asked for 30 days") && run.stderr.contains("7 days"),
        "{}",
        run.stderr
    );
    let generated: DateTime<Utc> = doc["generatedAt"].as_str().unwrap().parse().unwrap();
    for e in doc["events"].as_array().unwrap() {
        let t: DateTime<Utc> = e["activityDateTime"].as_str().unwrap().parse().unwrap();
        assert!(generated - t <= Duration::days(7), "{e}");
    }
    // The demo has changes 8 to 30 days old: they are not shown, and the table says how far it can see.
    let state = emu.state();
    assert!(
        !expected_changes(&state, generated - Duration::days(30))
            .is_subset(&expected_changes(&state, generated - Duration::days(7)))
    );

    // With the recent changes gone, the empty answer names the 7 days, not 30.
    for e in state["auditEvents"].as_array().unwrap() {
        for t in e["targetResources"].as_array().unwrap() {
            for m in t["modifiedProperties"].as_array().unwrap() {
                for k in key_ids(&m["newValue"]).union(&key_ids(&m["oldValue"])) {
                    emu.forget_audit_events_about(k);
                }
            }
        }
    }
    let table = keyturn(env_for(&emu, home.path()), &["audit", "--days", "30"]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(
        table
            .stdout
            .contains("No credential changes in the last 7 days, the most this source keeps"),
        "{}",
        table.stdout
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_audit_text_stays_inert() {
    let emu = emulator(true).await;
    let hostile = "x\u{1b}]0;owned\u{7}\u{202e}txt.exe\u{1b}[2J";
    let token = support::graph_token(&emu).await;
    let state = emu.state();
    let app = state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["displayName"] == "Payroll Sync (Logic App)")
        .unwrap();
    let (status, body) = support::graph_post(
        &emu,
        &token,
        &format!("/applications/{}/addPassword", app["id"].as_str().unwrap()),
        &serde_json::json!({"passwordCredential": {"displayName": hostile}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let key = body["keyId"].as_str().unwrap().to_ascii_lowercase();
    let home = tempfile::tempdir().unwrap();
    let env = env_for(&emu, home.path());
    for format in ["table", "json"] {
        let run = keyturn(env.clone(), &["audit", "--days", "1", "--format", format]).await;
        assert_eq!(run.code, 1, "{}", run.stderr);
        for out in [&run.stdout, &run.stderr] {
            assert!(
                !out.chars()
                    .any(|c| c != '\n' && keyturn::safe_text::is_unsafe(c)),
                "{format}: {out:?}"
            );
        }
        if format == "json" {
            let doc: Value = serde_json::from_str(&run.stdout).unwrap();
            let row = doc["events"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["keyId"] == key.as_str())
                .unwrap();
            assert_eq!(
                row["credentialName"], hostile,
                "JSON keeps the exact value, escaped"
            );
            assert!(
                row["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f.as_str().unwrap().starts_with("made by an app identity"))
            );
        } else {
            assert!(run.stdout.contains("\\u{1b}]0;owned"), "{}", run.stdout);
        }
    }
    emu.shutdown().await;
}

// ---------------------------------------------------------------------------------------------------------------
// The rules, one by one, on rows made here.

const APP: &str = "11111111-1111-1111-1111-111111111111";
const OWNER: &str = "22222222-2222-2222-2222-222222222222";
const STRANGER: &str = "33333333-3333-3333-3333-333333333333";
const KEY: &str = "44444444-4444-4444-4444-444444444444";

fn t0() -> DateTime<Utc> {
    "2026-11-30T10:00:00Z".parse().unwrap()
}

fn row(activity: Activity, by: &str, kind: InitiatorType, at: DateTime<Utc>) -> AuditRow {
    AuditRow {
        activity_date_time: at,
        activity,
        activity_display_name: "Update application - Certificates and secrets management".into(),
        target_object_type: Some(ObjectType::Application),
        target_object_id: Some(APP.into()),
        target_app_id: None,
        target_display_name: Some("App".into()),
        credential_type: Some("secret"),
        key_id: Some(KEY.into()),
        credential_name: Some("s".into()),
        initiated_by: Initiator {
            kind,
            id: Some(by.into()),
            name: Some(format!("name-{by}")),
            app_id: None,
            ip_address: None,
        },
        result: Some("success".into()),
        record_id: format!("r-{at}"),
        by_keyturn: false,
        findings: Vec::new(),
        privileged: None,
        credential_state: CredentialState::Unknown,
    }
}

fn facts(privileged: &[&str], lifetime_days: i64, cap_days: Option<i64>) -> FactsByTarget {
    FactsByTarget::from([(
        APP.to_string(),
        TargetFacts {
            app_id: None,
            display_name: Some("App".into()),
            owners: Some(vec![OWNER.into()]),
            privileged: Some(privileged.iter().map(|s| s.to_string()).collect()),
            credentials: Some(vec![CurrentCredential {
                key_id: KEY.into(),
                start: Some(t0()),
                end: Some(t0() + Duration::days(lifetime_days)),
            }]),
            lifetime_cap: cap_days.map(|d| LifetimeCap {
                max_lifetime: Duration::days(d),
                source: "tenant policy".into(),
            }),
        },
    )])
}

fn findings_of(mut rows: Vec<AuditRow>, f: &FactsByTarget, p: &FindingPolicy) -> Vec<Vec<String>> {
    apply(&mut rows, f, p);
    rows.into_iter().map(|r| r.findings).collect()
}

#[test]
fn an_owner_adding_a_short_secret_to_an_ordinary_app_is_no_finding() {
    let got = findings_of(
        vec![row(
            Activity::CredentialAdded,
            OWNER,
            InitiatorType::User,
            t0(),
        )],
        &facts(&[], 90, Some(180)),
        &FindingPolicy::default(),
    );
    assert_eq!(got, vec![Vec::<String>::new()]);
}

#[test]
fn each_rule_gives_its_reason() {
    let p = FindingPolicy {
        max_lifetime_days: Some(365),
        ..FindingPolicy::default()
    };
    // Not an owner.
    let got = findings_of(
        vec![row(
            Activity::CredentialAdded,
            STRANGER,
            InitiatorType::User,
            t0(),
        )],
        &facts(&[], 90, None),
        &p,
    );
    assert_eq!(
        got[0],
        vec![format!(
            "added by name-{STRANGER}, who is neither an owner of the app nor keyturn"
        )]
    );
    // Privileged app, even when an owner adds it.
    let got = findings_of(
        vec![row(
            Activity::CredentialAdded,
            OWNER,
            InitiatorType::User,
            t0(),
        )],
        &facts(&["Mail.Send", "Sites.FullControl.All"], 90, None),
        &p,
    );
    assert_eq!(
        got[0],
        vec![
            "added to an app with privileged permissions (Mail.Send, Sites.FullControl.All)"
                .to_string()
        ]
    );
    // Lifetime: 400 days against a 180-day tenant policy and the 365-day profile maximum.
    let got = findings_of(
        vec![row(
            Activity::CredentialAdded,
            OWNER,
            InitiatorType::User,
            t0(),
        )],
        &facts(&[], 400, Some(180)),
        &p,
    );
    assert_eq!(
        got[0],
        vec![
            "lifetime of 400 days is longer than the tenant policy's 180 days".to_string(),
            "lifetime of 400 days is longer than audit_max_lifetime_days (365)".to_string(),
        ]
    );
    // Exactly at the cap is fine.
    let got = findings_of(
        vec![row(
            Activity::CredentialAdded,
            OWNER,
            InitiatorType::User,
            t0(),
        )],
        &facts(&[], 180, Some(180)),
        &FindingPolicy::default(),
    );
    assert!(got[0].is_empty(), "{got:?}");
    // Added and removed within the window (35 minutes), by the owner: both rows say so.
    let got = findings_of(
        vec![
            row(Activity::CredentialAdded, OWNER, InitiatorType::User, t0()),
            row(
                Activity::CredentialRemoved,
                OWNER,
                InitiatorType::User,
                t0() + Duration::minutes(35),
            ),
        ],
        &facts(&[], 90, None),
        &FindingPolicy::default(),
    );
    assert_eq!(
        got[0],
        vec!["added and removed again within 35 min".to_string()]
    );
    assert_eq!(
        got[1],
        vec!["removed 35 min after it was added".to_string()]
    );
    // Removed two days later: outside the 24 h window.
    let got = findings_of(
        vec![
            row(Activity::CredentialAdded, OWNER, InitiatorType::User, t0()),
            row(
                Activity::CredentialRemoved,
                OWNER,
                InitiatorType::User,
                t0() + Duration::days(2),
            ),
        ],
        &facts(&[], 90, None),
        &FindingPolicy::default(),
    );
    assert_eq!(got, vec![Vec::<String>::new(), Vec::new()]);
    // An app identity, even an owner, and for a removal too.
    let got = findings_of(
        vec![row(
            Activity::CredentialRemoved,
            OWNER,
            InitiatorType::App,
            t0(),
        )],
        &facts(&[], 90, None),
        &p,
    );
    assert_eq!(
        got[0],
        vec![format!(
            "made by an app identity (name-{OWNER}), not a person"
        )]
    );
}

#[test]
fn keyturns_own_changes_are_recognised_from_its_journal_and_not_flagged_as_intruders() {
    use keyturn::graph::{AppId, KeyId, ObjectId};
    use keyturn::store::journal::JournalEntry;
    let mut rows = vec![
        row(
            Activity::CredentialAdded,
            STRANGER,
            InitiatorType::App,
            t0(),
        ),
        row(
            Activity::CredentialAdded,
            STRANGER,
            InitiatorType::App,
            t0(),
        ),
    ];
    rows[1].key_id = Some("55555555-5555-5555-5555-555555555555".into());
    let entry = JournalEntry {
        id: 1,
        created_at: t0(),
        updated_at: t0(),
        app_object_id: ObjectId::new(APP.to_uppercase()),
        app_id: AppId::new("66666666-6666-6666-6666-666666666666"),
        app_name: "App".into(),
        old_key_id: KeyId::new("77777777-7777-7777-7777-777777777777"),
        old_key_name: None,
        old_end: None,
        new_display_name: "keyturn".into(),
        requested_end: t0() + Duration::days(90),
        new_key_id: Some(KeyId::new(KEY)),
        new_end: None,
        new_hint: None,
        vault_url: "https://v.vault.azure.net".into(),
        secret_name: "s".into(),
        previous_version: None,
        new_version: None,
        keep_until: None,
        state_kind: keyturn::machine::StateKind::Done,
        in_flight: None,
        rolling_back: false,
        failed_step: None,
        error: None,
        operator: "op".into(),
        approver: "op".into(),
        known_key_ids: Vec::new(),
        owner: None,
        tenant_id: None,
        profile: None,
        proven_at: None,
    };
    mark_by_keyturn(&mut rows, std::slice::from_ref(&entry));
    assert!(rows[0].by_keyturn, "the journal's new keyId on that app");
    assert!(!rows[1].by_keyturn, "another key");
    apply(
        &mut rows,
        &facts(&["Mail.Send"], 90, None),
        &FindingPolicy::default(),
    );
    assert!(rows[0].findings.is_empty(), "{:?}", rows[0].findings);
    assert_eq!(rows[1].findings.len(), 3, "{:?}", rows[1].findings);
}

// ---------------------------------------------------------------------------------------------------------------
// Source office365: the emulated Management Activity API, on the wire and through keyturn.

fn with_office365(env: Vec<(String, String)>, emu: &Emulator) -> Vec<(String, String)> {
    let mut env = env;
    env.push(("KEYTURN_OFFICE365_URL".into(), emu.info().graph_url.clone()));
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office365_gives_the_same_rows_as_graph_row_for_row() {
    let emu = emulator(true).await;
    let home = tempfile::tempdir().unwrap();
    let env = with_office365(env_for(&emu, home.path()), &emu);
    let graph = keyturn(env.clone(), &["audit", "--days", "7", "--format", "json"]).await;
    let first = keyturn(
        env.clone(),
        &[
            "audit",
            "--days",
            "7",
            "--format",
            "json",
            "--source",
            "office365",
        ],
    )
    .await;
    assert_eq!(graph.code, 1, "{}", graph.stderr);
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert!(
        first.stderr.contains("only just started") && first.stderr.contains("12 hours"),
        "a first subscription says its delay: {}",
        first.stderr
    );
    let g: Value = serde_json::from_str(&graph.stdout).unwrap();
    let o: Value = serde_json::from_str(&first.stdout).unwrap();
    assert_eq!(o["source"], "office365");
    assert_eq!(o["days"], g["days"]);
    assert!(
        g["events"].as_array().unwrap().len() >= 4,
        "{}",
        graph.stdout
    );
    assert_eq!(o["events"], g["events"], "row for row");

    // The second start answers "already enabled": still fine, and no delay note.
    let again = keyturn(
        env,
        &[
            "audit",
            "--days",
            "7",
            "--format",
            "json",
            "--source",
            "office365",
        ],
    )
    .await;
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(
        !again.stderr.contains("only just started"),
        "{}",
        again.stderr
    );
    let a: Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(a["events"], g["events"]);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office365_asked_for_30_days_covers_the_7_it_holds() {
    let emu = emulator(true).await;
    let home = tempfile::tempdir().unwrap();
    let env = with_office365(env_for(&emu, home.path()), &emu);
    let run = keyturn(
        env,
        &[
            "audit",
            "--days",
            "30",
            "--format",
            "json",
            "--source",
            "office365",
        ],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["days"], 30, "the N asked for");
    assert!(run.stderr.contains("asked for 30 days"), "{}", run.stderr);
    emu.shutdown().await;
}

/// The fixture's keys, as published by Microsoft.
fn fixture_keys(text: &str) -> BTreeSet<String> {
    let v: Value = serde_json::from_str(text).unwrap();
    let obj = if v.is_array() { v[0].clone() } else { v };
    obj.as_object().unwrap().keys().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulated_management_activity_api_speaks_microsofts_wire_format() {
    let emu = emulator(true).await;
    let info = emu.info().clone();
    let client = support::client(&emu);
    let office = support::token_as(
        &emu,
        &info.client_id,
        &info.client_secret,
        "https://manage.office.com/.default",
    )
    .await;
    let feed = format!(
        "{}/api/v1.0/{}/activity/feed",
        info.graph_url, info.tenant_id
    );
    let post = |url: String, token: String| {
        let client = client.clone();
        async move {
            let r = client.post(url).bearer_auth(token).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let get = |url: String, token: String| {
        let client = client.clone();
        async move {
            let r = client.get(url).bearer_auth(token).send().await.unwrap();
            let status = r.status().as_u16();
            let next = r
                .headers()
                .get("NextPageUri")
                .map(|v| v.to_str().unwrap().to_string());
            (status, next, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // A Graph token is not a Management API token.
    let graph = support::graph_token(&emu).await;
    let start = format!("{feed}/subscriptions/start?contentType=Audit.AzureActiveDirectory");
    assert_eq!(post(start.clone(), graph).await.0, 401);
    // Start: enabled, then "already enabled".
    let (status, sub) = post(start.clone(), office.clone()).await;
    assert_eq!(status, 200, "{sub}");
    assert_eq!(
        fixture_keys(&sub.to_string()),
        fixture_keys(include_str!(
            "../fixtures/microsoft/o365/management_activity_api/subscription.json"
        ))
    );
    assert_eq!(sub["contentType"], "Audit.AzureActiveDirectory");
    assert_eq!(sub["status"], "enabled");
    let (status, again) = post(start, office.clone()).await;
    assert_eq!(status, 400);
    // The answer public clients of the service match (the documentation's error table omits AF20024).
    assert_eq!(again["error"]["code"], "AF20024", "{again}");
    assert!(
        again["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already enabled")
    );

    // Content of the last 24 hours: the demo's changes 0.4 and 1.1-1.2 days ago fall in two windows; walk each
    // listing through NextPageUri.
    let now = Utc::now();
    let fmt = "%Y-%m-%dT%H:%M:%S";
    let mut blobs = Vec::new();
    let mut pages = 0;
    for day in 0..2 {
        let end = now - Duration::days(day);
        let mut next = Some(format!(
            "{feed}/subscriptions/content?contentType=Audit.AzureActiveDirectory&startTime={}&endTime={}",
            (end - Duration::hours(24)).format(fmt),
            end.format(fmt)
        ));
        while let Some(url) = next.take() {
            let (status, n, page) = get(url, office.clone()).await;
            assert_eq!(status, 200, "{page}");
            pages += 1;
            blobs.extend(page.as_array().unwrap().iter().cloned());
            if let Some(n) = &n {
                // The shape of Microsoft's sample header: the same window and a nextPage parameter.
                assert!(
                    n.contains("/activity/feed/subscriptions/content?contentType="),
                    "{n}"
                );
                assert!(
                    n.contains("&startTime=")
                        && n.contains("&endTime=")
                        && n.contains("&nextPage=")
                );
            }
            next = n;
        }
    }
    assert!(
        pages > 2,
        "paging with NextPageUri was used ({pages} pages)"
    );
    assert!(!blobs.is_empty());
    for b in &blobs {
        assert_eq!(
            b.as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<BTreeSet<_>>(),
            fixture_keys(include_str!(
                "../fixtures/microsoft/o365/management_activity_api/content-list.json"
            ))
        );
    }
    let record_keys = fixture_keys(include_str!(
        "../fixtures/microsoft/o365/management_activity_api/audit-record.json"
    ));
    let mut suspicious = None;
    for b in &blobs {
        let (status, _, records) =
            get(b["contentUri"].as_str().unwrap().into(), office.clone()).await;
        assert_eq!(status, 200, "{records}");
        for r in records.as_array().unwrap() {
            let keys: BTreeSet<String> = r.as_object().unwrap().keys().cloned().collect();
            assert!(
                record_keys.is_subset(&keys),
                "missing {:?}",
                record_keys.difference(&keys)
            );
            assert_eq!(r["Workload"], "AzureActiveDirectory");
            assert_eq!(r["RecordType"], 8);
            if r["ModifiedProperties"].to_string().contains(SUSPICIOUS_KEY) {
                suspicious = Some(r.clone());
            }
        }
    }
    let s = suspicious.expect("the suspicious change is in the feed");
    assert!(
        s["Operation"]
            .as_str()
            .unwrap()
            .starts_with("Update application \u{2013} Certificates and secrets management")
    );
    assert_eq!(s["ActorIpAddress"], "127.0.0.1");
    assert!(
        s["Actor"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["ID"] == FRANK_UPN && a["Type"] == 5)
    );
    assert!(
        s["Target"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["ID"] == "ci-pipeline-deployer" && t["Type"] == 1)
    );

    // Windows: more than 24 hours, or starting more than 7 days back, are refused as the service does.
    for (from, to) in [
        (now - Duration::hours(30), now),
        (
            now - Duration::days(8),
            now - Duration::days(8) + Duration::hours(2),
        ),
    ] {
        let (status, _, e) = get(
            format!(
                "{feed}/subscriptions/content?contentType=Audit.AzureActiveDirectory&startTime={}&endTime={}",
                from.format(fmt),
                to.format(fmt)
            ),
            office.clone(),
        )
        .await;
        assert_eq!(
            (status, e["error"]["code"].as_str()),
            (400, Some("AF20055")),
            "{e}"
        );
    }
    emu.shutdown().await;
}

#[test]
fn microsofts_content_listing_reads() {
    let blobs: Vec<keyturn::audit::office365_source::ContentBlob> = serde_json::from_str(
        include_str!("../fixtures/microsoft/o365/management_activity_api/content-list.json"),
    )
    .unwrap();
    assert_eq!(blobs.len(), 1);
    assert!(
        blobs[0]
            .content_uri
            .starts_with("https://manage.office.com/api/v1.0/")
    );
}

#[test]
fn microsofts_directory_audit_pages_decode_into_rows() {
    // The published list page reads; it holds a user change, which is not part of the feed.
    let page: Value = serde_json::from_str(include_str!(
        "../fixtures/microsoft/graph/directoryAudits/response-audits.json"
    ))
    .unwrap();
    let mut records: Vec<keyturn::graph::DirectoryAudit> =
        serde_json::from_value(page["value"].clone()).unwrap();
    assert!(!records.is_empty());
    assert!(keyturn::audit::graph_source::rows(&records).is_empty());
    // The same record as a credential change, with Microsoft's published KeyDescription property.
    let property: keyturn::graph::ModifiedProperty = serde_json::from_str(include_str!(
        "../fixtures/microsoft/graph/directoryAudits/response-key-description.json"
    ))
    .unwrap();
    let r = &mut records[0];
    r.activity_display_name =
        "Update application \u{2013} Certificates and secrets management ".into();
    r.target_resources[0].resource_type = Some("Application".into());
    r.target_resources[0].modified_properties = vec![property];
    let rows = keyturn::audit::graph_source::rows(&records);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].activity, Activity::CredentialAdded);
    assert_eq!(
        rows[0].key_id.as_deref(),
        Some("c7890f61-2f17-478f-bc60-60fd19c09588")
    );
    assert_eq!(
        rows[0].credential_name.as_deref(),
        Some("kavachiq-wi05-spike")
    );
    assert_eq!(rows[0].credential_type, Some("secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_the_chosen_audit_source() {
    let emu = emulator(true).await;
    let home = tempfile::tempdir().unwrap();
    let env = with_office365(env_for(&emu, home.path()), &emu);
    let graph = keyturn(env.clone(), &["doctor"]).await;
    let line = |out: &str| {
        out.lines()
            .find(|l| l.contains("audit read"))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line(&graph.stdout).contains("AuditLog.Read.All"),
        "{}",
        graph.stdout
    );
    let config = home.path().join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("audit_source = \"office365\"\n");
    std::fs::write(&config, text).unwrap();
    let office = keyturn(env, &["doctor"]).await;
    let l = line(&office.stdout);
    assert!(l.starts_with("PASS"), "{}", office.stdout);
    assert!(l.contains("ActivityFeed.Read"), "{l}");
    assert!(
        l.contains("no Audit.AzureActiveDirectory subscription yet"),
        "{l}"
    );
    emu.shutdown().await;
}
