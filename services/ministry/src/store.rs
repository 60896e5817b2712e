//! Cases in the member's own JetStream key-value bucket, with optimistic
//! concurrency: every write names the revision it read, and a stale write
//! fails and is redone from the fresh state.
//!
//! The same bucket keeps the member's parked deliveries
//! ([`crate::parked`]), under keys [`PARKED`]`<seq>`, which no case
//! reference can be.

use async_nats::jetstream::{self, kv};
use homeward_core::{MemberId, streams, subjects};
use tokio::sync::watch;

use crate::MinistryError;
use crate::case::Case;
use crate::parked::Parked;

/// The prefix of the keys that hold parked deliveries.
pub const PARKED: &str = "parked.";

/// A case as stored, with the revision a write must name.
#[derive(Debug, Clone)]
pub struct Stored {
    pub case: Case,
    /// 0 when the case does not exist yet.
    pub revision: u64,
}

/// The member's case bucket.
#[derive(Debug, Clone)]
pub struct CaseStore {
    kv: kv::Store,
    /// Bumped on every write this process makes, so the API can wait for
    /// a change without watching the bucket.
    changed: watch::Sender<u64>,
}

/// The outcome of a conditional write.
#[derive(Debug)]
pub enum Write {
    Stored(u64),
    /// Someone else wrote first; read again.
    Conflict,
}

impl CaseStore {
    /// Opens the member's bucket, in its own account, which the
    /// administrator provisioned; a missing bucket is told apart from any
    /// other failure.
    pub async fn open(js: &jetstream::Context, member: &MemberId) -> Result<Self, MinistryError> {
        let name = subjects::case_bucket(member);
        if !streams::exists(js, &format!("KV_{name}")).await? {
            return Err(homeward_core::Error::NotProvisioned(format!(
                "case bucket {name} of {member}"
            ))
            .into());
        }
        let kv = js
            .get_key_value(&name)
            .await
            .map_err(|e| MinistryError::Nats(format!("case bucket {name}: {e}")))?;
        let (changed, _) = watch::channel(0);
        Ok(Self { kv, changed })
    }

    /// Reads a case.
    pub async fn get(&self, case_ref: &str) -> Result<Option<Stored>, MinistryError> {
        let entry = self.kv.entry(case_ref).await.map_err(MinistryError::nats)?;
        match entry {
            Some(e) if e.operation == kv::Operation::Put => {
                let case: Case = serde_json::from_slice(&e.value)
                    .map_err(|err| MinistryError::Corrupt(format!("case {case_ref}: {err}")))?;
                Ok(Some(Stored {
                    case,
                    revision: e.revision,
                }))
            }
            _ => Ok(None),
        }
    }

    /// Writes `case` if the stored revision is still `revision` (0: must
    /// not exist yet).
    pub async fn put(&self, case: &Case, revision: u64) -> Result<Write, MinistryError> {
        let value = serde_json::to_vec(case).map_err(|e| MinistryError::Corrupt(e.to_string()))?;
        let result = if revision == 0 {
            self.kv
                .create(&case.case_ref, value.into())
                .await
                .map_err(|e| {
                    if e.kind() == kv::CreateErrorKind::AlreadyExists {
                        None
                    } else {
                        Some(MinistryError::nats(e))
                    }
                })
        } else {
            self.kv
                .update(&case.case_ref, value.into(), revision)
                .await
                .map_err(|e| {
                    // A clustered bucket reports the conflict as another
                    // kind: see homeward_core::streams::is_wrong_last_sequence.
                    if e.kind() == kv::UpdateErrorKind::WrongLastRevision
                        || homeward_core::streams::is_wrong_last_sequence(&e)
                    {
                        None
                    } else {
                        Some(MinistryError::nats(e))
                    }
                })
        };
        match result {
            Ok(rev) => {
                self.changed.send_replace(rev);
                Ok(Write::Stored(rev))
            }
            Err(None) => Ok(Write::Conflict),
            Err(Some(e)) => Err(e),
        }
    }

    /// Every case reference in the bucket.
    pub async fn keys(&self) -> Result<Vec<String>, MinistryError> {
        // Not `kv.keys()`: it makes a consumer, which members may not.
        let mut keys = homeward_core::streams::bucket_keys(&self.kv)
            .await
            .map_err(MinistryError::nats)?;
        keys.retain(|k| !k.starts_with(PARKED));
        Ok(keys)
    }

    /// Keeps a parked delivery (again, with a new failure, after a failed
    /// redrive).
    pub async fn park(&self, parked: &Parked) -> Result<(), MinistryError> {
        let value =
            serde_json::to_vec(parked).map_err(|e| MinistryError::Corrupt(e.to_string()))?;
        self.kv
            .put(parked_key(parked.message.sequence), value.into())
            .await
            .map_err(MinistryError::nats)?;
        Ok(())
    }

    /// The parked delivery of sequence `sequence`, if there is one.
    pub async fn parked(&self, sequence: u64) -> Result<Option<Parked>, MinistryError> {
        let entry = self
            .kv
            .entry(parked_key(sequence))
            .await
            .map_err(MinistryError::nats)?;
        match entry {
            Some(e) if e.operation == kv::Operation::Put => {
                serde_json::from_slice(&e.value).map(Some).map_err(|err| {
                    MinistryError::Corrupt(format!("parked delivery {sequence}: {err}"))
                })
            }
            _ => Ok(None),
        }
    }

    /// Every parked delivery, in the order they were delivered.
    pub async fn all_parked(&self) -> Result<Vec<Parked>, MinistryError> {
        let keys = homeward_core::streams::bucket_keys(&self.kv)
            .await
            .map_err(MinistryError::nats)?;
        let mut sequences: Vec<u64> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(PARKED)?.parse().ok())
            .collect();
        sequences.sort_unstable();
        let mut out = Vec::with_capacity(sequences.len());
        for sequence in sequences {
            if let Some(parked) = self.parked(sequence).await? {
                out.push(parked);
            }
        }
        Ok(out)
    }

    /// Forgets a parked delivery, once a redrive has applied it.
    pub async fn unpark(&self, sequence: u64) -> Result<(), MinistryError> {
        self.kv
            .purge(parked_key(sequence))
            .await
            .map_err(MinistryError::nats)
    }

    /// A receiver that changes whenever this process writes a case.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

fn parked_key(sequence: u64) -> String {
    format!("{PARKED}{sequence}")
}
