//! A development PKI, so that every NATS connection is encrypted and the
//! server proven, on one machine as in production.
//!
//! What crosses NATS is personal data about people in danger, and the nkey
//! a member authenticates with is only as good as the channel it is sent
//! over: without TLS, anyone on the path reads every envelope and can pose
//! as the server. So the server requires TLS from every client, and every
//! client checks the server's certificate against a CA file it is given,
//! never the system's roots alone.
//!
//! In production that CA and the server's certificate come from the
//! operation's own PKI. For development, the demo and the tests,
//! [`make_dev_pki`] makes a throwaway one: a self-signed CA and one server
//! certificate it signs, valid for [`VALIDITY`]. The CA's private key is
//! used once and then dropped, never written anywhere: nobody can sign a
//! second certificate with it, so trusting `ca.pem` means trusting exactly
//! that one server certificate. The server's key is written readable by its
//! owner only.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::Error;

/// The CA certificate a client is given to check the server with.
pub const CA_FILE: &str = "ca.pem";
/// The server's certificate.
pub const CERT_FILE: &str = "server.pem";
/// The server's private key, mode 0600.
pub const KEY_FILE: &str = "server-key.pem";

/// The hosts a development server certificate is for when none are named.
pub const DEFAULT_HOSTS: [&str; 2] = ["localhost", "127.0.0.1"];

/// How long development certificates are valid.
pub const VALIDITY: time::Duration = time::Duration::days(30);

/// Where a PKI's files are: what the server needs (`cert`, `key`) and what
/// its clients need (`ca`).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA certificate (PEM).
    pub ca: PathBuf,
    /// The server certificate (PEM), signed by the CA.
    pub cert: PathBuf,
    /// The server's private key (PEM, PKCS#8).
    pub key: PathBuf,
}

impl TlsFiles {
    /// The nats-server `tls` block, on one line, that makes the server
    /// present this certificate and refuse every client that does not speak
    /// TLS (within 5 seconds of connecting).
    pub fn server_config(&self) -> String {
        format!(
            "tls {{ cert_file: {:?}, key_file: {:?}, timeout: 5 }}",
            self.cert.display().to_string(),
            self.key.display().to_string(),
        )
    }
}

/// [`DEFAULT_HOSTS`] as the owned list [`make_dev_pki`] takes.
pub fn default_hosts() -> Vec<String> {
    DEFAULT_HOSTS.iter().map(|h| (*h).to_owned()).collect()
}

/// Makes a development CA and a server certificate for `hosts` in `dir`
/// (created if missing), replacing any files of the same names there.
///
/// Each host becomes a subject alternative name: an IP SAN when it parses
/// as an IP address, a DNS SAN otherwise. Both certificates are valid from
/// a minute ago (for small clock differences) for [`VALIDITY`].
pub fn make_dev_pki(dir: &Path, hosts: &[String]) -> Result<TlsFiles, Error> {
    if hosts.is_empty() {
        return Err(Error::Tls(
            "a server certificate needs at least one host".into(),
        ));
    }
    let names = hosts
        .iter()
        .map(|h| subject_alt_name(h))
        .collect::<Result<Vec<_>, _>>()?;
    let not_before = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let not_after = not_before + VALIDITY;

    let mut ca = CertificateParams::default();
    // Each CA its own name, so that no client or tool takes one for another.
    let ca_name = format!(
        "Homeward development CA {}",
        hex::encode(rand::random::<[u8; 6]>())
    );
    ca.distinguished_name = distinguished_name(&ca_name);
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_key = KeyPair::generate().map_err(|e| rcgen_error("making the CA key", e))?;
    let ca_cert = ca
        .self_signed(&ca_key)
        .map_err(|e| rcgen_error("signing the CA certificate", e))?;
    let issuer = Issuer::new(ca, ca_key);

    let mut server = CertificateParams::default();
    server.distinguished_name = distinguished_name(&hosts[0]);
    server.subject_alt_names = names;
    server.is_ca = IsCa::ExplicitNoCa;
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    server.not_before = not_before;
    server.not_after = not_after;
    let server_key = KeyPair::generate().map_err(|e| rcgen_error("making the server key", e))?;
    let server_cert = server
        .signed_by(&server_key, &issuer)
        .map_err(|e| rcgen_error("signing the server certificate", e))?;

    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let files = TlsFiles {
        ca: dir.join(CA_FILE),
        cert: dir.join(CERT_FILE),
        key: dir.join(KEY_FILE),
    };
    write_private(&files.key, &server_key.serialize_pem()).map_err(|e| io(&files.key, e))?;
    std::fs::write(&files.cert, server_cert.pem()).map_err(|e| io(&files.cert, e))?;
    std::fs::write(&files.ca, ca_cert.pem()).map_err(|e| io(&files.ca, e))?;
    Ok(files)
}

fn subject_alt_name(host: &str) -> Result<SanType, Error> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let is_dns_name = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !is_dns_name {
        return Err(Error::Tls(format!(
            "host {host:?} is neither an IP address nor a DNS name"
        )));
    }
    host.to_owned()
        .try_into()
        .map(SanType::DnsName)
        .map_err(|e| Error::Tls(format!("host {host:?}: {e}")))
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "Homeward (development)");
    name.push(DnType::CommonName, common_name);
    name
}

fn rcgen_error(doing: &str, e: rcgen::Error) -> Error {
    Error::Tls(format!("{doing}: {e}"))
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes a private key readable by its owner only, also when the file was
/// there before with a wider mode.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(text.as_bytes())
    }
    #[cfg(not(unix))]
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_nats::rustls::client::WebPkiServerVerifier;
    use async_nats::rustls::client::danger::ServerCertVerifier;
    use async_nats::rustls::pki_types::pem::PemObject;
    use async_nats::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
    use async_nats::rustls::{self, RootCertStore};

    use super::*;

    fn cert(path: &Path) -> CertificateDer<'static> {
        let pem = std::fs::read(path).expect("read certificate");
        CertificateDer::from_pem_slice(&pem).expect("a PEM certificate")
    }

    /// Checks `files.cert` as a TLS client trusting only `ca` would.
    fn verify(ca: &Path, files: &TlsFiles, host: &str) -> Result<(), rustls::Error> {
        let mut roots = RootCertStore::empty();
        roots.add(cert(ca)).expect("a usable CA certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .expect("verifier");
        let name = ServerName::try_from(host.to_owned()).expect("server name");
        verifier
            .verify_server_cert(&cert(&files.cert), &[], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn a_dev_pki_is_written_with_a_private_key_and_verifies_for_its_hosts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hosts = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            "nats.homeward.test".to_owned(),
        ];
        let files = make_dev_pki(&dir.path().join("tls"), &hosts).expect("pki");
        for path in [&files.ca, &files.cert, &files.key] {
            assert!(path.is_file(), "{} missing", path.display());
        }
        assert_eq!(
            std::fs::read_dir(dir.path().join("tls"))
                .expect("dir")
                .count(),
            3,
            "only the CA certificate and the server's certificate and key are written"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&files.key)
                .expect("key")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "server key mode {mode:o}");
        }
        let key = std::fs::read(&files.key).expect("key");
        PrivateKeyDer::from_pem_slice(&key).expect("a PEM private key");
        for host in &hosts {
            verify(&files.ca, &files, host).unwrap_or_else(|e| panic!("{host}: {e}"));
        }
        for other in ["example.org", "127.0.0.2"] {
            assert!(
                matches!(
                    verify(&files.ca, &files, other),
                    Err(rustls::Error::InvalidCertificate(
                        rustls::CertificateError::NotValidForName
                            | rustls::CertificateError::NotValidForNameContext { .. }
                    ))
                ),
                "the certificate is valid for {other}, which was not asked for"
            );
        }
    }

    #[test]
    fn another_dev_ca_does_not_vouch_for_the_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ours = make_dev_pki(&dir.path().join("a"), &default_hosts()).expect("pki");
        let theirs = make_dev_pki(&dir.path().join("b"), &default_hosts()).expect("pki");
        assert!(matches!(
            verify(&theirs.ca, &ours, "localhost"),
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ));
    }

    #[test]
    fn a_wider_key_file_is_narrowed_and_bad_hosts_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join(KEY_FILE);
        std::fs::write(&key, "old").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            make_dev_pki(dir.path(), &default_hosts()).expect("pki");
            let mode = std::fs::metadata(&key).expect("key").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "server key mode {mode:o}");
        }
        assert!(matches!(make_dev_pki(dir.path(), &[]), Err(Error::Tls(_))));
        let err = make_dev_pki(dir.path(), &["bad host".to_owned()]).expect_err("refused");
        assert!(matches!(err, Error::Tls(_)), "{err}");
        assert!(err.to_string().contains("\"bad host\""), "{err}");
    }

    #[test]
    fn the_server_block_names_both_files_and_a_timeout() {
        let files = TlsFiles {
            ca: "/x/ca.pem".into(),
            cert: "/x/server.pem".into(),
            key: "/x/server-key.pem".into(),
        };
        assert_eq!(
            files.server_config(),
            r#"tls { cert_file: "/x/server.pem", key_file: "/x/server-key.pem", timeout: 5 }"#
        );
    }
}
