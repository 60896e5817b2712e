//! `homeward tls dev-ca`: a development CA and server certificate, so a
//! local nats-server can require TLS as a production one does.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use homeward_core::tls;

#[derive(Debug, Args)]
pub struct DevCaArgs {
    /// The folder for `ca.pem`, `server.pem` and `server-key.pem` (created
    /// if missing; files of those names are replaced).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// A host the server certificate is for: an IP address or a DNS name;
    /// repeat for several [default: localhost, 127.0.0.1].
    #[arg(long = "host", value_name = "H")]
    hosts: Vec<String>,
}

pub fn dev_ca(args: DevCaArgs) -> anyhow::Result<ExitCode> {
    let hosts = if args.hosts.is_empty() {
        tls::default_hosts()
    } else {
        args.hosts
    };
    let files = tls::make_dev_pki(&args.out, &hosts)?;
    println!("ca      {}", files.ca.display());
    println!("cert    {}", files.cert.display());
    println!("key     {} (private: never commit)", files.key.display());
    println!(
        "valid {} days for {}; nats-server: {}; clients: --tls-ca {}",
        tls::VALIDITY.whole_days(),
        hosts.join(", "),
        files.server_config(),
        files.ca.display()
    );
    Ok(ExitCode::SUCCESS)
}
