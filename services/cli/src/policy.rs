//! `homeward policy check` and `homeward policy nats-config`.

use std::path::PathBuf;
use std::process::ExitCode;

use homeward_core::natsauth::{self, NatsKeys};
use homeward_core::policy::SenderRule;
use homeward_core::{Policy, SchemaRegistry, keys as layout};

use crate::{PolicyArgs, paths};

#[derive(Debug, clap::Args)]
pub struct NatsConfigArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    /// The keys folder whose `nats-users.toml` lists each identity's NATS
    /// public key.
    #[arg(long, default_value = paths::DEV_KEYS)]
    keys: PathBuf,
    /// Where to write the configuration; standard output when omitted.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The most file storage the streams' account may use, in bytes (e.g.
    /// 500000000000): set it below the disk's size so that the account
    /// fills, and Homeward holds submissions, before the disk does. No
    /// limit but the disk when omitted.
    #[arg(long)]
    streams_max_file: Option<u64>,
}

/// Writes the server's `accounts` block for the policy.
pub fn nats_config(args: NatsConfigArgs) -> anyhow::Result<ExitCode> {
    let schemas = SchemaRegistry::embedded()?;
    let policy = Policy::load(&paths::resolve(&args.policy.policy), &schemas)?;
    let keys = NatsKeys::load(&paths::resolve(&args.keys).join(layout::NATS_KEYS_FILE))?;
    let mut auth = natsauth::authorization(&policy, &keys)?;
    auth.streams_max_file = args.streams_max_file;
    let text = natsauth::render(&policy.origin, &auth);
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            eprintln!(
                "wrote {} NATS accounts and the streams' account {} to {} (include it in the nats-server configuration)",
                auth.accounts.len(),
                natsauth::STREAMS_ACCOUNT,
                path.display()
            );
        }
        None => print!("{text}"),
    }
    if auth.admin.is_some() {
        eprintln!(
            "warning: the administrator user (`admin`) may change every stream: for development and provisioning only; leave it out once provisioning is done"
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn check(args: PolicyArgs) -> anyhow::Result<ExitCode> {
    let schemas = SchemaRegistry::embedded()?;
    let path = paths::resolve(&args.policy);
    let policy = match Policy::load(&path, &schemas) {
        Ok(p) => p,
        Err(homeward_core::Error::Policy { origin, problems }) => {
            eprintln!("policy {origin} has {} problem(s):", problems.len());
            for p in problems {
                eprintln!("  - {p}");
            }
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    let members: Vec<_> = policy.members().collect();
    println!(
        "policy {}: {} members, {} routes",
        path.display(),
        members.len(),
        policy.routes().count()
    );
    let mut keyless = 0;
    for m in &members {
        if m.keys.is_empty() {
            keyless += 1;
        }
        println!(
            "  member {:<20} {:<15} {} key(s)  {}",
            m.id.as_str(),
            m.role.as_str(),
            m.keys.len(),
            m.name
        );
    }
    for r in policy.routes() {
        let senders: Vec<String> = r
            .senders
            .iter()
            .map(|s| match s {
                SenderRule::Member(m) => m.to_string(),
                SenderRule::Role(role) => format!("role:{role}"),
            })
            .collect();
        let recipients: Vec<&str> = r.recipients.iter().map(|t| t.template.as_str()).collect();
        println!(
            "  route  {:<34} {} -> {}",
            r.message_type,
            senders.join(","),
            recipients.join(",")
        );
    }
    if keyless > 0 {
        println!(
            "warning: {keyless} member(s) have no signing key: nothing they send can be accepted"
        );
    }
    println!("ok");
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    nats: crate::NatsArgs,
    /// The version to publish: above every version published before, or
    /// every process refuses it.
    #[arg(long = "policy-version")]
    version: u64,
    /// The policy authority's signing seed file.
    #[arg(long, value_name = "FILE")]
    authority_key: PathBuf,
}

/// Signs the policy (with the keyrings it names) as the policy authority
/// and publishes it as the administrator: every gateway and service that
/// trusts the authority applies it while running.
pub async fn publish(args: PublishArgs) -> anyhow::Result<ExitCode> {
    use homeward_core::published::{self, Keyring, PublishedPolicy};
    let schemas = SchemaRegistry::embedded()?;
    let path = paths::resolve(&args.policy.policy);
    let text =
        std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(std::path::Path::new("."));
    let mut keyrings = Vec::new();
    for name in table
        .get("keyrings")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_str)
    {
        let ring = base.join(name);
        let text = std::fs::read_to_string(&ring)
            .map_err(|e| anyhow::anyhow!("keyring {}: {e}", ring.display()))?;
        keyrings.push(Keyring {
            name: name.to_owned(),
            text,
        });
    }
    let authority = homeward_core::SigningKey::from_file(&args.authority_key)?;
    let signed = PublishedPolicy::sign(args.version, &text, keyrings, &authority)?;
    // What every process will do with it: refuse to publish what none opens.
    let policy = signed.open(authority.public(), &schemas)?;
    let admin =
        homeward_core::client::connect(&args.nats.connection()?, None, "homeward policy publish")
            .await?;
    published::publish(&admin, &signed).await?;
    println!(
        "published policy version {} ({} members) signed by {}",
        args.version,
        policy.members().count(),
        authority.public().as_str()
    );
    Ok(ExitCode::SUCCESS)
}
