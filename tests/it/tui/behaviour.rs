//! The list and detail view driven through `update`: sorting, filtering, loading, reloads, keys and mouse.
use super::*;

// ---- behaviour -------------------------------------------------------------------------------------------------

fn visible_names(app: &App) -> Vec<String> {
    (0..app.inventory.visible_len())
        .map(|i| {
            app.inventory
                .visible_row(i)
                .unwrap()
                .entry
                .display_name
                .clone()
        })
        .collect()
}

#[test]
fn sorted_by_coverage_with_broken_first_and_soonest_expiry_one_s_away() {
    let mut app = loaded(80, 24);
    assert_eq!(sort_label(&app), "coverage ends");
    // Coverage ends: Backup Daemon's only secret ended 10 days ago (broken); then the latest valid end ascending:
    // HR Portal +2.5, Payments Webhook +12, Contoso SSO +15, Invoice Bot +20, Payroll Sync +178 (its expired
    // secret is a leftover), Graph Explorer Tool +300; then a secret that never ends; then no credentials.
    assert_eq!(
        visible_names(&app),
        [
            "Backup Daemon",
            "HR Portal",
            "Payments Webhook",
            "Contoso SSO",
            "Invoice Bot",
            "Payroll Sync",
            "Graph Explorer Tool",
            "Data Lake Ingest",
            "Legacy SFTP Bridge"
        ]
    );
    // `s`: the per-credential order, soonest end first (Payroll Sync's leftover ended 3 days ago).
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(sort_label(&app), "soonest expiry");
    assert_eq!(
        visible_names(&app),
        [
            "Backup Daemon",
            "Payroll Sync",
            "HR Portal",
            "Payments Webhook",
            "Contoso SSO",
            "Invoice Bot",
            "Graph Explorer Tool",
            "Data Lake Ingest",
            "Legacy SFTP Bridge"
        ]
    );
}

#[test]
fn sort_and_status_filter_cycle() {
    let mut app = loaded(80, 24);
    cmd(&mut app, Command::CycleSort);
    // Soonest expiry: Payroll Sync's expired leftover comes second.
    assert_eq!(
        app.selected_row().unwrap().entry.display_name,
        "Backup Daemon"
    );
    assert_eq!(
        app.inventory.visible_row(1).unwrap().entry.display_name,
        "Payroll Sync"
    );
    cmd(&mut app, Command::CycleSort);
    assert_eq!(
        app.selected_row().unwrap().entry.display_name,
        "Backup Daemon"
    );
    assert_eq!(
        app.inventory.visible_row(1).unwrap().entry.display_name,
        "Contoso SSO"
    );
    cmd(&mut app, Command::CycleSort);
    assert_eq!(sort_label(&app), "coverage ends", "s cycles back");
    // Statuses by coverage: Payroll Sync is covered (ok, stale), only Backup Daemon is broken.
    cmd(&mut app, Command::CycleStatusFilter);
    assert_eq!(app.inventory.visible_len(), 2, "broken and critical only");
    cmd(&mut app, Command::CycleStatusFilter);
    assert_eq!(app.inventory.visible_len(), 5, "and warning");
    cmd(&mut app, Command::CycleStatusFilter);
    assert_eq!(app.inventory.visible_len(), 1, "broken only");
    cmd(&mut app, Command::CycleStatusFilter);
    assert_eq!(app.inventory.visible_len(), 9);
    cmd(&mut app, Command::ToggleServicePrincipals);
    assert_eq!(app.inventory.visible_len(), 8, "service principals hidden");
}

#[test]
fn keys_map_to_commands_through_the_keymap() {
    let app = loaded(80, 24);
    let cases = [
        (KeyCode::Char('j'), "down"),
        (KeyCode::Down, "down"),
        (KeyCode::Char('k'), "up"),
        (KeyCode::Char('g'), "top"),
        (KeyCode::Char('G'), "bottom"),
        (KeyCode::PageDown, "page_down"),
        (KeyCode::Enter, "open"),
        (KeyCode::Char('/'), "filter"),
        (KeyCode::Char('s'), "cycle_sort"),
        (KeyCode::Char('f'), "cycle_status_filter"),
        (KeyCode::Char('?'), "help"),
        (KeyCode::Char('q'), "quit"),
    ];
    for (code, name) in cases {
        match key(&app, code) {
            Some(Action::Command(c)) => assert_eq!(c.name(), name, "{code:?}"),
            other => panic!("{code:?} gave {other:?}"),
        }
    }
    let ctrl = |c| app.action_for_key(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
    assert!(matches!(
        ctrl('d'),
        Some(Action::Command(Command::HalfPageDown))
    ));
    assert!(matches!(
        ctrl('u'),
        Some(Action::Command(Command::HalfPageUp))
    ));
    assert!(matches!(ctrl('r'), Some(Action::Command(Command::Reload))));
    assert!(matches!(ctrl('c'), Some(Action::Command(Command::Quit))));
}

#[test]
fn typing_a_filter_takes_letters_that_are_keys_elsewhere() {
    let mut app = loaded(80, 24);
    press(&mut app, KeyCode::Char('/'));
    for c in "q?jg".chars() {
        assert!(matches!(
            key(&app, KeyCode::Char(c)),
            Some(Action::FilterInput(_))
        ));
    }
    for c in "PAY".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    assert!(!app.should_quit);
    assert_eq!(
        app.inventory.visible_len(),
        2,
        "Payroll Sync and Payments Webhook"
    );
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Char('y'));
    press(&mut app, KeyCode::Char('r'));
    assert_eq!(app.inventory.visible_len(), 1);
    assert_eq!(
        app.selected_row().unwrap().entry.display_name,
        "Payroll Sync"
    );
    press(&mut app, KeyCode::Enter);
    assert!(!app.filter_editing);
    assert_eq!(app.filter, "PAyr");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.inventory.visible_len(), 9);
    // By appId, too.
    press(&mut app, KeyCode::Char('/'));
    for c in guid(0xb003)[..13].chars() {
        press(&mut app, KeyCode::Char(c));
    }
    assert_eq!(app.inventory.visible_len(), 1);
    assert_eq!(app.selected_row().unwrap().entry.display_name, "HR Portal");
}

#[test]
fn filter_matches_owners_known_so_far() {
    let mut app = loaded(80, 24);
    // Owners are loaded for the row the operator rests on, never for every row.
    let Some(Effect::LoadDetail {
        owners: Some(r),
        audit: None,
    }) = select_payroll(&mut app)
    else {
        panic!("moving asks for the new row's owners");
    };
    assert!(!r.delay.is_zero(), "debounced while scrolling");
    update(&mut app, owners_loaded(&r, Ok(owners_alice())));
    let owned = app.selected_row().unwrap().entry.display_name.clone();
    assert_eq!(owned, "Payroll Sync");
    press(&mut app, KeyCode::Char('/'));
    for c in "alice@".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    assert_eq!(app.inventory.visible_len(), 1);
    assert_eq!(app.selected_row().unwrap().entry.display_name, owned);
    let text = screen_text(&app, 80, 24);
    assert!(text.contains("Payroll Sync"), "{text}");
}

#[test]
fn stale_owner_results_are_dropped_while_scrolling() {
    let mut app = loaded(80, 24);
    let Some(Effect::LoadDetail {
        owners: Some(first),
        ..
    }) = cmd(&mut app, Command::Down)
    else {
        panic!("owners for row 2");
    };
    let Some(Effect::LoadDetail {
        owners: Some(second),
        ..
    }) = cmd(&mut app, Command::Down)
    else {
        panic!("owners for row 3");
    };
    assert_ne!(first.id, second.id);
    assert_ne!(first.object_id, second.object_id);
    // The answer for the row already left arrives late: it must not land.
    update(&mut app, owners_loaded(&first, Ok(owners_alice())));
    assert!(!app.owners.contains_key(&first.object_id));
    assert!(app.owners_pending(&second.object_id));
    update(&mut app, owners_loaded(&second, Ok(vec![])));
    assert!(matches!(
        app.owners.get(&second.object_id),
        Some(Loadable::Loaded(o)) if o.is_empty()
    ));
    // Cached: coming back does not ask again; the owner count shows without another call.
    cmd(&mut app, Command::Up);
    assert!(cmd(&mut app, Command::Down).is_none());
    assert!(screen_text(&app, 80, 24).contains(" 0"));
}

#[test]
fn first_row_stays_the_most_urgent_while_pages_arrive() {
    let mut app = sized(App::new(config(Theme { color: true })), 80, 24);
    let Effect::LoadInventory { generation, .. } = app.start() else {
        panic!()
    };
    let mut all = tenant();
    let later = all.split_off(2); // Payroll Sync, Backup Daemon first
    let page = |entries: Vec<Entry>, n: u32| {
        Action::InventoryPage(InventoryPage {
            generation,
            entries,
            progress: Progress::Page {
                kind: keyturn::graph::ObjectType::Application,
                page: n,
                items: 0,
                total_so_far: 0,
                more: n == 1,
            },
        })
    };
    let mut later_reordered = later;
    let payroll = all.remove(0);
    update(&mut app, page(vec![payroll], 1));
    assert_eq!(
        app.selected_row().unwrap().entry.display_name,
        "Payroll Sync"
    );
    later_reordered.extend(all); // Backup Daemon (more urgent) arrives on page 2
    update(&mut app, page(later_reordered, 2));
    assert_eq!(
        app.selected_row().unwrap().entry.display_name,
        "Backup Daemon"
    );
}

#[test]
fn reload_keeps_the_list_until_the_new_one_is_complete() {
    let mut app = loaded(80, 24);
    let Some(Effect::LoadInventory { generation, .. }) = cmd(&mut app, Command::Reload) else {
        panic!("Ctrl-r reloads");
    };
    update(
        &mut app,
        Action::InventoryPage(InventoryPage {
            generation,
            entries: vec![app_entry(99, "Only New App", vec![], vec![])],
            progress: Progress::Page {
                kind: keyturn::graph::ObjectType::Application,
                page: 1,
                items: 1,
                total_so_far: 1,
                more: true,
            },
        }),
    );
    assert_eq!(
        app.inventory.len(),
        9,
        "old rows stay while the reload runs"
    );
    // A result of an older load is ignored.
    update(
        &mut app,
        Action::InventoryLoaded(InventoryLoaded {
            generation: generation - 1,
            result: Err(forbidden()),
        }),
    );
    assert!(app.popup.is_none());
    update(
        &mut app,
        Action::InventoryLoaded(InventoryLoaded {
            generation,
            result: Ok(1),
        }),
    );
    assert_eq!(app.inventory.len(), 1);
    assert_eq!(
        app.selected_row().unwrap().entry.display_name,
        "Only New App"
    );
}

#[test]
fn failed_reload_keeps_the_old_list_and_says_what_to_do() {
    let mut app = loaded(80, 24);
    let Some(Effect::LoadInventory { generation, .. }) = cmd(&mut app, Command::Reload) else {
        panic!()
    };
    update(
        &mut app,
        Action::InventoryLoaded(InventoryLoaded {
            generation,
            result: Err(forbidden()),
        }),
    );
    assert_eq!(app.inventory.len(), 9);
    let text = screen_text(&app, 80, 24);
    assert!(text.contains("Application.Read.All"), "{text}");
    assert!(text.contains("Ctrl-r"), "{text}");
    press(&mut app, KeyCode::Esc);
    assert!(app.popup.is_none());
    assert!(screen_text(&app, 80, 24).contains("load failed: permission missing"));
}

#[test]
fn detail_panes_and_rotate_key() {
    let mut app = loaded(80, 24);
    let earlier = select_payroll(&mut app);
    open_with(&mut app, earlier, owners_alice(), audit_events());
    let Screen::Detail(d) = &app.screen else {
        panic!("Enter opens the detail view")
    };
    assert_eq!(d.focus, Pane::Credentials);
    let text = screen_text(&app, 80, 24);
    assert!(text.contains("Alice Admin"), "{text}");
    assert!(text.contains("alice@contoso.com"), "{text}");
    assert!(
        text.contains(&format!(
            "added secret 'payroll-2026' (keyId {})",
            &guid(0xc002)[..8]
        )),
        "{text}"
    );
    assert!(
        text.contains("Update application - Certificates and secrets management"),
        "dashes normalised: {text}"
    );
    // `r` asks for the plan of the selected secret; Esc from "building the plan" goes back to the app.
    let Some(Effect::PlanRotation { key_id, .. }) = press(&mut app, KeyCode::Char('r')) else {
        panic!("r on a client secret asks for its rotation plan")
    };
    assert_eq!(key_id, KeyId::new(guid(0xc001)));
    assert!(screen_text(&app, 80, 24).contains("Building the rotation plan"));
    press(&mut app, KeyCode::Esc);
    assert!(app.flow.is_none());
    press(&mut app, KeyCode::Tab);
    let Screen::Detail(d) = &app.screen else {
        panic!()
    };
    assert_eq!(d.focus, Pane::Owners);
    press(&mut app, KeyCode::Esc);
    assert!(matches!(app.screen, Screen::List));
}

/// The detail's credential and the plan `r` asks for, as (index, keyId).
fn detail_cursor(app: &App) -> (usize, Option<KeyId>) {
    let Screen::Detail(d) = &app.screen else {
        panic!("the detail view is open")
    };
    (d.credential, d.credential_key.clone())
}

fn planned_key(app: &mut App) -> KeyId {
    let Some(Effect::PlanRotation { key_id, .. }) = press(app, KeyCode::Char('r')) else {
        panic!("r on a client secret asks for its rotation plan")
    };
    press(app, KeyCode::Esc);
    assert!(app.flow.is_none());
    key_id
}

/// Item 8 of issue 16: background reloads that reorder apps and insert credentials keep the operator on the
/// credential they chose, and `r` plans that keyId, not whatever now sits at the old row index.
#[test]
fn reloads_keep_the_selected_credential_by_key_id_and_r_plans_it() {
    let mut app = loaded(80, 24);
    let Some(Effect::LoadInventory { generation, .. }) = cmd(&mut app, Command::Reload) else {
        panic!("Ctrl-r reloads");
    };
    // Sorted by name, Payroll Sync is the last row; the reload below inserts an app above it.
    cmd(&mut app, Command::CycleSort);
    cmd(&mut app, Command::CycleSort);
    assert_eq!(sort_label(&app), "name");
    let earlier = cmd(&mut app, Command::Bottom); // Payroll Sync, while the reload runs
    assert_eq!(app.cursor.selected, 8);
    open_with(&mut app, earlier, owners_alice(), audit_events());
    press(&mut app, KeyCode::Char('j')); // payroll-2026, the second of two
    let chosen = KeyId::new(guid(0xc002));
    assert_eq!(detail_cursor(&app), (1, Some(chosen.clone())));

    // The reload lands: a new, more urgent app sorts first and Payroll Sync gained a secret that ends before the
    // chosen one, so the chosen one moved from index 1 to index 2.
    let payroll = |extra: Vec<PasswordCredential>| {
        let mut secrets = vec![
            secret(1, "payroll-2025", -365.0, at(-3.0)),
            secret(2, "payroll-2026", -2.0, at(178.0)),
        ];
        secrets.extend(extra);
        app_entry(1, "Payroll Sync", secrets, vec![])
    };
    let mut entries = tenant();
    entries[0] = payroll(vec![secret(8, "payroll-bridge", -1.0, at(5.0))]);
    entries.push(app_entry(
        20,
        "Aardvark Urgent",
        vec![secret(20, "aa", -400.0, at(-50.0))],
        vec![],
    ));
    update(
        &mut app,
        Action::InventoryPage(InventoryPage {
            generation,
            entries,
            progress: Progress::Page {
                kind: keyturn::graph::ObjectType::Application,
                page: 1,
                items: 10,
                total_so_far: 10,
                more: false,
            },
        }),
    );
    update(
        &mut app,
        Action::InventoryLoaded(InventoryLoaded {
            generation,
            result: Ok(10),
        }),
    );
    assert_eq!(detail_cursor(&app), (2, Some(chosen.clone())));
    assert_eq!(planned_key(&mut app), chosen);

    // The app alone is reloaded (as after a rotation) with one more secret ending first: index 3 now.
    let reloaded = payroll(vec![
        secret(8, "payroll-bridge", -1.0, at(5.0)),
        secret(9, "payroll-old", -400.0, at(-20.0)),
    ]);
    let object_id = reloaded.object_id.clone();
    update(
        &mut app,
        Action::AppReloaded(keyturn::tui::event::AppReloaded {
            object_id,
            result: Ok(reloaded),
        }),
    );
    assert_eq!(detail_cursor(&app), (3, Some(chosen.clone())));
    assert_eq!(planned_key(&mut app), chosen);

    // Back in the list the cursor is on Payroll Sync, one row lower: "Aardvark Urgent" sorts above it.
    press(&mut app, KeyCode::Esc);
    assert_eq!(
        app.selected_row().unwrap().entry.display_name,
        "Payroll Sync"
    );
    assert_eq!(app.cursor.selected, 9);
}

#[test]
fn read_only_sessions_never_offer_rotation() {
    let mut cfg = config(Theme { color: true });
    cfg.read_only = true;
    let mut app = sized(App::new(cfg), 80, 24);
    app.start();
    app.load_entries(tenant());
    cmd(&mut app, Command::Open);
    press(&mut app, KeyCode::Char('r'));
    let Some(Popup::Message { title, .. }) = &app.popup else {
        panic!()
    };
    assert_eq!(title, "Read-only session");
}

#[test]
fn confirm_dialog_starts_on_cancel_and_needs_the_typed_name() {
    let mut app = loaded(80, 24);
    app.popup = Some(Popup::Confirm(Confirm::new(
        "Rotate payroll-2025",
        vec!["New secret, then Key Vault, then remove the old one.".into()],
        "Payroll Sync",
        Action::Command(Command::CycleSort),
    )));
    // Letters go into the field, even q.
    assert!(matches!(
        key(&app, KeyCode::Char('q')),
        Some(Action::DialogInput('q'))
    ));
    // A stray Enter cancels.
    press(&mut app, KeyCode::Enter);
    assert!(app.popup.is_none());

    app.popup = Some(Popup::Confirm(Confirm::new(
        "Rotate",
        vec![],
        "Payroll Sync",
        Action::Command(Command::CycleSort),
    )));
    press(&mut app, KeyCode::Tab);
    for c in "Payroll Syn".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    let Some(Popup::Confirm(c)) = &app.popup else {
        panic!("Confirm does nothing until the name is typed")
    };
    assert_eq!(c.focus, DialogFocus::Confirm);
    insta::assert_snapshot!("confirm_80x24", draw(&app, 80, 24).backend());
    press(&mut app, KeyCode::Char('c'));
    press(&mut app, KeyCode::Enter);
    assert!(app.popup.is_none());
    assert_eq!(
        app.inventory.sort_key().label(),
        "soonest expiry",
        "on_confirm ran"
    );
}

#[test]
fn mouse_wheel_scrolls_and_click_selects_then_opens() {
    let mut app = loaded(80, 24);
    let wheel = |kind| {
        Event::Input(crossterm::event::Event::Mouse(MouseEvent {
            kind,
            column: 10,
            row: 8,
            modifiers: KeyModifiers::NONE,
        }))
    };
    let a = app.action_for(wheel(MouseEventKind::ScrollDown)).unwrap();
    update(&mut app, a);
    assert_eq!(app.cursor.selected, 3);
    // Rows start on line 4: line 6 is the third row.
    let click = || Action::Click { column: 20, row: 6 };
    update(&mut app, click());
    assert_eq!(app.cursor.selected, 2);
    assert!(matches!(app.screen, Screen::List));
    update(&mut app, click());
    assert!(matches!(app.screen, Screen::Detail(_)));
}

#[test]
fn fifty_thousand_rows_scroll_with_a_window() {
    let entries: Vec<Entry> = (0..50_000u32)
        .map(|i| {
            app_entry(
                100_000 + i,
                &format!("app {i:05}"),
                vec![secret(i, "s", -10.0, at((i % 900) as f64 - 100.0))],
                vec![],
            )
        })
        .collect();
    let mut app = sized(App::new(config(Theme { color: true })), 80, 24);
    app.start();
    app.load_entries(entries);
    cmd(&mut app, Command::Bottom);
    assert_eq!(app.cursor.selected, 49_999);
    assert_eq!(app.cursor.offset, 50_000 - 18);
    let text = screen_text(&app, 80, 24);
    assert!(text.contains("50,000 of 50,000 apps"), "{text}");
    cmd(&mut app, Command::HalfPageUp);
    assert_eq!(app.cursor.selected, 49_990);
    press(&mut app, KeyCode::Char('/'));
    for c in "app 4999".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    // "app 04999" does not contain "app 4999": app 49990 to app 49999 do.
    assert_eq!(app.inventory.visible_len(), 10);
}

#[test]
fn help_and_footer_come_from_the_keymap() {
    let mut app = loaded(120, 40);
    let footer_line = |app: &App| {
        screen_text(app, 120, 40)
            .lines()
            .last()
            .unwrap()
            .to_string()
    };
    let footer = footer_line(&app);
    for (keys, word) in keymap::hints(&[Context::List, Context::Navigation, Context::Global]) {
        assert!(footer.contains(&format!("{keys} {word}")), "{footer}");
    }
    cmd(&mut app, Command::Help);
    let help: String = keyturn::tui::views::help::lines(&app)
        .iter()
        .map(|l| l.to_string() + "\n")
        .collect();
    for b in keymap::active(&[Context::List, Context::Navigation, Context::Global]) {
        assert!(help.contains(b.desc), "help lacks {:?}", b.desc);
    }
    assert!(help.contains("/home/ops/.local/state/keyturn/keyturn.log"));
    assert!(help.contains("– until then"), "owner count note");
    assert!(footer_line(&app).contains("Esc close"));
}
