//! Snapshots of the TUI's screens, and the colour that carries meaning on them.
use super::*;

// ---- snapshots -------------------------------------------------------------------------------------------------

#[test]
fn snapshot_list() {
    for (w, h) in SIZES {
        let app = loaded(w, h);
        insta::assert_snapshot!(format!("list_{w}x{h}"), draw(&app, w, h).backend());
    }
}

#[test]
fn snapshot_detail() {
    for (w, h) in SIZES {
        let mut app = loaded(w, h);
        // Payroll Sync: an expired secret beside a fresh one.
        let pos = app
            .inventory
            .position_of(&ObjectId::new(guid(0xa001)))
            .unwrap();
        let mut earlier = None;
        for _ in 0..pos {
            earlier = cmd(&mut app, Command::Down);
        }
        update(
            &mut app,
            Action::StoredIn(vec![(
                KeyId::new(guid(0xc002)),
                "kv-prod/payroll-sync".into(),
            )]),
        );
        open_with(&mut app, earlier, owners_alice(), audit_events());
        insta::assert_snapshot!(format!("detail_{w}x{h}"), draw(&app, w, h).backend());
    }
}

#[test]
fn snapshot_detail_without_owners_and_audit_forbidden() {
    let (w, h) = (80, 24);
    let (mut app, first) = loaded_with_effect(w, h);
    let Some(Effect::LoadDetail {
        owners: Some(owners),
        ..
    }) = first
    else {
        panic!("the first row's owners are asked for once the list is complete");
    };
    let Some(Effect::LoadDetail {
        owners: None,
        audit,
    }) = cmd(&mut app, Command::Open)
    else {
        panic!("expected an audit load only: owners are on their way");
    };
    update(&mut app, owners_loaded(&owners, Ok(vec![])));
    let a = audit.unwrap();
    update(
        &mut app,
        Action::AuditLoaded(AuditLoaded {
            request: a.request.id,
            object_id: a.request.object_id,
            result: Err(GraphError::Forbidden {
                operation: "read audit events",
                missing_permission: "AuditLog.Read.All and Directory.Read.All",
                code: "Authorization_RequestDenied".into(),
                message: "Insufficient privileges.".into(),
            }
            .into()),
        }),
    );
    insta::assert_snapshot!("detail_no_owners_80x24", draw(&app, w, h).backend());
}

#[test]
fn snapshot_help() {
    for (w, h) in SIZES {
        let mut app = loaded(w, h);
        cmd(&mut app, Command::Help);
        insta::assert_snapshot!(format!("help_{w}x{h}"), draw(&app, w, h).backend());
    }
}

#[test]
fn snapshot_filter() {
    for (w, h) in SIZES {
        let mut app = loaded(w, h);
        press(&mut app, KeyCode::Char('/'));
        for c in "pay".chars() {
            press(&mut app, KeyCode::Char(c));
        }
        insta::assert_snapshot!(format!("filter_{w}x{h}"), draw(&app, w, h).backend());
    }
}

#[test]
fn snapshot_empty_tenant() {
    for (w, h) in SIZES {
        let mut app = sized(App::new(config(Theme { color: true })), w, h);
        app.start();
        app.load_entries(vec![]);
        insta::assert_snapshot!(format!("empty_{w}x{h}"), draw(&app, w, h).backend());
    }
}

#[test]
fn snapshot_error() {
    for (w, h) in SIZES {
        let mut app = sized(App::new(config(Theme { color: true })), w, h);
        let Effect::LoadInventory { generation, .. } = app.start() else {
            panic!("start loads the inventory");
        };
        update(
            &mut app,
            Action::InventoryLoaded(InventoryLoaded {
                generation,
                result: Err(forbidden()),
            }),
        );
        insta::assert_snapshot!(format!("error_{w}x{h}"), draw(&app, w, h).backend());
    }
}

#[test]
fn snapshot_loading_first_page() {
    let (w, h) = (80, 24);
    let mut app = sized(App::new(config(Theme { color: true })), w, h);
    let Effect::LoadInventory { generation, .. } = app.start() else {
        panic!("start loads the inventory");
    };
    let mut entries = tenant();
    entries.truncate(4);
    update(
        &mut app,
        Action::InventoryPage(InventoryPage {
            generation,
            entries,
            progress: Progress::Page {
                kind: keyturn::graph::ObjectType::Application,
                page: 3,
                items: 4,
                total_so_far: 2002,
                more: true,
            },
        }),
    );
    update(
        &mut app,
        Action::Notice(keyturn::graph::Notice::Throttled {
            operation: "list applications",
            wait: std::time::Duration::from_secs(2),
            attempt: 2,
        }),
    );
    insta::assert_snapshot!("loading_throttled_80x24", draw(&app, w, h).backend());
}

// ---- colour carries meaning only twice over --------------------------------------------------------------------

#[test]
fn expired_row_is_drawn_in_the_danger_style() {
    let app = loaded(120, 40);
    let t = draw(&app, 120, 40);
    let buf = t.backend().buffer();
    // The list's rows start on line 4 (2 header lines, the title line, the column header); the first is the
    // most urgent, a broken one (nothing valid left).
    let y = 4;
    let line: String = (0..120).map(|x| buf[(x, y)].symbol().to_string()).collect();
    assert!(line.contains("✖ broken"), "first row: {line}");
    let x = line
        .find('✖')
        .map(|b| line[..b].chars().count() as u16)
        .unwrap();
    for dx in 0..8 {
        let cell = &buf[(x + dx, y)];
        assert_eq!(
            cell.fg,
            Color::Red,
            "cell {dx} of the status word: {cell:?}"
        );
        assert!(
            cell.modifier.contains(ratatui::style::Modifier::BOLD),
            "danger is bold as well, for terminals with few colours"
        );
    }
    // A row that is fine carries no red.
    let ok_y = (4..40)
        .find(|&y| {
            (0..120)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .contains("✔ ok")
        })
        .unwrap();
    assert!((0..120).all(|x| buf[(x, ok_y)].fg != Color::Red));
}

#[test]
fn no_color_means_no_colour_at_all() {
    let mut app = sized(App::new(config(Theme::monochrome())), 120, 40);
    app.start();
    app.load_entries(tenant());
    cmd(&mut app, Command::Help);
    let t = draw(&app, 120, 40);
    for cell in t.backend().buffer().content() {
        assert_eq!(cell.fg, Color::Reset, "{cell:?}");
        assert_eq!(cell.bg, Color::Reset, "{cell:?}");
    }
    let text = screen_text(&app, 120, 40);
    assert!(
        text.contains("✖ broken"),
        "status keeps its symbol and word"
    );
}
