//! Commands that talk to a running Homeward: send, watch, audit verify.

use homeward_testkit::local::{Local, LocalOptions};
use serde_json::{Value, json};

use crate::{homeward_async, repo, text};

#[tokio::test(flavor = "multi_thread")]
async fn send_prints_the_receipt_then_watch_and_audit_verify_see_it() {
    let local = Local::start(LocalOptions::default()).await.expect("starts");
    let gateway = local
        .spawn_gateway(local.gateway_config("gw-cli").expect("config"))
        .await
        .expect("gateway");
    let example: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join(
            "schemas/messages/camp.resident.located/examples/v1/valid/kazakh-family-al-hol.json",
        ))
        .expect("read"),
    )
    .expect("json");
    let dir = tempfile::tempdir().expect("tempdir");
    let message = dir.path().join("located.json");
    std::fs::write(
        &message,
        serde_json::to_vec(&json!({"type": example["type"], "subject": example["subject"], "data": example["data"]})).expect("json"),
    )
    .expect("write");
    let url = local.url();
    let ca = local
        .tls_ca()
        .expect("a TLS deployment")
        .display()
        .to_string();
    let keys = local.keys_dir().display().to_string();
    let args = [
        "send",
        "--as",
        "aanes.camps",
        message.to_str().expect("path"),
        "--nats",
        &url,
        "--tls-ca",
        &ca,
        "--keys",
        &keys,
    ];
    let out = homeward_async(&args).await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("\"decision\": \"accepted\""), "{t}");
    assert!(t.contains("kz.security"), "{t}");

    // The same message from a member that may not send it is refused, with
    // the code, and a distinct exit status.
    let args = [
        "send",
        "--as",
        "kz.rehab",
        message.to_str().expect("path"),
        "--nats",
        &url,
        "--tls-ca",
        &ca,
        "--keys",
        &keys,
    ];
    let out = homeward_async(&args).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not_permitted"), "{}", text(&out));

    // The operator console reads under its own, read-only NATS user.
    let operator_nkey = local
        .keys_dir()
        .join("homeward.operator.nats.nk")
        .display()
        .to_string();
    let out = homeward_async(&[
        "watch",
        "--nats",
        &url,
        "--tls-ca",
        &ca,
        "--nkey",
        &operator_nkey,
        "--from-start",
        "--limit",
        "2",
    ])
    .await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains(
            "aanes.camps → kz.mfa,kz.security  camp.resident.located  HOL-P5-000123  accepted"
        ),
        "{t}"
    );
    assert!(
        t.contains("kz.rehab → -  camp.resident.located  HOL-P5-000123  REJECTED not_permitted"),
        "{t}"
    );

    let out = homeward_async(&[
        "watch",
        "--nats",
        &url,
        "--tls-ca",
        &ca,
        "--nkey",
        &operator_nkey,
        "--from-start",
        "--rejected",
        "--limit",
        "1",
    ])
    .await;
    assert!(
        text(&out).contains("REJECTED not_permitted"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("accepted"), "{}", text(&out));

    let out = homeward_async(&[
        "audit",
        "verify",
        "--nats",
        &url,
        "--tls-ca",
        &ca,
        "--nkey",
        &operator_nkey,
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("audit chain intact: 2 records"),
        "{}",
        text(&out)
    );
    gateway.stop().await.expect("stops");
}

/// The demo policy with the deployment's own keyring, for the CLI.
fn policy_with_local_keys(local: &Local, dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo().join("deploy/policy/demo.toml"))
        .expect("demo policy")
        .replace(
            "../../dev-keys/keyring.toml",
            &local.keys_dir().join("keyring.toml").display().to_string(),
        );
    let path = dir.join("policy.toml");
    std::fs::write(&path, text).expect("write");
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn provision_is_the_administrators_and_makes_what_the_gateway_needs() {
    let local = Local::start(LocalOptions::default()).await.expect("starts");
    // What a fresh site lacks: the gateways' consumer on the work queue.
    async_nats::jetstream::new(local.client("admin").await.expect("admin"))
        .get_stream(homeward_core::subjects::SUBMIT_STREAM)
        .await
        .expect("stream")
        .delete_consumer(homeward_core::subjects::GATEWAY_CONSUMER)
        .await
        .expect("deleted");
    let err = local
        .spawn_gateway(local.gateway_config("gw-before").expect("config"))
        .await
        .expect_err("nothing to work on");
    assert!(err.to_string().contains("homeward provision"), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    let policy = policy_with_local_keys(&local, dir.path());
    let url = local.url();
    let ca = local
        .tls_ca()
        .expect("a TLS deployment")
        .display()
        .to_string();
    let nkey = |identity: &str| {
        local
            .keys_dir()
            .join(format!("{identity}.nats.nk"))
            .display()
            .to_string()
    };
    let args = |identity: &str| {
        vec![
            "provision".to_owned(),
            "--nats".to_owned(),
            url.clone(),
            "--tls-ca".to_owned(),
            ca.clone(),
            "--nkey".to_owned(),
            nkey(identity),
            "--policy".to_owned(),
            policy.display().to_string(),
        ]
    };
    // The gateway itself may not provision.
    let as_gateway = args("homeward.gateway");
    let as_gateway: Vec<&str> = as_gateway.iter().map(String::as_str).collect();
    let out = homeward_async(&as_gateway).await;
    assert!(!out.status.success(), "{}", text(&out));
    // The administrator does, and may do it again.
    let as_admin = args("admin");
    let as_admin: Vec<&str> = as_admin.iter().map(String::as_str).collect();
    for _ in 0..2 {
        let out = homeward_async(&as_admin).await;
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            text(&out).contains("provisioned 5 streams"),
            "{}",
            text(&out)
        );
    }
    let gateway = local
        .spawn_gateway(local.gateway_config("gw-after").expect("config"))
        .await
        .expect("the gateway starts once provisioned");
    gateway.stop().await.expect("stops");
}
