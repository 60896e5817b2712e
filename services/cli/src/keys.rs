//! `homeward keys generate`: signing keys and NATS user keys for development.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use homeward_core::{MemberId, Policy, keys as layout};
use homeward_testkit::devkeys;

use crate::{PolicyArgs, paths};

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    /// The folder for the seeds and keyring (git-ignored).
    #[arg(long, default_value = paths::DEV_KEYS)]
    out: PathBuf,
    /// Only these members (default: every member of the policy).
    #[arg(long = "member")]
    members: Vec<String>,
    /// Replace existing seeds instead of keeping them.
    #[arg(long)]
    replace: bool,
}

pub fn generate(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let policy_path = paths::resolve(&args.policy.policy);
    let all = Policy::member_ids(&policy_path)?;
    let members: Vec<MemberId> = if args.members.is_empty() {
        all
    } else {
        args.members
            .iter()
            .map(|m| {
                let id = MemberId::parse(m)?;
                anyhow::ensure!(
                    all.contains(&id),
                    "{id} is not a member of {}",
                    policy_path.display()
                );
                Ok(id)
            })
            .collect::<anyhow::Result<_>>()?
    };
    let out = args.out.clone();
    let keys = devkeys::generate(&out, &members, args.replace)?;
    for (member, key) in &keys {
        println!("{member:<20} {}", key.public());
    }
    let nats = devkeys::generate_nats(&out, &members, args.replace)?;
    println!(
        "{} keys in {} (private: never commit); public keys in {}",
        keys.len(),
        out.display(),
        out.join(layout::KEYRING_FILE).display()
    );
    println!(
        "{} NATS user keys (one per member, and `admin`) in {}; public keys in {}",
        nats.len(),
        out.display(),
        out.join(layout::NATS_KEYS_FILE).display()
    );
    let authority = devkeys::policy_authority(&out)?;
    println!(
        "the policy authority's key in {} (public: {}); it signs `homeward policy publish`",
        out.join("policy-authority.nk").display(),
        authority.public().as_str()
    );
    Ok(ExitCode::SUCCESS)
}
