//! A service binary's settings with a bad file in them (issue 13, item 7):
//! the process refuses to start, naming the member and the file, before
//! any member connects or serves anything. The server it is pointed at
//! does not even exist: a start that connected the first member before
//! reading the second's files would hang there, not fail.

use std::sync::Arc;
use std::time::Duration;

use homeward_core::Policy;
use homeward_ministry::service::{self, ServiceSettings};
use homeward_testkit::{devkeys, natsd};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_bad_file_for_any_member_stops_the_start_before_any_member_starts() {
    let dir = tempfile::tempdir().expect("dir");
    let keys = dir.path().join("keys");
    let members = Policy::member_ids(&homeward_testkit::local::demo_policy_path()).expect("ids");
    devkeys::generate(&keys, &members, false).expect("keys");
    let policy = devkeys::demo_policy_with_keys(&keys, dir.path()).expect("policy");
    let token = dir.path().join("kz.mfa.api-token");
    std::fs::write(&token, format!("{}\n", "t".repeat(64))).expect("token");
    let missing = dir.path().join("uz.mfa.api-token");
    let (first, second) = (
        natsd::free_port().expect("port"),
        natsd::free_port().expect("port"),
    );
    let nowhere = natsd::free_port().expect("port");
    let text = format!(
        "policy = {policy:?}\n\
         [nats]\nurl = \"nats://127.0.0.1:{nowhere}\"\n\
         [[member]]\nid = \"kz.mfa\"\nkey_file = {kz_key:?}\nhttp = \"127.0.0.1:{first}\"\napi_token_file = {token:?}\n\
         [[member]]\nid = \"uz.mfa\"\nkey_file = {uz_key:?}\nhttp = \"127.0.0.1:{second}\"\napi_token_file = {missing:?}\n",
        policy = policy.display().to_string(),
        kz_key = keys.join("kz.mfa.nk").display().to_string(),
        uz_key = keys.join("uz.mfa.nk").display().to_string(),
        token = token.display().to_string(),
        missing = missing.display().to_string(),
    );
    let file = dir.path().join("foreign-affairs.toml");
    std::fs::write(&file, text).expect("settings");
    let settings: ServiceSettings =
        homeward_core::settings::load(Some(&file), "HOMEWARD_TEST_UNSET").expect("settings parse");

    let started = tokio::time::timeout(
        Duration::from_secs(20),
        service::run(
            settings,
            |_| Ok(Arc::new(homeward_foreign_affairs::ForeignAffairs)),
            CancellationToken::new(),
        ),
    )
    .await
    .expect("refused at once, not waiting for a server");
    let err = format!("{:#}", started.expect_err("refuses to start"));
    assert!(err.contains("uz.mfa"), "{err}");
    assert!(err.contains("uz.mfa.api-token"), "{err}");
    // Nothing was left listening.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", first)).is_err(),
        "kz.mfa's API is not up"
    );
}
