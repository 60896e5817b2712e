//! `homeward send --as MEMBER FILE`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use homeward_core::client::{self, MemberClient};
use homeward_core::envelope::EnvelopeBuilder;
use homeward_core::receipt::Decision;
use homeward_core::{MemberId, Policy, SchemaRegistry, SigningKey, keys as layout};
use serde_json::Value;

use crate::{NatsArgs, PolicyArgs, paths};

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The member to send as.
    #[arg(long = "as")]
    member: String,
    /// A message: `{"type", "data", "subject"?, "dataschema"?, "causationid"?}`,
    /// or a whole envelope whose id, time, source and signature are replaced.
    file: PathBuf,
    #[command(flatten)]
    nats: NatsArgs,
    /// The policy the client holds. With development keys, the keyring in
    /// `--keys` stands in for the keyrings the policy names.
    #[command(flatten)]
    policy: PolicyArgs,
    /// The member's signing seed; default `<keys>/<member>.nk`.
    #[arg(long)]
    key: Option<PathBuf>,
    /// The development keys folder; without `--nkey`, the member's NATS
    /// key `<keys>/<member>.nats.nk` is used when it is there.
    #[arg(long, default_value = paths::DEV_KEYS)]
    keys: PathBuf,
    /// Seconds to wait for the receipt.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

pub async fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    let member = MemberId::parse(&args.member)?;
    let keys = paths::resolve(&args.keys);
    let key = match &args.key {
        Some(p) => SigningKey::from_file(p)?,
        None => SigningKey::from_file(&layout::seed_path(&keys, &member))?,
    };
    let schemas = SchemaRegistry::embedded()?;
    let policy_path = paths::resolve(&args.policy.policy);
    let dev_keyring = keys.join(layout::KEYRING_FILE);
    let policy = if dev_keyring.is_file() {
        Policy::load_replacing_keyrings(&policy_path, &[dev_keyring], &schemas)?
    } else {
        Policy::load(&policy_path, &schemas)?
    };
    let text = std::fs::read_to_string(&args.file)?;
    let message: Value =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let field = |name: &str| message.get(name).and_then(Value::as_str);
    let kind =
        field("type").ok_or_else(|| anyhow::anyhow!("{}: no \"type\"", args.file.display()))?;
    let data = message
        .get("data")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("{}: no \"data\"", args.file.display()))?;
    let dataschema = match field("dataschema") {
        Some(s) => s.to_owned(),
        // Version 1, which every member reads unless the policy says
        // otherwise; another version is chosen with "dataschema".
        None => {
            let v1 = homeward_core::schema::message_schema_id(kind, 1);
            schemas
                .document(&v1)
                .ok_or_else(|| anyhow::anyhow!("no schema is published for type {kind:?}"))?;
            v1
        }
    };
    let mut builder = EnvelopeBuilder::new(kind, &dataschema, data);
    if let Some(s) = field("subject") {
        builder = builder.subject(s);
    }
    if let Some(c) = field("causationid") {
        builder = builder.causationid(c);
    }
    let nats = client::connect(
        &args
            .nats
            .connection_or(Some(&layout::nats_seed_path(&keys, member.as_str())))?,
        Some(&member),
        &format!("homeward send {member}"),
    )
    .await?;
    let client = MemberClient::new(nats, member.clone(), key, std::sync::Arc::new(policy));
    let envelope = client.sign(builder)?;
    let mut receipts = client.receipts().await?;
    let ack = client.submit(&envelope).await?;
    println!(
        "submitted {} ({kind}) as {member}: stream sequence {}{}",
        envelope.id(),
        ack.sequence,
        if ack.duplicate {
            ", a duplicate of an earlier submission"
        } else {
            ""
        }
    );
    let (_, receipt) = receipts
        .wait_for(envelope.id(), Duration::from_secs(args.timeout))
        .await?;
    println!("{}", serde_json::to_string_pretty(&receipt)?);
    Ok(match receipt.decision {
        Decision::Accepted => ExitCode::SUCCESS,
        Decision::Rejected => ExitCode::from(2),
    })
}
