//! Commands that need no server: keys, validate, schemas, policy, tls.

use std::path::Path;

use serde_json::Value;

use crate::{homeward, repo, text};

fn example(rel: &str) -> String {
    repo().join("schemas").join(rel).display().to_string()
}

#[test]
fn validate_accepts_a_valid_example() {
    let out = homeward(&[
        "validate",
        &example("messages/camp.resident.located/examples/v1/valid/kazakh-family-al-hol.json"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("1 passed, 0 failed"));
}

/// Every invalid example of the contract, as an integrator would feed it:
/// the wrapper `{description, failsAt, envelope}` is recognised, and each
/// passes because its envelope fails exactly where it says.
#[test]
fn validate_reads_labelled_examples_and_checks_where_they_fail() {
    let schemas = crate::repo().join("schemas");
    let mut files = Vec::new();
    for dir in ["envelope/examples/v1/invalid"]
        .into_iter()
        .map(|d| schemas.join(d))
        .chain(
            std::fs::read_dir(schemas.join("messages"))
                .expect("messages")
                .flat_map(|e| {
                    std::fs::read_dir(e.expect("entry").path().join("examples"))
                        .expect("examples")
                        .map(|v| v.expect("version").path().join("invalid"))
                }),
        )
    {
        for file in std::fs::read_dir(&dir).expect("invalid examples") {
            files.push(file.expect("file").path().display().to_string());
        }
    }
    assert!(files.len() >= 90, "only {} invalid examples", files.len());
    let mut args = vec!["validate".to_owned()];
    args.extend(files.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = homeward(&args);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{} passed, 0 failed", files.len())),
        "{}",
        text(&out)
    );

    // The same envelope with a label that points elsewhere fails, saying so.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut wrapper: Value = serde_json::from_str(
        &std::fs::read_to_string(example(
            "messages/camp.resident.located/examples/v1/invalid/bad-partial-birth-date.json",
        ))
        .expect("read"),
    )
    .expect("json");
    wrapper["failsAt"] = Value::from("/data/claimedNationality");
    let mislabelled = dir.path().join("mislabelled.json");
    std::fs::write(&mislabelled, serde_json::to_vec(&wrapper).expect("json")).expect("write");
    let out = homeward(&["validate", mislabelled.to_str().expect("path")]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(
            "labelled to fail at /data/claimedNationality, but its envelope fails elsewhere"
        ),
        "{}",
        text(&out)
    );
}

/// A message on standard input, as `-`.
#[test]
fn validate_reads_standard_input() {
    let bytes = std::fs::read(example(
        "messages/camp.resident.located/examples/v1/valid/kazakh-family-al-hol.json",
    ))
    .expect("read");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_homeward"))
        .args(["validate", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("homeward runs");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), &bytes).expect("written");
    let out = child.wait_with_output().expect("ends");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("ok    (standard input)"),
        "{}",
        text(&out)
    );
}

#[test]
fn validate_names_every_violation_with_its_path_and_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wrapper: Value = serde_json::from_str(
        &std::fs::read_to_string(example(
            "messages/repatriation.requested/examples/v1/invalid/missing-camp-authority.json",
        ))
        .expect("read"),
    )
    .expect("json");
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        serde_json::to_vec(&wrapper["envelope"]).expect("json"),
    )
    .expect("write");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, b"{\"specversion\": \"1.0\",").expect("write");
    let out = homeward(&[
        "validate",
        bad.to_str().expect("path"),
        broken.to_str().expect("path"),
    ]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains(&format!(
            "schema_violation {}:",
            wrapper["failsAt"].as_str().expect("failsAt")
        )),
        "{t}"
    );
    assert!(t.contains("campAuthority"), "{t}");
    assert!(t.contains("malformed_json"), "{t}");
    assert!(t.contains("0 passed, 2 failed"), "{t}");
}

#[test]
fn validate_with_a_policy_refuses_an_unknown_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (policy, _) = policy_with_keys(dir.path());
    // The example is signed with the published example key, which the
    // policy does not list.
    let out = homeward(&[
        "validate",
        "--policy",
        policy.to_str().expect("path"),
        &example("messages/camp.resident.located/examples/v1/valid/kazakh-family-al-hol.json"),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("unknown_key"), "{}", text(&out));
}

#[test]
fn schemas_list_and_show() {
    let out = homeward(&["schemas", "list"]);
    assert!(out.status.success());
    let t = text(&out);
    for kind in [
        "camp.resident.located",
        "handover.acknowledged",
        "gateway.receipt",
        "case.refused",
    ] {
        assert!(t.contains(kind), "{kind} missing from:\n{t}");
    }
    let out = homeward(&["schemas", "show", "repatriation.decided"]);
    assert!(out.status.success());
    let schema: Value = serde_json::from_slice(&out.stdout).expect("the schema is printed as JSON");
    assert_eq!(
        schema["$id"],
        "https://schemas.homeward.example/messages/repatriation.decided/v1.json"
    );
    let out = homeward(&["schemas", "show", "no.such.type"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no schema is published for type \"no.such.type\""));
}

/// `schemas diff A B`: exit 0 when a reader of A reads all of B, else 1
/// with each reason and its path in B.
#[test]
fn schemas_diff_says_whether_a_reader_of_a_reads_b() {
    let out = homeward(&[
        "schemas",
        "diff",
        "camp.resident.located@1",
        "camp.resident.located@2",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("cannot read every message written in camp.resident.located v2 (1 reason"),
        "{t}"
    );
    assert!(
        t.contains("/properties/interviewLanguages: B may send \"interviewLanguages\", which A does not allow"),
        "{t}"
    );
    let out = homeward(&[
        "schemas",
        "diff",
        "camp.resident.located@2",
        "camp.resident.located@1",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("a reader of camp.resident.located v2 reads every message written in camp.resident.located v1"));

    // Files and $ids work too; a draft that loosens a pattern is caught.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut draft: Value = serde_json::from_str(
        &std::fs::read_to_string(example("messages/case.refused/v1.json")).expect("read"),
    )
    .expect("json");
    draft["$id"] = Value::from("https://schemas.homeward.example/messages/case.refused/v2.json");
    draft["properties"]["rule"] = serde_json::json!({"type": "string"});
    let file = dir.path().join("draft.json");
    std::fs::write(&file, serde_json::to_vec(&draft).expect("json")).expect("write");
    let out = homeward(&[
        "schemas",
        "diff",
        "https://schemas.homeward.example/messages/case.refused/v1.json",
        file.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("/properties/rule"), "{}", text(&out));

    let out = homeward(&[
        "schemas",
        "diff",
        "camp.resident.located@9",
        "camp.resident.located@1",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no schema is published as"),
        "{}",
        text(&out)
    );
}

/// A copy of the demo policy with keys made by `homeward keys generate`.
fn policy_with_keys(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let text = std::fs::read_to_string(repo().join("deploy/policy/demo.toml"))
        .expect("demo policy")
        .replace("../../dev-keys/keyring.toml", "keys/keyring.toml");
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, text).expect("write");
    let keys = dir.join("keys");
    let out = homeward(&[
        "keys",
        "generate",
        "--policy",
        policy.to_str().expect("path"),
        "--out",
        keys.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", crate::text(&out));
    (policy, keys)
}

#[test]
fn keys_generate_then_policy_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (policy, keys) = policy_with_keys(dir.path());
    let seed = keys.join("kz.mfa.nk");
    let content = std::fs::read_to_string(&seed).expect("seed written");
    assert!(content.starts_with("SU"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&seed).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "seed files are private");
    }
    let out = homeward(&[
        "policy",
        "check",
        "--policy",
        policy.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("member kz.mfa"), "{t}");
    assert!(t.contains("route  camp.resident.located"), "{t}");
    assert!(t.ends_with("ok\n"), "{t}");
}

#[test]
fn policy_check_lists_each_problem_and_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[member]]\nid = \"kz.mfa\"\nname = \"x\"\nrole = \"mfa\"\n\
         [[route]]\ntype = \"no.such.type\"\nsenders = [\"kz.nobody\"]\nrecipients = [{ member = \"{data.x}.mfa\" }]\n",
    )
    .expect("write");
    let out = homeward(&["policy", "check", "--policy", bad.to_str().expect("path")]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains("no schema is published for type \"no.such.type\""),
        "{t}"
    );
    assert!(t.contains("sender \"kz.nobody\" is not a member"), "{t}");
}

#[test]
fn policy_nats_config_gives_each_identity_its_nkey_and_only_its_own_subjects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (policy, keys) = policy_with_keys(dir.path());
    let seed = std::fs::read_to_string(keys.join("kz.mfa.nats.nk")).expect("NATS seed written");
    assert!(seed.starts_with("SU"), "a NATS user seed");
    assert_ne!(
        seed,
        std::fs::read_to_string(keys.join("kz.mfa.nk")).expect("signing seed"),
        "the NATS key is not the signing key"
    );
    let out_file = dir.path().join("auth.conf");
    let out = homeward(&[
        "policy",
        "nats-config",
        "--policy",
        policy.to_str().expect("path"),
        "--keys",
        keys.to_str().expect("path"),
        "--out",
        out_file.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let config = std::fs::read_to_string(&out_file).expect("config written");
    let publics = std::fs::read_to_string(keys.join("nats-users.toml")).expect("NATS keys");
    let nkeys: Vec<&str> = publics
        .lines()
        .filter_map(|l| l.split_once(" = \""))
        .map(|(_, v)| v.trim_end_matches('"'))
        .collect();
    // Every member of the policy and the administrator.
    let members = std::fs::read_to_string(&policy)
        .expect("policy")
        .matches("[[member]]")
        .count();
    assert_eq!(nkeys.len(), members + 1, "{publics}");
    for nkey in &nkeys {
        assert!(
            config.contains(&format!("nkey: \"{nkey}\"")),
            "{nkey} missing"
        );
    }
    assert!(config.starts_with("# NATS accounts"), "{config}");
    assert!(config.contains("accounts {"), "{config}");
    // One account per identity, and the streams' own.
    assert_eq!(
        config.matches("    users: [").count(),
        members + 1,
        "{config}"
    );
    for absent in [
        "password:",
        "user:",
        "token:",
        "no_auth_user",
        "\"_INBOX.>\"",
    ] {
        assert!(!config.contains(absent), "{absent} in {config}");
    }
    for present in [
        "# kz.mfa (member)",
        "\"hw.submit.kz.mfa\"",
        "\"_INBOX_kz_mfa.>\"",
        "# homeward.gateway (gateway)",
        "\"_INBOX_homeward_gateway.>\"",
        "# homeward.operator (operator)",
        "# admin (administrator)",
        "\"HW\": {",
        "\"kz_mfa\": {",
        "{ service: { account: \"HW\", subject: \"hw.submit.kz.mfa\" } }",
        "{ service: \"hw.submit.kz.mfa\", accounts: [\"kz_mfa\"] }",
    ] {
        assert!(config.contains(present), "{present} missing from {config}");
    }
    assert!(text(&out).contains("development and provisioning only"));
}

#[test]
fn census_import_names_bad_rows_and_sends_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("census.csv");
    std::fs::write(
        &csv,
        "family_ref,person_ref,camp,section,block,tent,claimed_nationality,relationship_to_head,name_latn,name_cyrl,name_arab,aliases,sex,birth_date,birth_date_accuracy,birthplace_country,vulnerability\n\
         HOL-P5-000900,HOL-P5-000900-01,al-Hol,phase 5,1,1,KZ,head,Dana,,,,female,1990,approximate,KZ,\n\
         HOL-P5-000900,HOL-P5-000900-02,al-Hol,phase 5,1,1,KZ,child,Arman,,,,boy,2016,estimated,SY,\n\
         HOL-P5-000900,HOL-P5-000900-03,al-Hol,phase 5,1,1,KZ,child,Saule,,,,female,2016-13,estimated,SY,\n",
    )
    .expect("write");
    // No server listens on this port: the import must fail before sending.
    let out = homeward(&[
        "census",
        "import",
        csv.to_str().expect("path"),
        "--camp-registry",
        "http://127.0.0.1:9",
    ]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("nothing was sent"), "{t}");
    assert!(t.contains("line 3"), "{t}");
    assert!(t.contains("line 4"), "{t}");
    assert!(t.contains("sex"), "{t}");
    assert!(t.contains("birth_date"), "{t}");
}

#[test]
fn tls_dev_ca_writes_a_ca_and_a_private_server_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("tls");
    let out = homeward(&["tls", "dev-ca", "--out", out_dir.to_str().expect("path")]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for name in ["ca.pem", "server.pem", "server-key.pem"] {
        let path = out_dir.join(name);
        assert!(path.is_file(), "{} missing", path.display());
        assert!(
            t.contains(&path.display().to_string()),
            "{name} not named: {t}"
        );
    }
    for name in ["ca.pem", "server.pem"] {
        let pem = std::fs::read_to_string(out_dir.join(name)).expect("read");
        assert!(
            pem.starts_with("-----BEGIN CERTIFICATE-----"),
            "{name}: {pem}"
        );
    }
    let key = std::fs::read_to_string(out_dir.join("server-key.pem")).expect("read");
    assert!(
        key.starts_with("-----BEGIN PRIVATE KEY-----"),
        "server-key.pem"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out_dir.join("server-key.pem"))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "the server key is private");
    }
    assert!(t.contains("localhost, 127.0.0.1"), "default hosts: {t}");
    assert!(
        t.contains("tls { cert_file: "),
        "no server config hint: {t}"
    );

    let out = homeward(&[
        "tls",
        "dev-ca",
        "--out",
        dir.path().join("lan").to_str().expect("path"),
        "--host",
        "nats.lan",
        "--host",
        "10.0.0.5",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("nats.lan, 10.0.0.5"), "{}", text(&out));

    let out = homeward(&[
        "tls",
        "dev-ca",
        "--out",
        dir.path().join("bad").to_str().expect("path"),
        "--host",
        "not a host",
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("\"not a host\""), "{}", text(&out));
    assert!(
        !dir.path().join("bad").exists(),
        "files written for a refused host"
    );
}
