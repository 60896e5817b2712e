//! `homeward policy check`.

use std::process::ExitCode;

use homeward_core::policy::SenderRule;
use homeward_core::{Policy, SchemaRegistry};

use crate::{PolicyArgs, paths};

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
