//! A local deployment with a camp administration and a foreign ministry
//! whose role fails for one case until the test fixes it; synthetic
//! families with names made for this run; and the operator, following the
//! advisories of the foreign ministry's delivery consumer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use homeward_core::envelope::{Envelope, new_id};
use homeward_core::{MemberId, subjects};
use homeward_ministry::api_client::ApiClient;
use homeward_ministry::parked::Retry;
use homeward_ministry::runtime::Options;
use homeward_ministry::{ActionError, Case, Ctx, Params, Refusal, Role, Transition};
use homeward_testkit::local::Local;
use homeward_testkit::service::{self, ServiceUnderTest};
use serde_json::Value;

pub const CAMPS: &str = "aanes.camps";
pub const MFA: &str = "kz.mfa";
pub const OPERATOR: &str = "homeward.operator";

/// How long a test waits for one thing to show.
pub const WAIT: Duration = Duration::from_secs(60);

/// Three deliveries, 20 ms then 40 ms apart, before a delivery is parked:
/// the shipped settings, shortened.
pub fn retry() -> Retry {
    Retry::new(3, Duration::from_millis(20), Duration::from_millis(100)).expect("a retry")
}

/// The foreign ministry's role with a bug for one case: it panics on
/// every message about `case` until [`Failing::fix`]. It counts the
/// messages about `case` it was given.
pub struct Failing {
    inner: homeward_foreign_affairs::ForeignAffairs,
    case: String,
    broken: AtomicBool,
    calls: AtomicUsize,
}

impl Failing {
    pub fn new(case: &str) -> Arc<Self> {
        Arc::new(Self {
            inner: homeward_foreign_affairs::ForeignAffairs,
            case: case.to_owned(),
            broken: AtomicBool::new(true),
            calls: AtomicUsize::new(0),
        })
    }

    /// The fix: the role handles the case as every other.
    pub fn fix(&self) {
        self.broken.store(false, Ordering::SeqCst);
    }

    /// How many messages about the case the role was given.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Role for Failing {
    fn on_message(
        &self,
        ctx: &Ctx<'_>,
        case: Option<Case>,
        message: &Envelope,
    ) -> Result<Option<Transition>, Refusal> {
        if message.data().get("caseRef").and_then(Value::as_str) == Some(self.case.as_str()) {
            self.calls.fetch_add(1, Ordering::SeqCst);
            assert!(
                !self.broken.load(Ordering::SeqCst),
                "a bug for case {}",
                self.case
            );
        }
        self.inner.on_message(ctx, case, message)
    }

    fn on_action(
        &self,
        ctx: &Ctx<'_>,
        case: Option<Case>,
        action: &str,
        body: &Value,
    ) -> Result<Transition, ActionError> {
        self.inner.on_action(ctx, case, action, body)
    }

    fn on_command(
        &self,
        ctx: &Ctx<'_>,
        command: &str,
        params: &Params,
        body: &[u8],
    ) -> Result<Vec<Transition>, ActionError> {
        self.inner.on_command(ctx, command, params, body)
    }

    fn view(&self, ctx: &Ctx<'_>, view: &str, cases: &[Case]) -> Result<Value, ActionError> {
        self.inner.view(ctx, view, cases)
    }
}

/// A local deployment with a gateway.
pub async fn deployment() -> service::Deployment {
    service::Deployment::start("gw-poison").await
}

/// One member's service, as `service::start_with` runs it, on a free port,
/// with the shortened [`retry`].
pub type Service = ServiceUnderTest;

/// A member's service with `role` and the shortened [`retry`].
pub async fn start(local: &Local, member: &'static str, role: Arc<dyn Role>) -> Service {
    let options = Options {
        retry: retry(),
        ..Options::default()
    };
    ServiceUnderTest::start_with(local, member, role, service::token(), options).await
}

pub use service::api;

/// `n` letters of `alphabet`, from the random part of a fresh ULID.
fn random_letters(alphabet: &[char], n: usize) -> String {
    const CROCKFORD: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    new_id()[10..]
        .chars()
        .take(n)
        .map(|c| alphabet[CROCKFORD.find(c).unwrap_or(0) % alphabet.len()])
        .collect()
}

/// A census of Kazakh families in al-Hol, a mother and a child each, with
/// names made for this run; and the names, which no operator may see.
pub fn census(case_refs: &[&str]) -> (String, Vec<String>) {
    let latin: Vec<char> = ('a'..='z').collect();
    let cyrillic: Vec<char> = ('а'..='я').collect();
    let mut csv = String::from(
        "family_ref,person_ref,camp,section,block,tent,claimed_nationality,relationship_to_head,name_latn,name_cyrl,name_arab,aliases,sex,birth_date,birth_date_accuracy,birthplace_country,vulnerability\n",
    );
    let mut names = Vec::new();
    for case_ref in case_refs {
        let family = format!("Q{}", random_letters(&latin, 9));
        let cyrl = format!("Ж{}", random_letters(&cyrillic, 9));
        for (i, (relationship, sex, birth_date)) in [
            ("head", "female", "1988-02-17"),
            ("child", "male", "2012-09-03"),
        ]
        .iter()
        .enumerate()
        {
            csv.push_str(&format!(
                "{case_ref},{case_ref}-{:02},al-Hol,phase 5,9,31,KZ,{relationship},Aigerim {family},Айгерим {cyrl},,,{sex},{birth_date},exact,KZ,\n",
                i + 1,
            ));
        }
        names.push(family);
        names.push(cyrl);
    }
    (csv, names)
}

/// The camp administration imports a census: the foreign ministry opens
/// each family's case.
pub async fn locate(api: &ApiClient, csv: &str) {
    api.command(
        CAMPS,
        "census?registeredOn=2019-04-15",
        csv.as_bytes().to_vec(),
    )
    .await
    .expect("census imported");
}

/// Whether a case's stage is `stage`.
pub fn stage_is(stage: &'static str) -> impl Fn(&Value) -> bool {
    move |c| c.get("stage").and_then(Value::as_str) == Some(stage)
}

/// The operator, following the terminations of the foreign ministry's
/// deliveries as the server announces them, and told of every
/// permissions violation on its connection.
pub struct Operator {
    pub client: async_nats::Client,
    terminated: async_nats::Subscriber,
    violations: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Operator {
    pub async fn connect(local: &Local) -> Self {
        let (tx, violations) = tokio::sync::mpsc::unbounded_channel();
        let id = MemberId::parse(OPERATOR).expect("the operator's id");
        let mut options = async_nats::ConnectOptions::with_nkey(
            local.nats_seed(OPERATOR).expect("the operator's NATS key"),
        )
        .custom_inbox_prefix(subjects::inbox_prefix(&id))
        .event_callback(move |event| {
            let tx = tx.clone();
            async move {
                if let async_nats::Event::ServerError(e) = event {
                    let _ = tx.send(e.to_string());
                }
            }
        });
        if let Some(ca) = local.tls_ca() {
            options = options.add_root_certificates(ca).require_tls(true);
        }
        let client = options
            .connect(local.url())
            .await
            .expect("the operator connects");
        let subject = format!(
            "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.{}.{}",
            subjects::DELIVER_STREAM,
            subjects::delivery_consumer(&MemberId::parse(MFA).expect("id"))
        );
        let terminated = client.subscribe(subject).await.expect("subscribes");
        client.flush().await.expect("flushes");
        Self {
            client,
            terminated,
            violations,
        }
    }

    /// The next termination advisory, as its raw bytes and parsed.
    pub async fn next_terminated(&mut self) -> (Vec<u8>, Value) {
        let message = tokio::time::timeout(WAIT, self.terminated.next())
            .await
            .expect("a termination advisory in time")
            .expect("the subscription is open");
        let raw = message.payload.to_vec();
        let advisory = serde_json::from_slice(&raw).expect("an advisory is JSON");
        (raw, advisory)
    }

    /// Asks for the bytes of a delivery by its sequence, as the operator
    /// may not: the server refuses it with a permissions violation, and
    /// the request has no answer.
    pub async fn cannot_read_delivery(&mut self, sequence: u64) {
        let subject = format!("$HW.API.STREAM.MSG.GET.{}", subjects::DELIVER_STREAM);
        let body = format!(r#"{{"seq":{sequence}}}"#);
        let mut asked = std::pin::pin!(self.client.request(subject.clone(), body.into()));
        tokio::select! {
            answer = &mut asked => panic!("the operator's read of delivery {sequence} was answered: {answer:?}"),
            violation = tokio::time::timeout(WAIT, self.violations.recv()) => {
                let violation = violation
                    .expect("a permissions violation in time")
                    .expect("the connection is open");
                assert!(
                    violation.to_lowercase().contains("permissions violation")
                        && violation.contains(&subject),
                    "{violation}"
                );
            }
        }
        self.client.flush().await.expect("flush");
        assert!(
            futures::FutureExt::now_or_never(asked).is_none(),
            "the refused read was answered"
        );
    }
}
