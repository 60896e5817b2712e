//! A deployment with every service and a console watching it as the
//! operator, with thresholds short enough for a test.

use std::time::Duration;

use homeward_console::ConsoleConfig;
use homeward_core::audit::{AuditRecord, parse_record};
use homeward_core::{MemberId, client};
use homeward_ministry::api::ApiToken;
use homeward_replay::api::Api;
use homeward_replay::world::World;
use homeward_testkit::local::{Local, LocalOptions};
use serde_json::Value;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub const OPERATOR: &str = "homeward.operator";

/// A Kazakh family registered after the replay, whom nobody moves on: it
/// waits at verification, and then for a foreign ministry that is gone.
pub const LATE_FAMILY: &str = "\
family_ref,person_ref,camp,section,block,tent,claimed_nationality,relationship_to_head,name_latn,name_cyrl,name_arab,aliases,sex,birth_date,birth_date_accuracy,birthplace_country,vulnerability
HOL-P5-000991,HOL-P5-000991-01,al-Hol,phase 5,9,2,KZ,head,Saule Bekovna,Сауле Бековна,ساولي بيكوفنا,Umm Timur,female,1991,approximate,KZ,
HOL-P5-000991,HOL-P5-000991-02,al-Hol,phase 5,9,2,KZ,child,Timur,Тимур,تيمور,,male,2014-06,approximate,KZ,
";

/// A Kazakh family registered after the replay, whose identity the
/// security service is asked to verify and no official confirms.
pub const UNCONFIRMED_FAMILY: &str = "\
family_ref,person_ref,camp,section,block,tent,claimed_nationality,relationship_to_head,name_latn,name_cyrl,name_arab,aliases,sex,birth_date,birth_date_accuracy,birthplace_country,vulnerability
HOL-P5-000992,HOL-P5-000992-01,al-Hol,phase 5,9,3,KZ,head,Gulnara Askarovna,Гульнара Аскаровна,غولنارا أسكاروفنا,Umm Arman,female,1990,approximate,KZ,
";

/// A console under test.
pub struct ConsoleUnderTest {
    pub url: String,
    pub token: ApiToken,
    stop: CancellationToken,
    tasks: JoinSet<anyhow::Result<()>>,
}

impl std::fmt::Debug for ConsoleUnderTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleUnderTest")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The config the tests use: stuck after 2 s without progress, down after
/// 3 s without an answer, a located case late after 1 s.
pub fn test_config() -> ConsoleConfig {
    let mut config = ConsoleConfig::new(MemberId::parse(OPERATOR).expect("operator"));
    config.poll_every = Duration::from_millis(250);
    config.stuck_after = Duration::from_secs(2);
    config.down_after = Duration::from_secs(3);
    config.live_every = Duration::from_millis(250);
    config
        .late_after
        .insert("camp.resident.located".into(), Duration::from_secs(1));
    config
}

impl ConsoleUnderTest {
    pub async fn start(local: &Local, config: ConsoleConfig) -> Self {
        let nats = client::connect(
            &local.connection_as(OPERATOR).expect("operator connection"),
            Some(&config.operator),
            "console under test",
        )
        .await
        .expect("the operator connects");
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("a port");
        let token = homeward_testkit::service::token();
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let serving = homeward_console::serve_on(
            nats,
            local.policy.clone(),
            config,
            listener,
            (&token, &[]),
            stop.clone(),
            &mut tasks,
        )
        .expect("the console starts");
        Self {
            url: format!("http://{}", serving.addr),
            token,
            stop,
            tasks,
        }
    }

    /// GET a path with the operator token.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .bearer_auth(self.token.expose())
            .send()
            .await
            .expect("the console answers")
    }

    /// GET a path with the token, as JSON.
    pub async fn json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.expect("json")
    }

    /// Polls the snapshot until `ready` holds, for at most `within`; fails
    /// with the last snapshot.
    pub async fn wait_for(
        &self,
        what: &str,
        within: Duration,
        ready: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let s = self.json("/api/snapshot").await;
            if ready(&s) {
                return s;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("{what}: not within {within:?}; the console showed {s:#}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn stop(mut self) {
        self.stop.cancel();
        while let Some(done) = self.tasks.join_next().await {
            done.expect("joins").expect("a console task ends cleanly");
        }
    }
}

/// A deployment, every service, and a console.
pub async fn world_with_console() -> (Local, World, Api, ConsoleUnderTest) {
    let local = Local::start(LocalOptions::default())
        .await
        .expect("local deployment");
    let world = World::start(&local).await.expect("services start");
    let api = homeward_replay::api::of_world(&world).expect("api");
    let console = ConsoleUnderTest::start(&local, test_config()).await;
    (local, world, api, console)
}

/// Every audit record, as the operator reads them.
pub async fn audit_records(local: &homeward_testkit::local::Local) -> Vec<AuditRecord> {
    let operator = client::connect(
        &local.connection_as(OPERATOR).expect("operator"),
        Some(&MemberId::parse(OPERATOR).expect("id")),
        "audit reader",
    )
    .await
    .expect("connects");
    homeward_core::console::read_audit(&operator)
        .await
        .expect("reads the audit stream")
        .into_iter()
        .map(|(_, bytes)| parse_record(&bytes).expect("an audit record"))
        .collect()
}
