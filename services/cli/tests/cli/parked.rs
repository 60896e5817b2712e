//! `homeward parked list` and `redrive` against a foreign ministry's
//! service whose stored case became unreadable: its delivery is parked,
//! listed, redriven in vain, then redriven once the case is repaired.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use homeward_core::envelope::new_id;
use homeward_core::{MemberId, subjects};
use homeward_ministry::api::{Access, ApiToken};
use homeward_ministry::api_client::{ApiClient, Endpoint};
use homeward_ministry::parked::Retry;
use homeward_ministry::runtime::Options;
use homeward_ministry::service::{self, Setup};
use homeward_testkit::local::{Local, LocalOptions};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{homeward_async, text};

const CAMPS: &str = "aanes.camps";
const MFA: &str = "kz.mfa";
const WAIT: Duration = Duration::from_secs(60);

/// Starts `member`'s service with `role`, retrying a failing delivery three
/// times 20 ms apart; its URL and token.
async fn start(
    local: &Local,
    member: &str,
    role: Arc<dyn homeward_ministry::Role>,
    stop: &CancellationToken,
    tasks: &mut JoinSet<anyhow::Result<()>>,
) -> Endpoint {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let token = ApiToken::new(format!("{}{}", new_id(), new_id())).expect("a token");
    let setup = Setup {
        client: local.member(member).await.expect("member client"),
        role,
        schemas: local.schemas.clone(),
        options: Options {
            retry: Retry::new(3, Duration::from_millis(20), Duration::from_millis(20))
                .expect("a retry"),
            ..Options::default()
        },
    };
    let access = Access::new(&token, addr, &[]).expect("access");
    let running = service::start_with(setup, listener, access, stop.clone(), tasks)
        .await
        .expect("the service starts");
    assert!(running.health.failure().is_none(), "{member} failed");
    Endpoint::new(&format!("http://{addr}"), token)
}

const CENSUS: &str = "family_ref,person_ref,camp,section,block,tent,claimed_nationality,relationship_to_head,name_latn,name_cyrl,name_arab,aliases,sex,birth_date,birth_date_accuracy,birthplace_country,vulnerability
HOL-P5-000801,HOL-P5-000801-01,al-Hol,phase 5,9,31,KZ,head,Aigerim Testova,Айгерим Тестова,,,female,1988-02-17,exact,KZ,
HOL-P5-000802,HOL-P5-000802-01,al-Hol,phase 5,9,32,KZ,head,Dana Testova,Дана Тестова,,,female,1990-05-02,exact,KZ,
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_delivery_is_listed_and_redriven_with_the_command() {
    let local = Local::start(LocalOptions::default()).await.expect("starts");
    let gateway = local
        .spawn_gateway(local.gateway_config("gw-parked").expect("config"))
        .await
        .expect("gateway");
    let stop = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let camps = start(
        &local,
        CAMPS,
        Arc::new(homeward_camp_registry::CampRegistry),
        &stop,
        &mut tasks,
    )
    .await;
    let mfa = start(
        &local,
        MFA,
        Arc::new(homeward_foreign_affairs::ForeignAffairs),
        &stop,
        &mut tasks,
    )
    .await;
    let api = ApiClient::new([(CAMPS.to_owned(), camps), (MFA.to_owned(), mfa.clone())])
        .expect("api client");
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("kz.mfa.api-token");
    std::fs::write(&token_file, mfa.token.expose()).expect("write");
    let parked = |args: &[&str]| {
        let mut all = vec!["parked".to_owned()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        all.extend([
            "--api".to_owned(),
            mfa.url.clone(),
            "--api-token-file".to_owned(),
            token_file.display().to_string(),
        ]);
        async move {
            let args: Vec<&str> = all.iter().map(String::as_str).collect();
            homeward_async(&args).await
        }
    };

    // The foreign ministry's stored case of the second family does not
    // parse (a bad restore, say): its delivery cannot be applied.
    let kz_mfa = local.member(MFA).await.expect("member client");
    let bucket = kz_mfa
        .jetstream()
        .get_key_value(subjects::case_bucket(&MemberId::parse(MFA).expect("id")))
        .await
        .expect("the case bucket");
    bucket
        .put("HOL-P5-000802", "not a case".into())
        .await
        .expect("written");
    let admin = local.client("parked-admin").await.expect("admin");
    let mut terminated = admin
        .subscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.HW_DELIVER.deliver_kz_mfa")
        .await
        .expect("subscribes");
    admin.flush().await.expect("flush");
    api.command(
        CAMPS,
        "census?registeredOn=2019-04-15",
        CENSUS.as_bytes().to_vec(),
    )
    .await
    .expect("census imported");
    let stage_is = |stage: &'static str| move |c: &Value| c["stage"] == stage;
    api.wait_case(
        MFA,
        "HOL-P5-000801",
        "the located family",
        stage_is("verification-requested"),
    )
    .await
    .expect("the first family goes on");
    let advisory = tokio::time::timeout(WAIT, terminated.next())
        .await
        .expect("parked in time")
        .expect("the subscription is open");
    let advisory: Value = serde_json::from_slice(&advisory.payload).expect("JSON");
    let reason = advisory["reason"].as_str().expect("a reason");
    assert!(
        reason.starts_with("parked corrupt_case type=camp.resident.located "),
        "{reason}"
    );
    let sequence = advisory["stream_seq"].to_string();

    let out = parked(&["list"]).await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.starts_with(&format!("{sequence} camp.resident.located "))
            && t.contains(
                "from aanes.camps case HOL-P5-000802 failure corrupt_case after 3 attempts"
            ),
        "{t}"
    );
    assert_eq!(t.lines().count(), 1, "{t}");
    assert!(!t.contains("Testova") && !t.contains("Тестова"), "{t}");

    // Redriven before the repair: it fails again and stays parked.
    let out = parked(&["redrive", &sequence]).await;
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("409") && t.contains("corrupt_case"), "{t}");

    // The repair, then the redrive.
    bucket.purge("HOL-P5-000802").await.expect("purged");
    let out = parked(&["redrive", &sequence]).await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.starts_with(&format!("{sequence} ")) && t.trim_end().ends_with(" applied"),
        "{t}"
    );
    api.wait_case(
        MFA,
        "HOL-P5-000802",
        "the redriven family",
        stage_is("verification-requested"),
    )
    .await
    .expect("the second family goes on");
    let out = parked(&["list"]).await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert_eq!(t.trim(), "no parked deliveries");
    // Nothing left to redrive.
    let out = parked(&["redrive", &sequence]).await;
    let t = text(&out);
    assert!(!out.status.success() && t.contains("404"), "{t}");

    stop.cancel();
    while let Some(r) = tasks.join_next().await {
        r.expect("a task of a service panicked")
            .expect("a task of a service failed");
    }
    gateway.stop().await.expect("the gateway stops");
}
