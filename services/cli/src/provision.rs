//! `homeward provision`: the administrator's act. Makes or brings up to
//! date everything Homeward needs on the server — the streams, the
//! gateways' consumer, every member's durable consumers and case bucket,
//! every gateway's seen-ids bucket — from the policy.
//!
//! Nobody else may: under the generated accounts the gateway, the members
//! and the operator cannot create, update or delete a stream or consumer,
//! and they say what is missing when they start.

use std::process::ExitCode;

use homeward_core::{Policy, SchemaRegistry, client, natsauth, streams};

use crate::{NatsArgs, PolicyArgs, paths};

#[derive(Debug, clap::Args)]
pub struct ProvisionArgs {
    #[command(flatten)]
    nats: NatsArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Copies of every stream and bucket: 1 on one server, 3 on a cluster.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
}

pub async fn run(args: ProvisionArgs) -> anyhow::Result<ExitCode> {
    let schemas = SchemaRegistry::embedded()?;
    let policy = Policy::load(&paths::resolve(&args.policy.policy), &schemas)?;
    let admin = client::connect(&args.nats.connection()?, None, "homeward provision").await?;
    streams::provision(&admin, &policy, args.replicas).await?;
    let members = policy
        .members()
        .filter(|m| natsauth::Kind::of(m.role) == natsauth::Kind::Member)
        .count();
    println!(
        "provisioned {} streams, the gateways' consumer, and the consumers, case buckets and event logs of {members} members ({} replica(s))",
        natsauth::STREAMS.len(),
        args.replicas
    );
    Ok(ExitCode::SUCCESS)
}
