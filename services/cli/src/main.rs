//! `homeward`: the command line for members, integrators and operators.
//!
//! Parses flags, starts tracing and hands over to one module per command;
//! everything of substance lives in the libraries.

mod asyncapi;
mod audit;
mod census;
#[cfg(feature = "dev")]
mod demo;
mod deploy;
#[cfg(feature = "dev")]
mod keys;
mod parked;
mod paths;
mod policy;
mod progress;
mod provision;
mod report;
mod schemas;
mod send;
mod tls;
mod validate;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Homeward: signed, schema-validated coordination messages for bringing
/// citizens home.
#[derive(Debug, Parser)]
#[command(name = "homeward", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Development keys.
    #[cfg(feature = "dev")]
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Checks message files: envelope, signature and schema; with a policy,
    /// also the key and the sender's permission. Exits non-zero on any
    /// violation.
    Validate(validate::ValidateArgs),
    /// The published schemas.
    Schemas {
        #[command(subcommand)]
        command: SchemasCommand,
    },
    /// The policy.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Writes the AsyncAPI 3.0 document of the policy and the schemas:
    /// subjects, what each role sends and receives, every message type.
    Asyncapi(asyncapi::AsyncApiArgs),
    /// As the administrator: makes or updates the streams, consumers and
    /// buckets the policy needs. Nobody else may.
    Provision(provision::ProvisionArgs),
    /// Signs and submits a message as a member, and prints the gateway's receipt.
    Send(send::SendArgs),
    /// Tails decisions live: one line per submission, with filters.
    Watch(watch::WatchArgs),
    /// The audit chain.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Where one state's families stand, per operation and round and per
    /// operation in all, from its foreign ministry's service.
    Report(report::ReportArgs),
    /// Deliveries a ministry service parked after failing to process
    /// them, and their redrive, through the service's API.
    Parked {
        #[command(subcommand)]
        command: ParkedCommand,
    },
    /// Camp censuses.
    Census {
        #[command(subcommand)]
        command: CensusCommand,
    },
    /// Runs all of Homeward on an embedded nats-server: the gateway, every
    /// ministry service, the Zhusan and Mehr replay, and the report.
    #[cfg(feature = "dev")]
    Demo(demo::DemoArgs),
    /// Deployment files for every site, from the policy and a sites file.
    Deploy {
        #[command(subcommand)]
        command: DeployCommand,
    },
    /// TLS for NATS.
    Tls {
        #[command(subcommand)]
        command: TlsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum DeployCommand {
    /// Writes, per site, each node's nats-server configuration with the
    /// policy's accounts, the services' settings, hardened systemd units
    /// and a compose file; checks the sites file whole first and writes
    /// nothing if any of it is wrong.
    Render(deploy::RenderArgs),
}

#[derive(Debug, Subcommand)]
enum TlsCommand {
    /// Makes a development CA and a server certificate signed by it, for
    /// nats-server's `tls` block and the clients' `--tls-ca`.
    DevCa(tls::DevCaArgs),
}

#[derive(Debug, Subcommand)]
enum ParkedCommand {
    /// Lists the parked deliveries: sequence, type, id, sender, case,
    /// failure, attempts; never their content.
    List(parked::ServiceArgs),
    /// Redrives a parked delivery once its cause is fixed, with the
    /// parked deliveries of its case, in the order they were delivered.
    Redrive(parked::RedriveArgs),
}

#[derive(Debug, Subcommand)]
enum CensusCommand {
    /// Imports a census (CSV) into a camp registry, with a progress bar; a
    /// bad row stops it before anything is sent.
    Import(census::ImportArgs),
}

#[cfg(feature = "dev")]
#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Makes development signing keys and NATS user keys for the policy's members.
    Generate(keys::GenerateArgs),
}

#[derive(Debug, Subcommand)]
enum SchemasCommand {
    /// Every message type with its versions.
    List,
    /// Prints a message type's schema.
    Show {
        /// The message type, e.g. repatriation.requested.
        r#type: String,
        /// The version; the newest when omitted.
        #[arg(long)]
        version: Option<u32>,
    },
    /// Whether a reader of schema A can read every message written in B
    /// (exit 0), or what it cannot (exit 1). A and B are `TYPE@N`
    /// (`camp.resident.located@1`), a schema `$id`, or a schema file.
    Diff {
        /// The schema the reader reads.
        a: String,
        /// The schema the writer writes.
        b: String,
        /// Resolve references and `TYPE@N` from this folder laid out like
        /// `schemas/` instead of the schemas built in.
        #[arg(long)]
        schemas: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Loads and checks the policy; prints members and routes.
    Check(PolicyArgs),
    /// Writes the NATS server's accounts from the policy: the streams'
    /// account with the administrator, and one account per member, gateway
    /// and operator, each receiving only its own subjects.
    NatsConfig(policy::NatsConfigArgs),
    /// As the administrator: signs the policy with the policy authority's
    /// key and publishes it; every gateway and service applies it while
    /// running (a revoked key stops working at once).
    Publish(policy::PublishArgs),
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walks the audit chain and names the first broken link.
    Verify(audit::VerifyArgs),
}

/// Which operator identity a console command speaks for: its connection
/// uses that identity's private inbox prefix, the only one the server lets
/// the operator's NATS user subscribe to.
#[derive(Debug, Clone, Args)]
pub struct OperatorArgs {
    /// The operator member of the policy.
    #[arg(
        long = "as",
        env = "HOMEWARD_OPERATOR",
        default_value = "homeward.operator"
    )]
    pub operator: String,
}

impl OperatorArgs {
    pub fn member(&self) -> anyhow::Result<homeward_core::MemberId> {
        Ok(homeward_core::MemberId::parse(&self.operator)?)
    }
}

/// Where the policy and the development keys are.
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// The policy file.
    #[arg(
        long,
        env = "HOMEWARD_POLICY",
        default_value = "deploy/policy/demo.toml"
    )]
    pub policy: PathBuf,
}

/// How to reach NATS.
#[derive(Debug, Clone, Args)]
pub struct NatsArgs {
    /// The NATS server URL.
    #[arg(
        long,
        env = "HOMEWARD_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats: String,
    /// The NATS user nkey seed file to authenticate with (`homeward keys
    /// generate` makes `dev-keys/<identity>.nats.nk`).
    #[arg(long, env = "HOMEWARD_NATS_NKEY")]
    pub nkey: Option<PathBuf>,
    /// The CA certificate file (PEM) to check the server's certificate
    /// with; connects over TLS only (`homeward tls dev-ca` makes one for
    /// development).
    #[arg(long, env = "HOMEWARD_NATS_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
}

impl NatsArgs {
    pub fn connection(&self) -> anyhow::Result<homeward_core::client::Connection> {
        self.connection_or(None)
    }

    /// As [`NatsArgs::connection`], with `fallback` as the nkey seed file
    /// when `--nkey` is not given and the file exists.
    pub fn connection_or(
        &self,
        fallback: Option<&std::path::Path>,
    ) -> anyhow::Result<homeward_core::client::Connection> {
        let file = self.nkey.as_deref().or(fallback.filter(|p| p.is_file()));
        let nkey_seed = file.map(homeward_core::keys::read_nats_seed).transpose()?;
        Ok(homeward_core::client::Connection {
            url: self.nats.clone(),
            nkey_seed,
            tls_ca: self.tls_ca.clone(),
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo sends the services' logs to a file of its own.
    #[cfg(feature = "dev")]
    let logs_to_terminal = !matches!(cli.command, Command::Demo(_));
    #[cfg(not(feature = "dev"))]
    let logs_to_terminal = true;
    if logs_to_terminal {
        homeward_core::telemetry::init("warn", false);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("homeward: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            #[cfg(feature = "dev")]
            Command::Keys {
                command: KeysCommand::Generate(args),
            } => keys::generate(args),
            Command::Validate(args) => validate::run(args),
            Command::Schemas {
                command: SchemasCommand::List,
            } => schemas::list(),
            Command::Schemas {
                command: SchemasCommand::Show { r#type, version },
            } => schemas::show(&r#type, version),
            Command::Schemas {
                command: SchemasCommand::Diff { a, b, schemas: dir },
            } => schemas::diff(&a, &b, dir.as_deref()),
            Command::Policy {
                command: PolicyCommand::Check(args),
            } => policy::check(args),
            Command::Policy {
                command: PolicyCommand::NatsConfig(args),
            } => policy::nats_config(args),
            Command::Policy {
                command: PolicyCommand::Publish(args),
            } => policy::publish(args).await,
            Command::Asyncapi(args) => asyncapi::run(args),
            Command::Provision(args) => provision::run(args).await,
            Command::Send(args) => send::run(args).await,
            Command::Watch(args) => watch::run(args).await,
            Command::Audit {
                command: AuditCommand::Verify(args),
            } => audit::verify(args).await,
            Command::Report(args) => report::run(args).await,
            Command::Parked {
                command: ParkedCommand::List(args),
            } => parked::list(args).await,
            Command::Parked {
                command: ParkedCommand::Redrive(args),
            } => parked::redrive(args).await,
            Command::Census {
                command: CensusCommand::Import(args),
            } => census::import(args).await,
            #[cfg(feature = "dev")]
            Command::Demo(args) => demo::run(args).await,
            Command::Deploy {
                command: DeployCommand::Render(args),
            } => deploy::render(args),
            Command::Tls {
                command: TlsCommand::DevCa(args),
            } => tls::dev_ca(args),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("homeward: {e:#}");
            ExitCode::FAILURE
        }
    }
}
