//! Candidates from the state's civil registry for each person of a case,
//! for the official who verifies their identity.
//!
//! When `identity.verification.requested` arrives, the service ranks the
//! registry records that may be each person of the family unit
//! ([`homeward_matching`]), and `GET /cases/{caseRef}/candidates` shows
//! them with the reasons, field by field. An official then confirms or
//! rejects each person through the verification action (`verify`), as
//! before: nothing here changes what the service sends. A score is never
//! an outcome (`no_outcome_leaves_without_an_official_whatever_the_score`
//! in the unit tests, and the integration test of the same name).
//!
//! # Where candidates live, and why
//!
//! In this process's memory, and, with `held_dir`, sealed on the
//! service's own disk: [`SecurityService`] holds each case's located unit
//! (the names as the camp recorded them, from `camp.resident.located`)
//! and the candidates computed from it.
//!
//! - Not in the case record, nor anywhere in the member's bucket. Case
//!   state holds no names (ARCHITECTURE.md, "No names in case state"), and
//!   candidates are names and birth dates from the registry. The bucket
//!   lives on the NATS server, which the server's administrator runs, not
//!   the security service (docs/threat-model.md), and which may serve
//!   other members, or be a cluster replicating it.
//! - Not in a message: `identity.verification.requested` carries only
//!   references (`caseRef`, `personRef`s, methods, registry references of
//!   relatives); the names the matcher needs came earlier, with
//!   `camp.resident.located`, which the service applies and acknowledges.
//!   Only the verification outcome travels, as before.
//! - On disk only sealed ([`crate::sealed`]): with `held_dir` under
//!   `[member.role]`, each located unit is also written there, sealed with
//!   XChaCha20-Poly1305 under a key derived from the member's signing
//!   seed, and taken back when the service starts. Candidates are never
//!   written: they are computed again from the unit and the extract. A
//!   copy of the folder without the seed holds nothing readable, and a
//!   listing names no case.
//!
//! Without `held_dir`, a restart loses the located units, and a case whose
//! family was located before it has no candidates. Its candidates view says
//! so (`located_unit_not_held`), the verification action works as without
//! a registry, and a new `camp.resident.located` of the family (the camp
//! locating it again) brings the candidates back. Candidates are computed
//! when the request arrives, and again when the camp locates the family
//! anew; the view computes them from the held unit if they are missing,
//! and from nothing else.
//!
//! What is held is a few kilobytes per located family of this state's
//! nationality, never of another state's (refused as `not_our_citizens`
//! before anything is kept).
//!
//! # The extract
//!
//! JSON lines: one [`RegistryRecord`] per line in its JSON form, read when
//! the service starts ([`Registry::load`]); a bad line stops the start,
//! named by its number and never quoted. Without one, the service runs and
//! the candidates view answers 409 `no_registry_extract`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use homeward_core::Envelope;
use homeward_core::message_types as types;
use homeward_matching::{MatchError, Matcher, PersonCandidates, RegistryRecord};
use homeward_ministry::{ActionError, Case, Ctx, Refusal, Role, Transition};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Security;
use crate::sealed::{SealedStore, key_from_seed};

/// The view of a case that shows its candidates.
pub const CANDIDATES_VIEW: &str = "candidates";

/// Why the security service cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// `[member.role]` holds something this role does not know, or of the
    /// wrong type.
    #[error("settings of the security role ([member.role]): {0}")]
    Settings(String),
    /// The folder of sealed located units could not be opened or read.
    #[error("held_dir {}: {source}", path.display())]
    Held {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The registry extract could not be opened or read; the cause names
    /// the line, never its content.
    #[error("{}: {source}", path.display())]
    Extract {
        path: PathBuf,
        #[source]
        source: MatchError,
    },
}

/// The security role's own settings: `[member.role]` of a member in the
/// service's settings file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// The state's civil registry extract, in JSON lines (see the module
    /// documentation). Without it, no candidates are ranked.
    #[serde(default)]
    pub registry_extract: Option<PathBuf>,
    /// A folder of the service's own disk where the located units are kept
    /// between restarts, each sealed under a key derived from the member's
    /// signing seed ([`crate::sealed`]). Without it, they are held in
    /// memory only and a restart loses them.
    #[serde(default)]
    pub held_dir: Option<PathBuf>,
}

impl SecuritySettings {
    /// Reads the `[member.role]` table; an unknown key is refused.
    pub fn from_role_table(table: &serde_json::Map<String, Value>) -> Result<Self, SecurityError> {
        serde_json::from_value(Value::Object(table.clone()))
            .map_err(|e| SecurityError::Settings(e.to_string()))
    }
}

/// A state's civil registry extract, indexed for matching. Its `Debug`
/// shows the number of records only.
pub struct Registry {
    matcher: Matcher,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("records", &self.len())
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// Reads and indexes the extract at `path`.
    pub fn load(path: &Path) -> Result<Self, SecurityError> {
        let failed = |source| SecurityError::Extract {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(|e| failed(MatchError::Read(e)))?;
        let matcher = Matcher::from_json_lines(std::io::BufReader::new(file)).map_err(failed)?;
        Ok(Self { matcher })
    }

    /// An extract already in memory.
    pub fn from_records(extract: Vec<RegistryRecord>) -> Result<Self, MatchError> {
        Ok(Self {
            matcher: Matcher::new(extract)?,
        })
    }

    /// How many records the extract holds.
    pub fn len(&self) -> usize {
        self.matcher.len()
    }

    pub fn is_empty(&self) -> bool {
        self.matcher.is_empty()
    }
}

/// The candidates of one case, as computed.
struct Computed {
    at: String,
    /// Per person of the unit, in its order; or why the located data
    /// could not be read (a path and a problem, never a value).
    persons: Result<Vec<PersonCandidates>, String>,
}

/// A located unit as the compact JSON bytes it is held in.
fn compact(data: &Value) -> Box<[u8]> {
    // Serialising a `Value` cannot fail.
    serde_json::to_vec(data)
        .unwrap_or_default()
        .into_boxed_slice()
}

/// What the service holds of its cases, in memory only.
#[derive(Default)]
struct Held {
    /// The `data` of each case's latest `camp.resident.located`, as its
    /// compact JSON bytes: a `Value` of a family takes about 10 KiB in
    /// memory, its bytes a fifth of that (BENCHMARKS.md, "Memory under
    /// load"). Parsed again when its candidates are computed.
    located: HashMap<String, Box<[u8]>>,
    candidates: HashMap<String, Computed>,
}

/// The security role with the state's civil registry: [`Security`]'s
/// rules, unchanged, and the candidates of each case kept on the site.
/// Its `Debug` shows counts only, never what it holds.
#[derive(Default)]
pub struct SecurityService {
    registry: Option<Registry>,
    held: Mutex<Held>,
    /// Where the located units are kept between restarts, if anywhere.
    sealed: Option<SealedStore>,
}

impl std::fmt::Debug for SecurityService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.held();
        f.debug_struct("SecurityService")
            .field("registry", &self.registry)
            .field("located_units", &held.located.len())
            .field("cases_with_candidates", &held.candidates.len())
            .finish()
    }
}

impl SecurityService {
    /// The role with `registry`, or without one (no candidates).
    pub fn new(registry: Option<Registry>) -> Self {
        Self {
            registry,
            held: Mutex::default(),
            sealed: None,
        }
    }

    /// Keeps the located units in `store` from now on, and takes back
    /// every unit it holds (those sealed under another key, or altered,
    /// are passed over and counted in the log, never read).
    pub fn with_sealed(mut self, store: SealedStore) -> std::io::Result<Self> {
        let loaded = store.load()?;
        if !loaded.unreadable.is_empty() {
            tracing::warn!(
                files = loaded.unreadable.len(),
                "sealed located units that do not open under this member's key were passed over"
            );
        }
        tracing::info!(
            units = loaded.units.len(),
            "located units taken back from the sealed store"
        );
        self.held()
            .located
            .extend(loaded.units.into_iter().map(|(k, v)| (k, compact(&v))));
        self.sealed = Some(store);
        Ok(self)
    }

    /// The role as its settings describe it: the extract loaded, if one
    /// is named, and the located units kept in `held_dir`, if one is
    /// named, sealed under a key from `signing_seed` (the member's).
    pub fn from_settings(
        settings: &SecuritySettings,
        signing_seed: &str,
    ) -> Result<Self, SecurityError> {
        let registry = settings
            .registry_extract
            .as_deref()
            .map(Registry::load)
            .transpose()?;
        let service = Self::new(registry);
        match &settings.held_dir {
            None => Ok(service),
            Some(dir) => {
                let failed = |source| SecurityError::Held {
                    path: dir.clone(),
                    source,
                };
                let store = SealedStore::open(dir, key_from_seed(signing_seed)).map_err(failed)?;
                service.with_sealed(store).map_err(failed)
            }
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps the located unit of a case this service applied, and
    /// recomputes candidates already shown, which it makes stale.
    fn hold_located(&self, ctx: &Ctx<'_>, case_ref: &str, data: &Value) {
        if let Some(store) = &self.sealed
            && let Err(e) = store.put(case_ref, data)
        {
            // Held in memory still: only a restart would lose it.
            tracing::warn!(case = %case_ref, error = %e, "the located unit could not be sealed to disk");
        }
        let mut held = self.held();
        held.located.insert(case_ref.to_owned(), compact(data));
        if held.candidates.contains_key(case_ref) {
            self.compute(ctx, case_ref, &mut held);
        }
    }

    /// Computes the candidates of a case from its held located unit, if
    /// there is a registry and a unit.
    fn compute(&self, ctx: &Ctx<'_>, case_ref: &str, held: &mut Held) {
        let (Some(registry), Some(located)) = (&self.registry, held.located.get(case_ref)) else {
            return;
        };
        // Bytes this service wrote from a `Value`: they parse back.
        let persons = serde_json::from_slice::<Value>(located)
            .map_err(|e| e.to_string())
            .and_then(|located| {
                registry
                    .matcher
                    .candidates(&located)
                    .map_err(|e| e.to_string())
            });
        // References and counts only: the candidates are registry data.
        match &persons {
            Ok(p) => tracing::info!(case = %case_ref, persons = p.len(), "candidates ranked"),
            Err(_) => tracing::warn!(case = %case_ref, "the located unit could not be matched"),
        }
        held.candidates.insert(
            case_ref.to_owned(),
            Computed {
                at: ctx.now_str(),
                persons,
            },
        );
    }

    /// `GET /cases/{caseRef}/candidates`.
    fn candidates_view(&self, ctx: &Ctx<'_>, case: Option<&Case>) -> Result<Value, ActionError> {
        let case = case.ok_or_else(|| ActionError::NotFound("no such case".into()))?;
        let Some(registry) = &self.registry else {
            return Err(ActionError::refused(
                "no_registry_extract",
                "this service has no civil registry extract: name one as registry_extract under [member.role] in its settings",
            ));
        };
        if case.persons_where(|p| p.requested).is_empty() {
            return Err(ActionError::refused(
                "verification_not_requested",
                "the foreign ministry has not asked to verify this case",
            ));
        }
        let mut held = self.held();
        if !held.candidates.contains_key(&case.case_ref) {
            self.compute(ctx, &case.case_ref, &mut held);
        }
        let Some(computed) = held.candidates.get(&case.case_ref) else {
            return Err(ActionError::refused(
                "located_unit_not_held",
                "the family's names came with camp.resident.located before this process started and were not kept (held_dir is not set, or the unit was sealed under another key): no candidates until the camp locates the family again",
            ));
        };
        // The located data passed its schema: a unit the matcher cannot
        // read is the matcher's shortcoming, said without a value.
        let persons = computed
            .persons
            .as_ref()
            .map_err(|problem| ActionError::Internal(problem.clone()))?;
        let persons: Vec<Value> = persons
            .iter()
            .map(|p| {
                let in_case = case.persons.get(&p.person_ref);
                json!({
                    "personRef": p.person_ref,
                    "requested": in_case.is_some_and(|x| x.requested),
                    "verification": in_case.and_then(|x| x.verification),
                    "candidates": p.candidates,
                })
            })
            .collect();
        Ok(json!({
            "caseRef": case.case_ref,
            "computedAt": computed.at,
            "registryRecords": registry.len(),
            "persons": persons,
            "decision": "none: a score is evidence for the official, not an outcome; confirm or reject each person with POST /cases/{caseRef}/verify",
        }))
    }
}

impl Role for SecurityService {
    fn on_message(
        &self,
        ctx: &Ctx<'_>,
        case: Option<Case>,
        m: &Envelope,
    ) -> Result<Option<Transition>, Refusal> {
        // The rules decide, and what they send is what is sent: the
        // candidates only ever go to memory.
        let transition = Security.on_message(ctx, case, m)?;
        if let Some(t) = &transition {
            match m.message_type() {
                types::CAMP_RESIDENT_LOCATED => self.hold_located(ctx, &t.case.case_ref, m.data()),
                types::IDENTITY_VERIFICATION_REQUESTED => {
                    self.compute(ctx, &t.case.case_ref, &mut self.held());
                }
                _ => {}
            }
        }
        Ok(transition)
    }

    fn on_action(
        &self,
        ctx: &Ctx<'_>,
        case: Option<Case>,
        action: &str,
        body: &Value,
    ) -> Result<Transition, ActionError> {
        Security.on_action(ctx, case, action, body)
    }

    fn case_view(
        &self,
        ctx: &Ctx<'_>,
        view: &str,
        case: Option<&Case>,
    ) -> Result<Value, ActionError> {
        match view {
            CANDIDATES_VIEW => self.candidates_view(ctx, case),
            other => Err(ActionError::NotFound(format!(
                "no view {other:?} of a case (candidates)"
            ))),
        }
    }
}
