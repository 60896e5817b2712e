//! Commands that talk to a running Homeward: send, watch, audit verify.

use homeward_gateway::local::{Local, LocalOptions};
use serde_json::{Value, json};

use crate::{repo, text};

async fn run(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_homeward"))
        .args(args)
        .output()
        .await
        .expect("homeward runs")
}

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
    let out = run(&args).await;
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
    let out = run(&args).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not_permitted"), "{}", text(&out));

    // The operator console reads under its own, read-only NATS user.
    let operator_nkey = local
        .keys_dir()
        .join("homeward.operator.nats.nk")
        .display()
        .to_string();
    let out = run(&[
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

    let out = run(&[
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

    let out = run(&[
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
