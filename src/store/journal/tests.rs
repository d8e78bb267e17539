//! The journal's unit tests (rotations).
use super::*;
use chrono::TimeZone;

fn t(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, h, 0, 0).unwrap()
}

pub(crate) fn sample() -> NewEntry {
    NewEntry {
        app_object_id: ObjectId::new("obj-1"),
        app_id: AppId::new("app-1"),
        app_name: "Payroll sync".into(),
        old_key_id: KeyId::new("old-key"),
        old_key_name: Some("2024 secret".into()),
        old_end: Some(t(5)),
        new_display_name: "keyturn 2025-06-01 alice".into(),
        requested_end: t(6),
        vault_url: "https://kv.vault.azure.net".into(),
        secret_name: "payroll-secret".into(),
        previous_version: Some("v1".into()),
        keep_until: None,
        operator: "alice".into(),
        approver: "alice".into(),
        known_key_ids: vec![KeyId::new("old-key"), KeyId::new("other")],
        planned_at: t(0),
        tenant_id: Some("tenant-1".into()),
        profile: Some("default".into()),
    }
}

#[test]
fn create_advance_and_read_back() {
    let j = Journal::in_memory().unwrap();
    let id = j.create(&sample(), t(1)).unwrap();
    let e = j.get(id).unwrap();
    assert_eq!(e.state_kind, StateKind::Approved);
    assert_eq!(e.known_key_ids.len(), 2);
    assert_eq!(e.owner, Some(ProcessOwner::current()));

    j.begin_step(id, Step::AddSecret, t(2)).unwrap();
    assert_eq!(j.get(id).unwrap().in_flight, Some(Step::AddSecret));
    j.advance(
        id,
        &RotationState::SecretAdded {
            new_key_id: KeyId::new("new-key"),
        },
        &Changes {
            new_end: Some(t(6)),
            new_hint: Some("abc".into()),
            ..Default::default()
        },
        t(2),
    )
    .unwrap();
    let e = j.get(id).unwrap();
    assert_eq!(e.in_flight, None);
    assert_eq!(e.new_key_id, Some(KeyId::new("new-key")));
    assert_eq!(e.new_hint.as_deref(), Some("abc"));
    assert_eq!(
        e.state(),
        RotationState::SecretAdded {
            new_key_id: KeyId::new("new-key")
        }
    );

    // Skipping StoredInVault is refused.
    let err = j
        .advance(id, &RotationState::Verified, &Changes::default(), t(3))
        .unwrap_err();
    assert!(
        matches!(err, JournalError::InvalidTransition { .. }),
        "{err}"
    );

    j.advance(
        id,
        &RotationState::StoredInVault {
            version: "v2".into(),
        },
        &Changes::default(),
        t(3),
    )
    .unwrap();
    assert_eq!(
        j.get(id).unwrap().new_secret_id().as_deref(),
        Some("https://kv.vault.azure.net/secrets/payroll-secret/v2")
    );
    let events = j.events(id).unwrap();
    let phases: Vec<_> = events.iter().map(|e| e.phase.as_str()).collect();
    assert_eq!(phases, ["state", "state", "start", "state", "state"]);
    assert_eq!(events[0].state, StateKind::Planned);
}

#[test]
fn unfinished_and_parked() {
    let j = Journal::in_memory().unwrap();
    let a = j.create(&sample(), t(1)).unwrap();
    let b = j.create(&sample(), t(1)).unwrap();
    j.advance(
        b,
        &RotationState::Failed {
            step: Step::AddSecret,
            error: "HTTP 500".into(),
        },
        &Changes::default(),
        t(2),
    )
    .unwrap();
    let unfinished: Vec<i64> = j.unfinished().unwrap().iter().map(|e| e.id).collect();
    assert_eq!(unfinished, [a]);
    assert_eq!(j.list(10).unwrap().len(), 2);
    assert_eq!(j.list(10).unwrap()[0].id, b);
    assert_eq!(
        j.get(b).unwrap().state(),
        RotationState::Failed {
            step: Step::AddSecret,
            error: "HTTP 500".into()
        }
    );
    assert!(matches!(j.get(99), Err(JournalError::NotFound(99))));
}

#[test]
fn claim_refuses_a_live_owner_and_takes_a_dead_one() {
    let j = Journal::in_memory().unwrap();
    let id = j.create(&sample(), t(1)).unwrap();
    // Pid 1 is alive on Linux but is not us.
    j.with(|c| {
        c.execute(
            "UPDATE rotations SET owner_pid = 1, owner_start = NULL WHERE id = ?1",
            params![id],
        )?;
        Ok(())
    })
    .unwrap();
    if Path::new("/proc/1/stat").exists() {
        assert!(j.claim(id, false).unwrap().is_err());
    }
    assert!(j.claim(id, true).unwrap().is_ok());
    // A pid that does not exist is dead.
    j.with(|c| {
        c.execute(
            "UPDATE rotations SET owner_pid = 999999999 WHERE id = ?1",
            params![id],
        )?;
        Ok(())
    })
    .unwrap();
    if Path::new("/proc/self/stat").exists() {
        assert!(j.claim(id, false).unwrap().is_ok());
    }
    j.release(id).unwrap();
    assert_eq!(j.get(id).unwrap().owner, None);
}

#[test]
fn two_processes_writing_at_once_wait_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(JOURNAL_FILE);
    Journal::open(&path).unwrap();
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || {
                let j = Journal::open(&path).unwrap();
                for _ in 0..20 {
                    let id = j.create(&sample(), t(1)).unwrap();
                    j.begin_step(id, Step::AddSecret, t(2)).unwrap();
                    j.advance(
                        id,
                        &RotationState::SecretAdded {
                            new_key_id: KeyId::new("k"),
                        },
                        &Changes::default(),
                        t(2),
                    )
                    .unwrap();
                    j.list(5).unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(Journal::open(&path).unwrap().list(100).unwrap().len(), 60);
}

#[test]
fn file_journal_is_private_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join(JOURNAL_FILE);
    let id = {
        let j = Journal::open(&path).unwrap();
        j.create(&sample(), t(1)).unwrap()
    };
    let j = Journal::open(&path).unwrap();
    assert_eq!(j.get(id).unwrap().app_name, "Payroll sync");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
