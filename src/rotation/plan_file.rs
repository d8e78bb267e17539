//! Separated approval: one person writes a plan file (`keyturn rotate ... --plan-out FILE`), another reviews it (a
//! ticket, a pull request) and runs exactly that plan (`keyturn rotate --plan FILE --yes`). The file records what the
//! plan was computed from (the app's credentials, the vault secret's latest version, the tenant); before anything is
//! written the plan is computed again and every difference refuses the run. The digest covers every field, so an
//! edited file is refused too (it guards against mistakes, not against someone who can recompute it: the review of
//! the file is the control).
use super::plan::{OldDisposition, RotationPlan};
use crate::graph::KeyId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The file format's version; a file of another version is refused with what to do.
pub const PLAN_FILE_VERSION: u32 = 1;
/// Plan files are small; a larger file is not one of ours.
const MAX_PLAN_FILE_BYTES: u64 = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("cannot read the plan file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the plan file {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("the plan file {path} is larger than {MAX_PLAN_FILE_BYTES} bytes: not a keyturn plan")]
    TooLarge { path: String },
    #[error("the plan file {path} is not a keyturn plan: {reason}")]
    Malformed { path: String, reason: String },
    #[error(
        "the plan file {path} has format version {found}; this keyturn reads version {PLAN_FILE_VERSION}: write the plan again with this version"
    )]
    Version { path: String, found: u32 },
    #[error(
        "the plan file {path} was changed after it was written (its digest does not match): write the plan again"
    )]
    Digest { path: String },
    #[error(
        "the plan has no vault secret: give --vault and --secret-name (or a mapping) when writing it"
    )]
    NoTarget,
}

/// The plan as written to disk (JSON, camelCase like Graph).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanFile {
    pub keyturn_plan: u32,
    pub planned_at: DateTime<Utc>,
    /// The person who wrote the plan (profile `operator`, else the OS user).
    pub planned_by: String,
    /// The identity keyturn was signed in as when it computed the plan.
    pub signed_in_as: String,
    pub tenant_id: String,
    pub app: PlanApp,
    pub old_credential: PlanOld,
    /// Every client secret keyId of the app when the plan was computed (lower case, sorted).
    pub known_key_ids: Vec<String>,
    pub new_secret: PlanNew,
    pub vault: PlanVault,
    pub old_disposition: PlanDisposition,
    /// `sha256:` and the hex digest of this document with `digest` empty.
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanApp {
    pub object_id: String,
    pub app_id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanOld {
    pub key_id: String,
    pub display_name: Option<String>,
    pub end_date_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanNew {
    pub display_name: String,
    pub lifetime_days: i64,
    pub end_date_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanVault {
    pub url: String,
    pub secret_name: String,
    /// The secret's latest version when the plan was computed; `null` when it did not exist yet.
    pub version_seen: Option<String>,
    /// How the mapping was found (config, tags, command line, typed in).
    pub found_in: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanDisposition {
    /// `removeWhenProven` or `keepUntil`.
    pub status: String,
    pub keep_until: Option<DateTime<Utc>>,
}

impl PlanDisposition {
    fn from(d: OldDisposition) -> Self {
        match d {
            OldDisposition::RemoveWhenProven => Self {
                status: "removeWhenProven".into(),
                keep_until: None,
            },
            OldDisposition::KeepUntil(t) => Self {
                status: "keepUntil".into(),
                keep_until: Some(t),
            },
        }
    }

    fn to_disposition(&self) -> Result<OldDisposition, String> {
        match (self.status.as_str(), self.keep_until) {
            ("removeWhenProven", None) => Ok(OldDisposition::RemoveWhenProven),
            ("keepUntil", Some(t)) => Ok(OldDisposition::KeepUntil(t)),
            (s, _) => Err(format!(
                "oldDisposition {s:?} is not removeWhenProven, or keepUntil with a date"
            )),
        }
    }
}

fn sorted_keys(keys: &[KeyId]) -> Vec<String> {
    let mut v: Vec<String> = keys.iter().map(|k| k.as_str().to_lowercase()).collect();
    v.sort();
    v.dedup();
    v
}

fn hex_sha256(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

impl PlanFile {
    /// The file for a plan computed now. `planned_by` is the person, `signed_in_as` keyturn's identity.
    pub fn from_plan(
        plan: &RotationPlan,
        tenant_id: &str,
        planned_by: &str,
        signed_in_as: &str,
    ) -> Result<Self, PlanFileError> {
        let target = plan.target.as_ref().ok_or(PlanFileError::NoTarget)?;
        let mut file = Self {
            keyturn_plan: PLAN_FILE_VERSION,
            planned_at: plan.planned_at,
            planned_by: planned_by.to_string(),
            signed_in_as: signed_in_as.to_string(),
            tenant_id: tenant_id.to_string(),
            app: PlanApp {
                object_id: plan.app.object_id.as_str().to_string(),
                app_id: plan.app.app_id.as_str().to_string(),
                display_name: plan.app.display_name.clone(),
            },
            old_credential: PlanOld {
                key_id: plan.old.key_id.as_str().to_lowercase(),
                display_name: plan.old.display_name.clone(),
                end_date_time: plan.old.end,
            },
            known_key_ids: sorted_keys(&plan.known_key_ids),
            new_secret: PlanNew {
                display_name: plan.new_display_name.clone(),
                lifetime_days: plan.lifetime_days,
                end_date_time: plan.new_end,
            },
            vault: PlanVault {
                url: target.target.vault_url.clone(),
                secret_name: target.target.name.clone(),
                version_seen: target.current.as_ref().map(|v| v.version.clone()),
                found_in: target.source.to_string(),
            },
            old_disposition: PlanDisposition::from(plan.old_disposition),
            digest: String::new(),
        };
        file.digest = file.compute_digest();
        Ok(file)
    }

    fn compute_digest(&self) -> String {
        let mut copy = self.clone();
        copy.digest = String::new();
        // Serialising our own types cannot fail (no maps with non-string keys, no custom serialisers).
        let bytes = serde_json::to_vec(&copy).unwrap_or_default();
        format!("sha256:{}", hex_sha256(&bytes))
    }

    /// Pretty JSON with a trailing newline (diffable in a pull request).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Write atomically (a temp file beside it, then rename): a reader never sees half a plan. The file is 0600: it
    /// names the tenant, the app and the vault secret.
    pub fn write(&self, path: &Path) -> Result<(), PlanFileError> {
        let err = |source| PlanFileError::Write {
            path: path.display().to_string(),
            source,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".tmp-{}", std::process::id()));
        let tmp = std::path::PathBuf::from(tmp);
        // A temp file left by a crashed run of this same process id would make create_new fail: remove it first.
        let _ = std::fs::remove_file(&tmp);
        crate::store::private_fs::write_new_private_file(&tmp, self.to_json().as_bytes()).map_err(
            |e| {
                let _ = std::fs::remove_file(&tmp);
                err(e)
            },
        )?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            err(e)
        })
    }

    /// Read, check the version and the digest.
    pub fn read(path: &Path) -> Result<Self, PlanFileError> {
        let shown = path.display().to_string();
        let read_err = |source| PlanFileError::Read {
            path: shown.clone(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        if meta.len() > MAX_PLAN_FILE_BYTES {
            return Err(PlanFileError::TooLarge { path: shown });
        }
        let bytes = std::fs::read(path).map_err(read_err)?;
        // The version first, so a future format says "version" rather than "unknown field".
        let version = serde_json::from_slice::<serde_json::Value>(&bytes)
            .map_err(|e| PlanFileError::Malformed {
                path: shown.clone(),
                reason: e.to_string(),
            })?
            .get("keyturnPlan")
            .and_then(|v| v.as_u64());
        match version {
            Some(v) if v == u64::from(PLAN_FILE_VERSION) => {}
            Some(v) => {
                return Err(PlanFileError::Version {
                    path: shown,
                    found: u32::try_from(v).unwrap_or(u32::MAX),
                });
            }
            None => {
                return Err(PlanFileError::Malformed {
                    path: shown,
                    reason: "no keyturnPlan version field".into(),
                });
            }
        }
        let file: Self = serde_json::from_slice(&bytes).map_err(|e| PlanFileError::Malformed {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        file.old_disposition
            .to_disposition()
            .map_err(|reason| PlanFileError::Malformed {
                path: shown.clone(),
                reason,
            })?;
        if file.digest != file.compute_digest() {
            return Err(PlanFileError::Digest { path: shown });
        }
        Ok(file)
    }

    /// The disposition the file asks for (checked by `read`).
    pub fn disposition(&self) -> OldDisposition {
        self.old_disposition
            .to_disposition()
            .unwrap_or(OldDisposition::RemoveWhenProven)
    }

    /// Everything that differs between what the plan saw and a plan computed now, in words; empty when the plan
    /// may run. `tenant_id` is the signed-in tenant.
    pub fn differences(&self, tenant_id: &str, now: &RotationPlan) -> Vec<String> {
        let mut out = Vec::new();
        if !self.tenant_id.eq_ignore_ascii_case(tenant_id) {
            out.push(format!(
                "the plan is for tenant {}, but keyturn is signed in to tenant {tenant_id}",
                self.tenant_id
            ));
        }
        if !self
            .app
            .object_id
            .eq_ignore_ascii_case(now.app.object_id.as_str())
        {
            out.push(format!(
                "the plan is for app object {}, which now resolves to {}",
                self.app.object_id, now.app.object_id
            ));
        }
        if self.app.display_name != now.app.display_name {
            out.push(format!(
                "the app was renamed from {:?} to {:?}",
                self.app.display_name, now.app.display_name
            ));
        }
        if self.old_credential.end_date_time != now.old.end {
            out.push(format!(
                "the old secret {}'s end date changed",
                self.old_credential.key_id
            ));
        }
        let current = sorted_keys(&now.known_key_ids);
        let added: Vec<&String> = current
            .iter()
            .filter(|k| !self.known_key_ids.contains(k))
            .collect();
        let removed: Vec<&String> = self
            .known_key_ids
            .iter()
            .filter(|k| !current.contains(k))
            .collect();
        if !added.is_empty() || !removed.is_empty() {
            let list = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
            let mut what = Vec::new();
            if !added.is_empty() {
                what.push(format!("added {}", list(&added)));
            }
            if !removed.is_empty() {
                what.push(format!("removed {}", list(&removed)));
            }
            out.push(format!(
                "the app's client secrets changed since the plan was written ({})",
                what.join("; ")
            ));
        }
        match &now.target {
            None => out.push("the plan's vault secret is no longer known".into()),
            Some(t) => {
                if !t.target.vault_url.eq_ignore_ascii_case(&self.vault.url)
                    || t.target.name != self.vault.secret_name
                {
                    out.push(format!(
                        "the plan writes to {}/{}, but the plan computed now writes to {}/{}",
                        self.vault.url, self.vault.secret_name, t.target.vault_url, t.target.name
                    ));
                }
                let seen = self.vault.version_seen.as_deref();
                let latest = t.current.as_ref().map(|v| v.version.as_str());
                if seen != latest {
                    out.push(format!(
                        "the vault secret's latest version is {}, but the plan saw {}",
                        latest.unwrap_or("none (the secret is gone)"),
                        seen.unwrap_or("none (it did not exist)")
                    ));
                }
            }
        }
        if self.new_secret.end_date_time <= now.planned_at {
            out.push(format!(
                "the new secret's planned end date {} has passed",
                self.new_secret.end_date_time.format("%Y-%m-%d %H:%M UTC")
            ));
        }
        out
    }

    /// Make a plan computed now into exactly the one in the file: its new secret's end date and name (with who runs
    /// it), its disposition of the old secret, and who planned and who runs it.
    pub fn apply_to(&self, plan: &mut RotationPlan, run_by: &str) {
        plan.new_end = self.new_secret.end_date_time;
        plan.lifetime_days = self.new_secret.lifetime_days;
        plan.new_display_name = format!("{}, run by {}", self.new_secret.display_name, run_by);
        plan.set_old_disposition(self.disposition());
        plan.operator = self.planned_by.clone();
        plan.approver = format!(
            "{run_by} (ran the plan {} written by {})",
            short_digest(&self.digest),
            self.planned_by
        );
    }
}

/// The first 12 hex digits of a `sha256:` digest, for messages and names.
pub fn short_digest(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.get(..12).unwrap_or(hex)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{AppId, ObjectId};
    use crate::keyvault::mapping::MappingSource;
    use crate::keyvault::{SecretTarget, VersionInfo};
    use crate::rotation::plan::{AppSummary, OldCredential, PlannedTarget};
    use chrono::{Duration, TimeZone};

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, 0, 0).unwrap()
    }

    fn version(v: &str) -> VersionInfo {
        VersionInfo {
            id: format!("https://kv.vault.azure.net/secrets/s1/{v}"),
            name: "s1".into(),
            version: v.into(),
            tags: Default::default(),
            enabled: Some(true),
            not_before: None,
            expires: None,
            created: None,
            updated: None,
            content_type: None,
        }
    }

    fn plan(keys: &[&str], current: &str, now: DateTime<Utc>) -> RotationPlan {
        RotationPlan {
            app: AppSummary {
                object_id: ObjectId::new("11111111-1111-1111-1111-111111111111"),
                app_id: AppId::new("22222222-2222-2222-2222-222222222222"),
                display_name: "Payroll".into(),
            },
            old: OldCredential {
                key_id: KeyId::new("AAAA0000-0000-0000-0000-000000000001"),
                display_name: Some("old".into()),
                hint: None,
                end: Some(at(0) + Duration::days(5)),
                days_left: Some(5),
            },
            new_display_name: "keyturn 2026-12-01 alice".into(),
            new_end: at(0) + Duration::days(30),
            lifetime_days: 30,
            lifetime_cap: None,
            target: Some(PlannedTarget {
                target: SecretTarget::new("https://kv.vault.azure.net", "s1").unwrap(),
                source: MappingSource::Flag,
                current: Some(version(current)),
                deleted: None,
            }),
            candidates: Vec::new(),
            old_disposition: OldDisposition::KeepUntil(at(0) + Duration::days(3)),
            operator: "alice".into(),
            approver: "alice".into(),
            known_key_ids: keys.iter().map(|k| KeyId::new(*k)).collect(),
            warnings: vec![],
            planned_at: now,
        }
    }

    const KEYS: [&str; 2] = [
        "AAAA0000-0000-0000-0000-000000000001",
        "bbbb0000-0000-0000-0000-000000000002",
    ];

    #[test]
    fn a_plan_computed_again_unchanged_has_no_differences() {
        let file =
            PlanFile::from_plan(&plan(&KEYS, "v1", at(0)), "tenant-a", "alice", "app x").unwrap();
        assert!(
            file.differences("TENANT-A", &plan(&KEYS, "v1", at(2)))
                .is_empty()
        );
        // Key ids are compared without regard to case or order.
        let reordered = [KEYS[1].to_uppercase(), KEYS[0].to_lowercase()];
        let reordered: Vec<&str> = reordered.iter().map(String::as_str).collect();
        assert!(
            file.differences("tenant-a", &plan(&reordered, "v1", at(2)))
                .is_empty()
        );
    }

    #[test]
    fn each_change_since_the_plan_is_named() {
        let file =
            PlanFile::from_plan(&plan(&KEYS, "v1", at(0)), "tenant-a", "alice", "app x").unwrap();
        let d = file.differences("tenant-b", &plan(&KEYS[..1], "v2", at(2)));
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d[0].contains("tenant tenant-a") && d[0].contains("tenant-b"));
        assert!(d[1].contains("removed bbbb0000-0000-0000-0000-000000000002"));
        assert!(d[2].contains("latest version is v2") && d[2].contains("saw v1"));
        // Run after the new secret's planned end: refused too.
        let late = file.differences("tenant-a", &plan(&KEYS, "v1", at(0) + Duration::days(31)));
        assert_eq!(late.len(), 1, "{late:?}");
        assert!(late[0].contains("has passed"));
    }

    #[test]
    fn the_file_round_trips_and_an_edit_or_another_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        let file =
            PlanFile::from_plan(&plan(&KEYS, "v1", at(0)), "tenant-a", "alice", "app x").unwrap();
        file.write(&path).unwrap();
        assert_eq!(PlanFile::read(&path).unwrap(), file);
        let text = std::fs::read_to_string(&path).unwrap();

        std::fs::write(&path, text.replace("\"v1\"", "\"v9\"")).unwrap();
        assert!(matches!(
            PlanFile::read(&path),
            Err(PlanFileError::Digest { .. })
        ));
        std::fs::write(
            &path,
            text.replace("\"keyturnPlan\": 1", "\"keyturnPlan\": 2"),
        )
        .unwrap();
        assert!(matches!(
            PlanFile::read(&path),
            Err(PlanFileError::Version { found: 2, .. })
        ));
        std::fs::write(&path, "{\"keyturnPlan\": 1}").unwrap();
        assert!(matches!(
            PlanFile::read(&path),
            Err(PlanFileError::Malformed { .. })
        ));
        std::fs::write(&path, vec![b' '; 300 * 1024]).unwrap();
        assert!(matches!(
            PlanFile::read(&path),
            Err(PlanFileError::TooLarge { .. })
        ));
    }

    #[test]
    fn applying_the_file_records_who_planned_and_who_runs() {
        let file =
            PlanFile::from_plan(&plan(&KEYS, "v1", at(0)), "tenant-a", "alice", "app x").unwrap();
        let mut now = plan(&KEYS, "v1", at(2));
        now.new_end = at(2) + Duration::days(30);
        now.operator = "bob".into();
        file.apply_to(&mut now, "bob");
        assert_eq!(
            now.new_end,
            at(0) + Duration::days(30),
            "the file's end date"
        );
        assert_eq!(now.new_display_name, "keyturn 2026-12-01 alice, run by bob");
        assert_eq!(now.operator, "alice");
        assert!(now.approver.starts_with("bob (ran the plan "));
        assert_eq!(
            now.old_disposition,
            OldDisposition::KeepUntil(at(0) + Duration::days(3))
        );
    }
}
