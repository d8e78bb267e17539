//! The rotation flow (issue 4): `r` on a client secret -> the plan, built off the UI thread -> approval by typing the
//! app's display name -> progress, step by step -> the result. State and transitions only: the engine runs in the
//! effect runner and reports back as `Event::Rotation`. The new secret's value never reaches this module: the
//! engine's plan, progress and report do not carry it.
use super::{App, Effect, Popup, Screen};
use crate::graph::{KeyId, ObjectId};
use crate::inventory::CredentialType;
use crate::keyvault::SecretTarget;
use crate::rotation::{
    OldDisposition, RotationPlan, RotationProgress, RotationReport, RotationState, Step,
};
use crate::tui::event::{AppReloaded, RequestId, RotationUpdate, StartupNews};
use crate::tui::keymap::Command;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

/// Longest "keep until" the screen accepts, in days: the engine's own cap on a credential's lifetime.
const MAX_KEEP_DAYS: i64 = crate::rotation::plan::MAX_LIFETIME_DAYS;

/// One rotation from `r` to the result view. Only one at a time: while it is open it owns the screen.
#[derive(Debug, Clone, PartialEq)]
pub struct RotationFlow {
    /// Tags the background requests of this flow, so an answer for a flow the operator left is dropped.
    pub request: RequestId,
    pub object_id: ObjectId,
    pub app_name: String,
    pub key_id: KeyId,
    pub credential_name: Option<String>,
    pub stage: FlowStage,
    /// `q` was pressed once while the rotation ran (and told why it should not).
    pub quit_warned: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FlowStage {
    /// The plan is being built (reads the app and the vault secret).
    Planning,
    /// No plan: what went wrong and what to do.
    PlanFailed(String),
    Plan(Box<PlanForm>),
    Running(RunView),
    Result(Box<ResultView>),
}

/// What has keyboard focus on the plan screen, in Tab order (top to bottom, then the buttons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanField {
    VaultUrl,
    SecretName,
    KeepUntil,
    Name,
    Cancel,
    Confirm,
}

/// Where a vault secret the operator typed in stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetCheck {
    NotChecked,
    Checking,
    Checked,
    Failed(String),
}

/// The plan screen: the plan, and what the operator typed.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanForm {
    pub plan: RotationPlan,
    /// The plan came without a vault secret (no mapping): the screen asks for vault URL and secret name.
    pub ask_target: bool,
    pub vault_url: String,
    pub secret_name: String,
    pub target_check: TargetCheck,
    /// Days to keep the old secret after the proof, a date (YYYY-MM-DD) or `end` (its own end); empty or 0
    /// removes it once the new secret is proven. Starts as the plan's default (the profile's keep_old_days).
    pub keep: String,
    /// The app's display name, typed to approve.
    pub name: String,
    pub focus: PlanField,
    /// Why the last Confirm did nothing.
    pub message: Option<String>,
}

impl PlanForm {
    fn new(plan: RotationPlan) -> Self {
        let keep = keep_text(&plan);
        Self {
            ask_target: plan.target.is_none(),
            plan,
            vault_url: String::new(),
            secret_name: String::new(),
            target_check: TargetCheck::NotChecked,
            keep,
            name: String::new(),
            // A stray Enter must change nothing.
            focus: PlanField::Cancel,
            message: None,
        }
    }

    fn fields(&self) -> &'static [PlanField] {
        use PlanField::*;
        if self.ask_target {
            &[VaultUrl, SecretName, KeepUntil, Name, Cancel, Confirm]
        } else {
            &[KeepUntil, Name, Cancel, Confirm]
        }
    }

    fn move_focus(&mut self, forward: bool) {
        let fields = self.fields();
        let i = fields.iter().position(|f| *f == self.focus).unwrap_or(0);
        let n = fields.len();
        let next = if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        };
        self.focus = fields[next];
    }

    /// Exact match, as the plan shows it: a near miss is a reason to stop and read again. The plan shows the name
    /// through the sanitising boundary, so a name with control characters is typed as shown (`\u{1b}`).
    pub fn accepted(&self) -> bool {
        !self.plan.app.display_name.is_empty()
            && self.name == crate::safe_text::terminal(&self.plan.app.display_name)
    }

    /// What happens to the old secret, as typed.
    pub fn disposition(&self, now: DateTime<Utc>) -> Result<OldDisposition, String> {
        parse_keep(&self.keep, now)
    }

    /// The disposition as typed, or `None` with the reason on the form's message line.
    fn disposition_or_say(&mut self, now: DateTime<Utc>) -> Option<OldDisposition> {
        self.disposition(now)
            .map_err(|e| self.message = Some(format!("Old secret: {e}.")))
            .ok()
    }

    /// The vault secret as typed, validated the way the engine will use it.
    pub fn typed_target(&self) -> Result<SecretTarget, String> {
        let (url, name) = (self.vault_url.trim(), self.secret_name.trim());
        if url.is_empty() || name.is_empty() {
            return Err(
                "enter the vault URL (https://NAME.vault.azure.net) and the secret's name".into(),
            );
        }
        SecretTarget::new(url, name).map_err(|e| e.to_string())
    }

    /// Everything needed before Confirm can start the rotation.
    pub fn can_confirm(&self, now: DateTime<Utc>) -> bool {
        self.accepted() && self.plan.target.is_some() && self.disposition(now).is_ok()
    }

    fn text_field(&mut self) -> &mut String {
        match self.focus {
            PlanField::VaultUrl => &mut self.vault_url,
            PlanField::SecretName => &mut self.secret_name,
            PlanField::KeepUntil => &mut self.keep,
            // On a button, letters go to the name: "type the app's name" works wherever focus is.
            PlanField::Name | PlanField::Cancel | PlanField::Confirm => &mut self.name,
        }
    }

    fn edited(&mut self) {
        self.message = None;
        if self.ask_target && matches!(self.focus, PlanField::VaultUrl | PlanField::SecretName) {
            // What was checked is no longer what is typed.
            self.plan.target = None;
            self.target_check = TargetCheck::NotChecked;
        }
    }
}

/// The keep field's first text: the plan's default disposition as the operator would type it.
fn keep_text(plan: &RotationPlan) -> String {
    match plan.old_disposition {
        OldDisposition::RemoveWhenProven => String::new(),
        OldDisposition::KeepUntil(d) if Some(d) == plan.old.end => "end".into(),
        OldDisposition::KeepUntil(d) => {
            let secs = (d - plan.planned_at).num_seconds().max(0);
            ((secs + 86_399) / 86_400).to_string()
        }
    }
}

/// "keep": empty or 0 = remove once proven; a number of days from now; `YYYY-MM-DD` (midnight UTC, in the
/// future); `end` = until the old secret's own end (the plan caps every date there anyway).
pub fn parse_keep(text: &str, now: DateTime<Utc>) -> Result<OldDisposition, String> {
    let t = text.trim();
    if t.is_empty() || t == "0" {
        return Ok(OldDisposition::RemoveWhenProven);
    }
    if t.eq_ignore_ascii_case("end") {
        return Ok(OldDisposition::KeepUntil(
            now + Duration::days(MAX_KEEP_DAYS),
        ));
    }
    if let Ok(days) = t.parse::<i64>() {
        return if (1..=MAX_KEEP_DAYS).contains(&days) {
            Ok(OldDisposition::KeepUntil(now + Duration::days(days)))
        } else {
            Err(format!(
                "keep it 0 to {MAX_KEEP_DAYS} days, or type end, or leave empty to remove it once the new one is proven"
            ))
        };
    }
    match NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        Ok(d) => {
            let at = d.and_time(NaiveTime::MIN).and_utc();
            if at <= now {
                Err(format!(
                    "{t} is not in the future: pick a later date, or leave empty to remove it once the new one is proven"
                ))
            } else if at > now + Duration::days(MAX_KEEP_DAYS) {
                Err(format!("{t} is more than {MAX_KEEP_DAYS} days away"))
            } else {
                Ok(OldDisposition::KeepUntil(at))
            }
        }
        Err(_) => Err(
            "type a number of days, a date as YYYY-MM-DD, or end; leave empty to remove it once the new one is proven".into(),
        ),
    }
}

/// Where one step of a running rotation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepState {
    Pending,
    Running,
    Done,
    Failed(String),
    /// Failed and will be tried again at `until`.
    Retrying {
        until: DateTime<Utc>,
        error: String,
    },
    /// Not done, by choice or because the rotation ended before it: the text says which.
    Skipped(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepLine {
    pub step: Step,
    pub state: StepState,
}

/// The progress view: the steps of docs/ARCHITECTURE.md section 4 as the engine reports them.
#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    pub rotation_id: Option<i64>,
    pub steps: Vec<StepLine>,
    /// The engine's latest state, in its words (`StoredInVault(3f2a…)`).
    pub state: Option<String>,
    /// Free-text notices of the engine ("the write's answer was lost; reading back").
    pub notes: Vec<String>,
    /// Where the new value goes, for the header.
    pub target: String,
    pub disposition: OldDisposition,
    /// Entra has not accepted the new secret yet: how long the proof has waited.
    pub waiting: Option<std::time::Duration>,
}

impl RunView {
    fn new(target: String, disposition: OldDisposition) -> Self {
        let steps = [
            Step::Preflight,
            Step::AddSecret,
            Step::StoreInVault,
            Step::ReadBack,
            Step::Prove,
            Step::RemoveOld,
        ]
        .into_iter()
        .map(|step| StepLine {
            step,
            state: StepState::Pending,
        })
        .collect();
        Self {
            rotation_id: None,
            steps,
            state: None,
            notes: Vec::new(),
            target,
            disposition,
            waiting: None,
        }
    }

    fn set(&mut self, step: Step, state: StepState) {
        match self.steps.iter_mut().find(|l| l.step == step) {
            Some(line) => line.state = state,
            // Rollback and inspection steps appear only when they happen.
            None => self.steps.push(StepLine { step, state }),
        }
    }

    /// Steps still pending when the rotation ended will not run.
    fn close_pending(&mut self, why: &str) {
        for l in &mut self.steps {
            if matches!(l.state, StepState::Pending | StepState::Running) {
                l.state = StepState::Skipped(why.to_string());
            }
        }
    }

    fn apply(&mut self, p: RotationProgress, now: DateTime<Utc>) {
        match p {
            RotationProgress::Started { rotation_id, .. } => {
                self.rotation_id = Some(rotation_id);
                // The journal entry is created after the preflight reads.
                self.set(Step::Preflight, StepState::Done);
            }
            RotationProgress::StepStarted { step, .. } => self.set(step, StepState::Running),
            RotationProgress::StepFinished { step, .. } => self.set(step, StepState::Done),
            RotationProgress::StepFailed {
                step,
                error,
                retry_in,
                ..
            } => {
                let state = match retry_in {
                    Some(wait) => StepState::Retrying {
                        until: now + Duration::from_std(wait).unwrap_or_default(),
                        error,
                    },
                    None => StepState::Failed(error),
                };
                self.set(step, state);
            }
            RotationProgress::StateChanged { state, .. } => {
                self.state = Some(state.to_string());
                match state {
                    RotationState::SecretAdded { .. } => self.set(Step::AddSecret, StepState::Done),
                    RotationState::StoredInVault { .. } => {
                        self.set(Step::StoreInVault, StepState::Done)
                    }
                    RotationState::Verified => self.set(Step::ReadBack, StepState::Done),
                    RotationState::Proven => {
                        self.waiting = None;
                        self.set(Step::Prove, StepState::Done)
                    }
                    RotationState::NotProven { reason } => {
                        self.waiting = None;
                        self.set(Step::Prove, StepState::Failed(reason));
                        self.close_pending("not run: the new secret is not proven");
                    }
                    RotationState::OldRemoved => self.set(Step::RemoveOld, StepState::Done),
                    RotationState::OldRemovalPending {
                        keep_until: Some(d),
                        error: None,
                    } => self.set(
                        Step::RemoveOld,
                        // The date is in the header and the result; the step column stays narrow.
                        StepState::Skipped(if d > now { "kept" } else { "kept (due)" }.into()),
                    ),
                    RotationState::OldRemovalPending { error: Some(e), .. } => {
                        self.set(Step::RemoveOld, StepState::Failed(e))
                    }
                    RotationState::Failed { step, error }
                    | RotationState::NeedsAttention { step, error } => {
                        self.set(step, StepState::Failed(error));
                        self.close_pending("not run");
                    }
                    RotationState::RolledBack { .. } => self.close_pending("not run"),
                    RotationState::Done => {
                        for l in &mut self.steps {
                            if matches!(l.state, StepState::Running | StepState::Pending) {
                                l.state = StepState::Done;
                            }
                        }
                    }
                    _ => {}
                }
            }
            RotationProgress::Notice { message, .. } => self.notes.push(message),
            RotationProgress::ProofWaiting { waited, .. } => self.waiting = Some(waited),
            RotationProgress::Finished { .. } => {}
        }
    }
}

/// The result view: the steps as they ended, and the engine's report (or why nothing started).
#[derive(Debug, Clone, PartialEq)]
pub struct ResultView {
    pub run: RunView,
    pub outcome: Result<RotationReport, String>,
}

impl App {
    /// `r` on a credential in the detail view: explain why not, or open the plan screen and build the plan.
    pub(super) fn start_rotation(&mut self) -> Option<Effect> {
        let row = self.detail_row()?;
        let Screen::Detail(d) = &self.screen else {
            return None;
        };
        // The credential shown under the cursor, by keyId: a reload may have moved it to another index.
        let creds = &row.entry.credentials;
        let cred = match &d.credential_key {
            Some(k) => creds.iter().find(|c| &c.key_id == k)?,
            None => creds.get(d.credential)?,
        };
        let (title, lines) = if self.cfg.read_only {
            (
                "Read-only session",
                vec![
                    "This session is read-only (--read-only or KEYTURN_READ_ONLY=1):".into(),
                    "nothing is written to the tenant or a vault.".into(),
                    "Start keyturn without it to rotate.".into(),
                ],
            )
        } else if cred.credential_type == CredentialType::Certificate {
            (
                "Certificates are not rotated here",
                vec![
                    "keyturn rotates client secrets. A certificate is renewed by issuing".into(),
                    "a new one and uploading it in Entra ID > App registrations >".into(),
                    "Certificates & secrets.".into(),
                ],
            )
        } else if row.is_service_principal() {
            (
                "Service principal secrets",
                vec![
                    "This secret belongs to the service principal, not to an app".into(),
                    "registration; keyturn rotates app registration secrets only.".into(),
                ],
            )
        } else {
            let (object_id, app_name) =
                (row.entry.object_id.clone(), row.entry.display_name.clone());
            let (key_id, credential_name) = (cred.key_id.clone(), cred.name.clone());
            let request = self.fresh_request();
            let flow = RotationFlow {
                request,
                object_id,
                app_name,
                key_id,
                credential_name,
                stage: FlowStage::Planning,
                quit_warned: false,
            };
            let effect = Effect::PlanRotation {
                request,
                object_id: flow.object_id.clone(),
                key_id: flow.key_id.clone(),
            };
            self.flow = Some(flow);
            return Some(effect);
        };
        self.open_message(title, lines, false);
        None
    }

    /// Whether a rotation is running now (it cannot be interrupted from the TUI).
    pub fn rotation_running(&self) -> bool {
        self.flow
            .as_ref()
            .is_some_and(|f| matches!(f.stage, FlowStage::Running(_)))
    }

    /// Keys while the flow owns the screen (no popup open).
    pub(super) fn on_flow_command(&mut self, cmd: Command) -> Option<Effect> {
        let now = self.now();
        let flow = self.flow.as_mut()?;
        match &mut flow.stage {
            FlowStage::Plan(form) => match cmd {
                Command::DialogNextFocus => {
                    form.move_focus(true);
                    None
                }
                Command::DialogPrevFocus => {
                    form.move_focus(false);
                    None
                }
                Command::DialogCancel => {
                    self.flow = None;
                    None
                }
                Command::DialogActivate => self.activate_plan(now),
                Command::WritePlan => {
                    let disposition = form.disposition_or_say(now)?;
                    if form.plan.target.is_none() {
                        form.message = Some(
                            "Choose the vault secret first (and check it with Enter); then ^s writes the plan."
                                .into(),
                        );
                        return None;
                    }
                    let mut plan = form.plan.clone();
                    plan.set_old_disposition(disposition);
                    form.message = Some("Writing the plan file…".into());
                    Some(Effect::WritePlanFile {
                        plan: Box::new(plan),
                    })
                }
                _ => None,
            },
            FlowStage::Planning | FlowStage::PlanFailed(_) => match cmd {
                // Leaving while the plan loads drops its answer (the request id no longer matches).
                Command::DialogCancel | Command::Back | Command::DialogActivate => {
                    self.flow = None;
                    None
                }
                _ => None,
            },
            FlowStage::Running(_) => None,
            FlowStage::Result(_) => match cmd {
                Command::Back | Command::DialogCancel | Command::DialogActivate => {
                    self.flow = None;
                    None
                }
                _ => None,
            },
        }
    }

    fn activate_plan(&mut self, now: DateTime<Utc>) -> Option<Effect> {
        let flow = self.flow.as_mut()?;
        let request = flow.request;
        let FlowStage::Plan(form) = &mut flow.stage else {
            return None;
        };
        match form.focus {
            PlanField::Cancel => {
                self.flow = None;
                None
            }
            PlanField::VaultUrl | PlanField::SecretName => {
                if form.focus == PlanField::VaultUrl && form.secret_name.trim().is_empty() {
                    form.focus = PlanField::SecretName;
                    return None;
                }
                check_target(form, request)
            }
            PlanField::KeepUntil | PlanField::Name => {
                form.move_focus(true);
                None
            }
            PlanField::Confirm => {
                if !form.accepted() {
                    form.message = Some(format!(
                        "Type the app's name exactly as shown ({}) to approve.",
                        form.plan.app.display_name
                    ));
                    return None;
                }
                let disposition = form.disposition_or_say(now)?;
                if form.plan.target.is_none() {
                    if form.target_check == TargetCheck::Checking {
                        form.message = Some(
                            "Still checking the vault secret; Confirm again once it shows.".into(),
                        );
                        return None;
                    }
                    let effect = check_target(form, request);
                    if effect.is_some() {
                        form.message = Some(
                            "Checking the vault secret first; Confirm again once its version shows."
                                .into(),
                        );
                    }
                    return effect;
                }
                let mut plan = form.plan.clone();
                plan.set_old_disposition(disposition);
                let target = plan
                    .target
                    .as_ref()
                    .map(|t| {
                        crate::tui::effects::short_location(&t.target.vault_url, &t.target.name)
                    })
                    .unwrap_or_default();
                match plan.approve(&form.name) {
                    Ok(approved) => {
                        tracing::info!(
                            app = %approved.plan.app.object_id,
                            key = %approved.plan.old.key_id,
                            target = %target,
                            "rotation approved in the TUI"
                        );
                        // What the engine will do: the plan capped the choice at the old secret's own end.
                        let disposition = approved.plan.old_disposition;
                        flow.stage = FlowStage::Running(RunView::new(target, disposition));
                        Some(Effect::Rotate {
                            request,
                            approved: Box::new(approved),
                        })
                    }
                    Err(e) => {
                        form.message = Some(e.to_string());
                        None
                    }
                }
            }
        }
    }

    /// A letter typed while the plan screen has focus.
    pub(super) fn flow_input(&mut self, c: Option<char>) {
        let Some(RotationFlow {
            stage: FlowStage::Plan(form),
            ..
        }) = &mut self.flow
        else {
            return;
        };
        let field = form.text_field();
        match c {
            Some(c) => field.push(c),
            None => {
                field.pop();
            }
        }
        form.edited();
    }

    pub(super) fn on_rotation(&mut self, u: RotationUpdate) -> Option<Effect> {
        let now = self.now();
        let u = match u {
            RotationUpdate::CleanedUp {
                rotation_id,
                result,
            } => return self.on_cleaned_up(rotation_id, result),
            RotationUpdate::RemovalPlanned { result } => return self.on_removal_planned(result),
            RotationUpdate::CredentialRemoved { object_id, result } => {
                return self.on_credential_removed(object_id, result);
            }
            u => u,
        };
        if let RotationUpdate::Ended {
            result: Ok(report), ..
        } = &u
        {
            self.note_pending(report);
        }
        let flow = self.flow.as_mut()?;
        match u {
            RotationUpdate::Planned { request, result } => {
                if request != flow.request || flow.stage != FlowStage::Planning {
                    return None;
                }
                flow.stage = match result {
                    Ok(plan) => FlowStage::Plan(Box::new(PlanForm::new(*plan))),
                    Err(e) => FlowStage::PlanFailed(e),
                };
                None
            }
            RotationUpdate::TargetChecked { request, result } => {
                let FlowStage::Plan(form) = &mut flow.stage else {
                    return None;
                };
                if request != flow.request || form.target_check != TargetCheck::Checking {
                    return None;
                }
                match result {
                    Ok(plan) => {
                        // Keep what was typed meanwhile; take the target, its version and the warnings.
                        form.plan.target = plan.target;
                        form.plan.warnings = plan.warnings;
                        form.target_check = TargetCheck::Checked;
                        form.message = None;
                    }
                    Err(e) => form.target_check = TargetCheck::Failed(e),
                }
                None
            }
            RotationUpdate::PlanWritten { result } => {
                if let FlowStage::Plan(form) = &mut flow.stage {
                    form.message = Some(match result {
                        Ok(path) => format!(
                            "Plan written to {path}: another person runs it with keyturn rotate --plan {path} --yes"
                        ),
                        Err(e) => format!("The plan file could not be written: {e}"),
                    });
                }
                None
            }
            RotationUpdate::Progress(p) => {
                if let FlowStage::Running(run) = &mut flow.stage {
                    run.apply(p, now);
                }
                None
            }
            RotationUpdate::Ended { request, result } => {
                if request != flow.request {
                    return None;
                }
                let FlowStage::Running(run) = &mut flow.stage else {
                    return None;
                };
                let mut run = run.clone();
                match &result {
                    Ok(report) => {
                        if report.completed {
                            run.close_pending("");
                        } else {
                            run.close_pending("not run");
                        }
                    }
                    Err(_) => run.close_pending("not started"),
                }
                flow.stage = FlowStage::Result(Box::new(ResultView {
                    run,
                    outcome: result,
                }));
                flow.quit_warned = false;
                // Whatever happened, the app may have changed: read it again so the detail shows what is there.
                Some(Effect::ReloadApp {
                    object_id: flow.object_id.clone(),
                })
            }
            RotationUpdate::CleanedUp { .. }
            | RotationUpdate::RemovalPlanned { .. }
            | RotationUpdate::CredentialRemoved { .. } => None,
        }
    }

    /// The app read again after a rotation: its row (and the detail view) show the new credential.
    pub(super) fn on_app_reloaded(&mut self, r: AppReloaded) -> Option<Effect> {
        match r.result {
            Ok(entry) => {
                // Built like a loaded page's rows: with several tenants it keeps its tenant (column, switcher).
                let rows = self.rows_of(vec![entry]);
                self.inventory.extend(rows);
                // Owners already known stay searchable.
                if let Some(super::Loadable::Loaded(o)) = self.owners.get(&r.object_id) {
                    let owners = o.clone();
                    self.inventory.set_owners(&r.object_id, &owners);
                }
                self.inventory.refilter();
                // Also keeps the detail's cursor on the same credential (by keyId).
                self.reselect();
                if let Screen::Detail(d) = &mut self.screen
                    && d.object_id == r.object_id
                {
                    // Audit events now include the rotation's own changes.
                    self.audits.remove(&r.object_id);
                    return self.request_detail(false);
                }
                None
            }
            Err(e) => {
                tracing::warn!(object = %r.object_id, error = %e.message, "reloading the app after a rotation failed");
                None
            }
        }
    }

    /// `q` while a rotation runs: say why not once; the second `q` quits (the next start finishes it).
    pub(super) fn quit_requested(&mut self) {
        if let Some(flow) = &mut self.flow
            && matches!(flow.stage, FlowStage::Running(_))
            && !flow.quit_warned
        {
            flow.quit_warned = true;
            self.open_message(
                "A rotation is running",
                vec![
                    "Quitting now stops it between two steps. Nothing is lost (every step".into(),
                    "is journaled) but the next start of keyturn has to finish it.".into(),
                    String::new(),
                    "Wait for the result (seconds, usually). To quit anyway: Esc, then q.".into(),
                ],
                true,
            );
            return;
        }
        self.should_quit = true;
    }

    /// The journal's news at start: rotations that were finished now or wait for a human.
    pub(super) fn on_startup(&mut self, news: StartupNews) -> Option<Effect> {
        self.pending_removals = news.pending.clone();
        if news.lines.is_empty() {
            return None;
        }
        // Recovery changed the tenant: the list shown may predate it.
        let effect = if news.recovered > 0 && matches!(self.screen, Screen::List) {
            self.reload()
        } else {
            None
        };
        // Recovered rotations come first in the news; every other line waits for a human.
        let waiting = news.lines.len().saturating_sub(news.recovered);
        let title = if waiting > 0 {
            format!(
                "{} need{} attention",
                crate::tui::format::plural(waiting, "rotation", "rotations"),
                if waiting == 1 { "s" } else { "" }
            )
        } else {
            format!(
                "{} finished at start",
                crate::tui::format::plural(
                    news.recovered,
                    "interrupted rotation",
                    "interrupted rotations"
                )
            )
        };
        let mut lines = news.lines;
        lines.push(String::new());
        lines.push("`keyturn journal` lists rotations; `keyturn journal show ID` shows one".into());
        lines.push("step by step.".into());
        self.show_popup(Popup::Message {
            title,
            lines,
            danger: waiting > 0,
            scroll: 0,
        });
        effect
    }
}

/// Validate the typed vault secret and ask the runner to read its current version.
fn check_target(form: &mut PlanForm, request: RequestId) -> Option<Effect> {
    match form.typed_target() {
        Ok(target) => {
            form.target_check = TargetCheck::Checking;
            Some(Effect::CheckRotationTarget {
                request,
                plan: Box::new(form.plan.clone()),
                target,
            })
        }
        Err(e) => {
            form.target_check = TargetCheck::Failed(e);
            None
        }
    }
}
