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
async fn without_the_suspicious_change_the_last_day_has_no_findings_and_exits_0() {
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
    assert_eq!(doc["days"], 7, "the document says what it covers");
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
