//! `homeward watch`: one line per gateway decision, live.
//!
//! The audit stream holds every decision with its sender, recipients, type,
//! case and codes, and never the message content, so it is what an operator
//! tails, by sequence and live ([`homeward_core::console`]), from now (or
//! from the start). The operator may make no consumer.

use std::process::ExitCode;

use std::time::Duration;

use homeward_core::audit::{AuditRecord, parse_record};
use homeward_core::console::{AuditTail, ReadFrom};
use homeward_core::{client, shutdown};

use crate::{NatsArgs, OperatorArgs};

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    #[command(flatten)]
    nats: NatsArgs,
    #[command(flatten)]
    operator: OperatorArgs,
    /// Only decisions where this member is the sender or a recipient.
    #[arg(long)]
    member: Option<String>,
    /// Only this message type.
    #[arg(long = "type")]
    message_type: Option<String>,
    /// Only this case reference.
    #[arg(long)]
    case: Option<String>,
    /// Only rejections.
    #[arg(long)]
    rejected: bool,
    /// Replay every decision on record before following live ones.
    #[arg(long)]
    from_start: bool,
    /// Stop after this many lines (for scripts).
    #[arg(long)]
    limit: Option<usize>,
}

/// Whether a record passes the filters.
fn wanted(args: &WatchArgs, r: &AuditRecord) -> bool {
    if args.rejected && r.decision != "rejected" {
        return false;
    }
    if let Some(m) = &args.member
        && r.sender != *m
        && !r.recipients.iter().any(|x| x == m)
    {
        return false;
    }
    if let Some(t) = &args.message_type
        && r.message_type.as_deref() != Some(t.as_str())
    {
        return false;
    }
    if let Some(c) = &args.case
        && r.case.as_deref() != Some(c.as_str())
    {
        return false;
    }
    true
}

/// One line: time, sender → recipients, type, case, decision or codes.
pub fn line(r: &AuditRecord) -> String {
    let recipients = if r.recipients.is_empty() {
        "-".to_owned()
    } else {
        r.recipients.join(",")
    };
    let outcome = if r.decision == "accepted" {
        "accepted".to_owned()
    } else {
        format!("REJECTED {}", r.codes.join(","))
    };
    format!(
        "{}  {} → {}  {}  {}  {}",
        r.time,
        r.sender,
        recipients,
        r.message_type.as_deref().unwrap_or("?"),
        r.case.as_deref().unwrap_or("-"),
        outcome
    )
}

pub async fn run(args: WatchArgs) -> anyhow::Result<ExitCode> {
    let operator = args.operator.member()?;
    let nats = client::connect(&args.nats.connection()?, Some(&operator), "homeward watch").await?;
    let from = if args.from_start {
        ReadFrom::Start
    } else {
        ReadFrom::Now
    };
    let mut tail = AuditTail::open(&nats, from).await?;
    let stop = shutdown::on_signal();
    let mut printed = 0;
    loop {
        // Waits a minute at a time; the shutdown signal ends it at once.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let next = tokio::select! {
            _ = stop.cancelled() => break,
            next = tail.next_before(deadline) => next?,
        };
        let Some((sequence, bytes)) = next else {
            continue;
        };
        let Some(record) = parse_record(&bytes) else {
            println!(
                "ALARM: a foreign message in the audit stream at sequence {sequence}: not an audit record"
            );
            continue;
        };
        if wanted(&args, &record) {
            println!("{}", line(&record));
            printed += 1;
            if args.limit.is_some_and(|l| printed >= l) {
                break;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
