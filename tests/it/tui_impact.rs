//! The TUI's impact facts (last use, unused, application permissions, lifetime cap) in the list, the detail view and
//! the plan screen: state driven through `update`, drawn on a TestBackend.
use crate::tui::{
    audit_events, draw, guid, loaded, now, open_with, owners_alice, payroll_plan, plan_open,
    select_payroll,
};
use chrono::Duration;
use keyturn::graph::{GrantedPermission, KeyId, LifetimeCap, ObjectId};
use keyturn::impact::{ImpactFacts, LastUseState};
use keyturn::rotation::plan::CappedLifetime;
use keyturn::tui::event::ImpactLoaded;
use keyturn::tui::{Action, App, update};
use std::collections::HashMap;

fn payroll() -> ObjectId {
    ObjectId::new(guid(0xa001))
}

/// Payroll Sync: its expired secret (started a year ago) never signed in; the fresh one 2 hours ago; it holds
/// Application.ReadWrite.All (privileged) and User.Read.All.
fn facts() -> ImpactFacts {
    ImpactFacts {
        last_use: LastUseState::Known,
        last_sign_in: HashMap::from([(KeyId::new(guid(0xc002)), now() - Duration::hours(2))]),
        permissions: vec![
            GrantedPermission {
                resource: "Microsoft Graph".into(),
                value: "Application.ReadWrite.All".into(),
                privileged: true,
            },
            GrantedPermission {
                resource: "Microsoft Graph".into(),
                value: "User.Read.All".into(),
                privileged: false,
            },
        ],
        has_service_principal: Some(true),
        permissions_unknown: None,
        unused_days: 90,
    }
}

fn unknown_last_use() -> ImpactFacts {
    ImpactFacts {
        last_use: LastUseState::Unknown(
            "last use unknown: needs Entra ID P1 and AuditLog.Read.All (Graph said: ...)".into(),
        ),
        last_sign_in: HashMap::new(),
        permissions: Vec::new(),
        has_service_principal: Some(true),
        permissions_unknown: None,
        unused_days: 90,
    }
}

fn with_facts(app: &mut App, facts: ImpactFacts) {
    update(
        app,
        Action::ImpactLoaded(ImpactLoaded {
            object_id: payroll(),
            facts,
        }),
    );
}

/// Payroll Sync's detail view.
fn payroll_detail(w: u16, h: u16, f: ImpactFacts) -> App {
    let mut app = loaded(w, h);
    let earlier = select_payroll(&mut app);
    with_facts(&mut app, f);
    open_with(&mut app, earlier, owners_alice(), audit_events());
    app
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let t = draw(app, w, h);
    let buf = t.backend().buffer();
    let mut s = String::new();
    for y in 0..h {
        for x in 0..w {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

#[test]
fn snapshot_detail_with_last_use_and_permissions() {
    for (w, h) in [(80, 24), (120, 40)] {
        let app = payroll_detail(w, h, facts());
        insta::assert_snapshot!(format!("detail_impact_{w}x{h}"), draw(&app, w, h).backend());
        let text = screen(&app, w, h);
        assert!(
            text.contains("⚠ unused"),
            "the year-old never-used secret:\n{text}"
        );
        assert!(text.contains("2 h ago"), "{text}");
        // The summary may wrap between the two words.
        assert!(
            text.contains("⚑ privileged:") && text.contains("Application.ReadWrite.All"),
            "{text}"
        );
    }
}

#[test]
fn detail_says_once_when_last_use_is_unknown() {
    let (w, h) = (120, 40);
    let app = payroll_detail(w, h, unknown_last_use());
    let text = screen(&app, w, h);
    assert_eq!(
        text.matches("last use unknown: needs Entra ID P1 and AuditLog.Read.All")
            .count(),
        1,
        "{text}"
    );
    // No credential is called unused or never used when last use is unknown.
    assert!(
        !text.contains("unused") && !text.contains("never"),
        "{text}"
    );
    assert_eq!(
        text.matches("unknown").count() - 1,
        2,
        "one 'unknown' per credential row:\n{text}"
    );
}

#[test]
fn the_list_marks_privileged_apps_once_their_permissions_are_known() {
    let (w, h) = (120, 40);
    let mut app = loaded(w, h);
    assert!(!screen(&app, w, h).contains("privileged"));
    with_facts(&mut app, facts());
    let text = screen(&app, w, h);
    let line = text
        .lines()
        .find(|l| l.contains("Payroll Sync"))
        .unwrap_or_else(|| panic!("Payroll Sync is listed:\n{text}"));
    assert!(line.contains("⚑ privileged Payroll Sync"), "{line}");
    assert_eq!(text.matches("privileged").count(), 1, "{text}");
}

#[test]
fn snapshot_plan_with_impact_and_a_capped_lifetime() {
    let (w, h) = (120, 40);
    let mut plan = payroll_plan(true);
    plan.lifetime_days = 90;
    plan.new_end = now() + Duration::days(90);
    plan.lifetime_cap = Some(CappedLifetime {
        requested_days: 180,
        cap: LifetimeCap {
            max_lifetime: Duration::days(90),
            source: "tenant policy".into(),
        },
    });
    plan.warnings.push(format!(
        "the new secret's lifetime is {}: the tenant's app management policy (passwordLifetime) allows no more",
        plan.lifetime_cap.as_ref().unwrap().describe()
    ));
    let mut app = plan_open(w, h, plan);
    with_facts(&mut app, facts());
    insta::assert_snapshot!("rotation_plan_impact_120x40", draw(&app, w, h).backend());
    let text = screen(&app, w, h);
    assert!(
        text.contains("capped by tenant policy to 90 days (180 asked for)"),
        "{text}"
    );
    assert!(
        text.contains("(90 days, capped by tenant policy)"),
        "{text}"
    );
    assert!(
        text.contains("consider removing it instead (Esc, D)"),
        "{text}"
    );
    assert!(
        text.contains("⚑ privileged: Application.ReadWrite.All"),
        "{text}"
    );
}

/// An owner Graph sent without names (the identity lacks User.Read.All and Directory.Read.All): the detail view
/// says so and which permission shows the name, on one line at 120 columns.
#[test]
fn an_owner_without_names_says_which_permission_shows_it() {
    use keyturn::graph::Owner;
    let (w, h) = (120, 40);
    let mut app = loaded(w, h);
    let earlier = select_payroll(&mut app);
    with_facts(&mut app, facts());
    let hidden = Owner::User {
        id: ObjectId::new(guid(0x1001)),
        display_name: None,
        user_principal_name: None,
        mail: None,
    };
    open_with(&mut app, earlier, vec![hidden], audit_events());
    let text = screen(&app, w, h);
    let line = text
        .lines()
        .find(|l| l.contains("(name hidden)"))
        .unwrap_or_else(|| panic!("no hidden owner in:\n{text}"));
    assert!(
        line.contains(&format!(
            "{}: names need User.Read.All or Directory.Read.All",
            guid(0x1001)
        )),
        "{line}"
    );
}
