//! Encryption at rest: a synthetic family's names, written through the
//! gateway and stored by JetStream (deliveries, the rejected copy, a case
//! bucket), cannot be found in any file of the server's store; and the
//! same scan of a store without encryption does find them, so the scan is
//! able to fail. A key and cipher given explicitly are used as given, and
//! the key itself is found nowhere in the store either.
//!
//! Both servers fsync before every ack (`sync_interval: always`), so what
//! JetStream acknowledged is in the files when they are scanned; the
//! server is killed first, so nothing is still being written. Restarting
//! it on the same store (and key) then reads the names back: they were on
//! disk, just not readable there.

use std::path::{Path, PathBuf};

use async_nats::jetstream;
use homeward_core::envelope::new_id;
use homeward_core::receipt::Decision;
use homeward_core::subjects;
use homeward_testkit::local::LocalOptions;
use homeward_testkit::natsd::{Cipher, ServerOptions, StoreEncryption, random_store_key};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{
    audit_record_for, deployment_with, example, jetstream, read_all, receipt_for, resign,
};

/// `n` random characters from `alphabet`, so that every run writes names
/// no earlier run (or anything else) could have left behind.
fn random_letters(alphabet: &[char], n: usize) -> String {
    Sha256::digest(new_id().as_bytes())
        .iter()
        .take(n)
        .map(|b| alphabet[usize::from(*b) % alphabet.len()])
        .collect()
}

/// One synthetic woman's names, unique to this run, in three scripts.
struct Marker {
    latn: String,
    cyrl: String,
    arab: String,
    /// The random parts alone: a fragment of a name is a leak too.
    tokens: [String; 3],
}

impl Marker {
    fn new() -> Self {
        let latin: Vec<char> = ('a'..='z').collect();
        let cyrillic: Vec<char> = ('а'..='я').collect();
        let arabic: Vec<char> = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي".chars().collect();
        let tokens = [
            random_letters(&latin, 12),
            random_letters(&cyrillic, 12),
            random_letters(&arabic, 12),
        ];
        Self {
            latn: format!("Zhanargul Testmarker-{}", tokens[0]),
            cyrl: format!("Жанаргүл Тестмаркер-{}", tokens[1]),
            arab: format!("جنارغول {}", tokens[2]),
            tokens,
        }
    }

    /// What must not be found: each name in UTF-8 and the random parts alone;
    /// the Latin name in UTF-16 both ways and upper case; the Cyrillic name
    /// as JSON `\u` escapes.
    fn needles(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for (what, text) in [
            ("Latin name", &self.latn),
            ("Cyrillic name", &self.cyrl),
            ("Arabic name", &self.arab),
            ("Latin fragment", &self.tokens[0]),
            ("Cyrillic fragment", &self.tokens[1]),
            ("Arabic fragment", &self.tokens[2]),
        ] {
            out.push((what.to_owned(), text.as_bytes().to_vec()));
        }
        out.push((
            "Latin name, upper case".into(),
            self.latn.to_uppercase().into_bytes(),
        ));
        let utf16: Vec<u16> = self.latn.encode_utf16().collect();
        out.push((
            "Latin name, UTF-16LE".into(),
            utf16.iter().flat_map(|u| u.to_le_bytes()).collect(),
        ));
        out.push((
            "Latin name, UTF-16BE".into(),
            utf16.iter().flat_map(|u| u.to_be_bytes()).collect(),
        ));
        let escaped: String = self
            .cyrl
            .encode_utf16()
            .map(|u| {
                if u < 0x80 {
                    char::from(u as u8).to_string()
                } else {
                    format!("\\u{u:04x}")
                }
            })
            .collect();
        out.push(("Cyrillic name, JSON-escaped".into(), escaped.into_bytes()));
        out
    }
}

/// The located-family example with the head of the family renamed.
fn family_named(marker: &Marker) -> Value {
    let mut family = example("camp.resident.located", "kazakh-family-al-hol.json");
    family["data"]["familyUnit"]["members"][0]["names"] = json!([
        {"value": marker.cyrl, "script": "Cyrl", "kind": "official"},
        {"value": marker.latn, "script": "Latn", "kind": "as-recorded"},
        {"value": marker.arab, "script": "Arab", "kind": "alias"},
    ]);
    family
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// What a scan of the store found.
struct Scan {
    files: usize,
    bytes: usize,
    /// (file, what) for every needle found.
    found: Vec<(PathBuf, String)>,
}

fn scan(store: &Path, needles: &[(String, Vec<u8>)]) -> Scan {
    let mut files = Vec::new();
    files_under(store, &mut files);
    let mut result = Scan {
        files: files.len(),
        bytes: 0,
        found: Vec::new(),
    };
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        result.bytes += bytes.len();
        for (what, needle) in needles {
            if bytes.windows(needle.len()).any(|w| w == &needle[..]) {
                result.found.push((file.clone(), what.clone()));
            }
        }
    }
    result
}

/// The deliveries whose bytes hold the Latin name, read through the server.
async fn deliveries_naming(js: &jetstream::Context, marker: &Marker) -> usize {
    read_all(js, subjects::DELIVER_STREAM, subjects::DELIVER_ALL)
        .await
        .iter()
        .filter(|d| {
            d.payload
                .windows(marker.latn.len())
                .any(|w| w == marker.latn.as_bytes())
        })
        .count()
}

/// Writes the marked family through a gateway on a server with
/// `encryption`: accepted and delivered twice, once rejected (its bytes
/// kept in `HW_REJECTED`), and once into kz.mfa's case bucket. Then kills
/// the server, scans its store for the names and `also`, restarts it and
/// reads the names back.
async fn store_names_and_scan(
    encryption: StoreEncryption,
    also: Vec<(String, Vec<u8>)>,
) -> (Scan, Option<Cipher>) {
    let options = LocalOptions {
        server: ServerOptions {
            sync_always: true,
            encryption,
            ..Default::default()
        },
        ..Default::default()
    };
    let (mut local, gateway) = deployment_with(options).await;
    let cipher = local.server.store_cipher();
    let js = jetstream(&local).await;
    let marker = Marker::new();
    let camps = local.member("aanes.camps").await.expect("member");

    let located = resign(&local, &family_named(&marker));
    let ack = camps.submit(&located).await.expect("submitted");
    let receipt = receipt_for(&local, &js, camps.member(), ack.sequence).await;
    assert_eq!(receipt.decision, Decision::Accepted, "{receipt:?}");
    assert_eq!(receipt.recipients, ["kz.mfa", "kz.security"]);
    // The audit record is written after JetStream has acknowledged the
    // deliveries, so they are stored.
    audit_record_for(&js, ack.sequence).await;

    let mut broken = family_named(&marker);
    broken["data"]["familyUnit"]["members"][0]["birthDate"]["value"] = json!("1991-13");
    let broken = resign(&local, &broken);
    let ack = camps.submit(&broken).await.expect("submitted");
    let receipt = receipt_for(&local, &js, camps.member(), ack.sequence).await;
    assert_eq!(receipt.decision, Decision::Rejected, "{receipt:?}");
    audit_record_for(&js, ack.sequence).await;

    let mfa = local.member("kz.mfa").await.expect("member");
    let bucket = mfa
        .jetstream()
        .get_key_value(subjects::case_bucket(mfa.member()))
        .await
        .expect("kz.mfa's bucket");
    let note =
        json!({"caseRef": "HOL-P5-000123", "note": format!("{} / {}", marker.latn, marker.cyrl)});
    bucket
        .put(
            "HOL-P5-000123",
            serde_json::to_vec(&note).expect("json").into(),
        )
        .await
        .expect("stored in the bucket");

    assert_eq!(
        deliveries_naming(&js, &marker).await,
        2,
        "the server gives the deliveries back whole"
    );
    gateway.stop().await.expect("gateway stops");
    drop((js, camps, mfa, bucket));

    local.server.kill();
    let mut needles = marker.needles();
    needles.extend(also);
    let found = scan(local.server.store_dir(), &needles);

    // The same store, after a crash: everything is still there to be read
    // through the server, so the scan above looked at data on disk.
    local.server.restart().expect("the server starts again");
    let js = jetstream(&local).await;
    assert_eq!(
        deliveries_naming(&js, &marker).await,
        2,
        "after a restart on the same store the deliveries read back whole"
    );
    (found, cipher)
}

#[tokio::test]
async fn names_cannot_be_read_in_the_encrypted_store() {
    let (scan, cipher) = store_names_and_scan(StoreEncryption::default(), Vec::new()).await;
    assert_eq!(
        cipher,
        Some(Cipher::ChaChaPoly),
        "a Local encrypts by default"
    );
    assert!(
        scan.files >= 10 && scan.bytes > 4096,
        "the scan read the store: {} files, {} bytes",
        scan.files,
        scan.bytes
    );
    assert!(
        scan.found.is_empty(),
        "personal data readable in the encrypted store: {:?}",
        scan.found
    );
}

#[tokio::test]
async fn a_given_key_and_cipher_are_used_and_the_key_is_never_written_to_the_store() {
    let key = random_store_key();
    let also = vec![("the store key".to_owned(), key.expose().as_bytes().to_vec())];
    let encryption = StoreEncryption::Key {
        cipher: Cipher::Aes,
        key,
    };
    let (scan, cipher) = store_names_and_scan(encryption, also).await;
    assert_eq!(cipher, Some(Cipher::Aes));
    assert!(
        scan.found.is_empty(),
        "readable in the encrypted store: {:?}",
        scan.found
    );
}

#[tokio::test]
async fn without_encryption_the_same_scan_finds_the_names() {
    let (scan, cipher) = store_names_and_scan(StoreEncryption::Off, Vec::new()).await;
    assert_eq!(cipher, None);
    for what in ["Latin name", "Cyrillic name", "Arabic name"] {
        assert!(
            scan.found.iter().any(|(_, w)| w == what),
            "the control scan did not find the {what}: {:?}",
            scan.found
        );
    }
    // In each place the encrypted run wrote them: so the encrypted scan
    // covered deliveries, rejected copies and case buckets alike.
    for stream in [
        subjects::DELIVER_STREAM.to_owned(),
        subjects::REJECTED_STREAM.to_owned(),
        "KV_hw_cases_kz_mfa".to_owned(),
    ] {
        assert!(
            scan.found.iter().any(|(file, what)| what == "Latin name"
                && file.components().any(|c| c.as_os_str() == stream.as_str())),
            "the control scan did not find the name in {stream}: {:?}",
            scan.found
        );
    }
}
