//! A local deployment with the services of a camp administration, a
//! foreign ministry and a security service, each with its HTTP API; a
//! synthetic family with names made for this run; and a client of the
//! event feed that reads it over real HTTP, as a ministry's own systems
//! would.

use std::sync::Arc;
use std::time::Duration;

use homeward_core::envelope::new_id;
use homeward_ministry::Role;
use homeward_ministry::api::ApiToken;
use homeward_ministry::api_client::ApiClient;
use homeward_ministry::runtime::Options;
use homeward_testkit::local::Local;
use homeward_testkit::service::{self, ServiceUnderTest};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub const CAMPS: &str = "aanes.camps";
pub const MFA: &str = "kz.mfa";
pub const SECURITY: &str = "kz.security";

/// How long a test waits for one thing to show.
pub const WAIT: Duration = Duration::from_secs(60);

/// A local deployment with a gateway.
pub async fn deployment() -> service::Deployment {
    service::Deployment::start("gw-events").await
}

fn role_for(member: &str) -> Arc<dyn Role> {
    match member {
        CAMPS => Arc::new(homeward_camp_registry::CampRegistry),
        MFA => Arc::new(homeward_foreign_affairs::ForeignAffairs),
        SECURITY => Arc::new(homeward_security::Security),
        other => panic!("no role for {other} in these tests"),
    }
}

pub use service::token;

/// One member's service with its role, on a free port.
pub type Service = ServiceUnderTest;

/// A member's service with its role and `token`.
pub async fn start(local: &Local, member: &'static str, token: ApiToken) -> Service {
    ServiceUnderTest::start_with(local, member, role_for(member), token, Options::default()).await
}

/// A client of the services' APIs, each with its token.
pub fn api(services: &[&Service]) -> ApiClient {
    service::api(services)
}

/// A Kazakh family in al-Hol, names in three scripts and aliases made for
/// this run, with exact birth dates; and what must never appear in an
/// event.
pub struct Family {
    pub case_ref: String,
    pub census: String,
    /// (label, text) of every name, alias, random name part and birth
    /// date.
    pub needles: Vec<(String, String)>,
}

/// `n` letters of `alphabet`, from the random part of a fresh ULID.
fn random_letters(alphabet: &[char], n: usize) -> String {
    const CROCKFORD: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    new_id()[10..]
        .chars()
        .take(n)
        .map(|c| alphabet[CROCKFORD.find(c).unwrap_or(0) % alphabet.len()])
        .collect()
}

pub fn family(case_ref: &str) -> Family {
    let latin: Vec<char> = ('a'..='z').collect();
    let cyrillic: Vec<char> = ('а'..='я').collect();
    let arabic: Vec<char> = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي".chars().collect();
    let latn = format!("Q{}", random_letters(&latin, 9));
    let cyrl = format!("Ж{}", random_letters(&cyrillic, 9));
    let arab = random_letters(&arabic, 8);
    let alias = format!("X{}", random_letters(&latin, 8));
    let persons = [
        (
            "head",
            "female",
            "KZ",
            ["Aigerim", "Айгерим", "أيغيريم"],
            "1987-11-23",
        ),
        (
            "child",
            "male",
            "KZ",
            ["Alisher", "Алишер", "أليشر"],
            "2009-06-14",
        ),
        (
            "child",
            "female",
            "SY",
            ["Zarina", "Зарина", "زارينا"],
            "2013-01-30",
        ),
    ];
    let mut census = String::from(
        "family_ref,person_ref,camp,section,block,tent,claimed_nationality,relationship_to_head,name_latn,name_cyrl,name_arab,aliases,sex,birth_date,birth_date_accuracy,birthplace_country,vulnerability\n",
    );
    let mut needles = Vec::new();
    for (i, (relationship, sex, birthplace, given, birth_date)) in persons.iter().enumerate() {
        let names = [
            format!("{} {latn}", given[0]),
            format!("{} {cyrl}", given[1]),
            format!("{} {arab}", given[2]),
        ];
        let aliases = if i == 0 {
            format!("Umm {alias}")
        } else {
            String::new()
        };
        census.push_str(&format!(
            "{case_ref},{case_ref}-{:02},al-Hol,phase 5,9,31,KZ,{relationship},{},{},{},{aliases},{sex},{birth_date},exact,{birthplace},\n",
            i + 1,
            names[0],
            names[1],
            names[2],
        ));
        for name in names {
            needles.push((format!("name {name:?}"), name));
        }
        needles.push((format!("birth date {birth_date}"), (*birth_date).to_owned()));
        needles.push((
            format!("birth month {}", &birth_date[..7]),
            birth_date[..7].to_owned(),
        ));
    }
    for part in [&latn, &cyrl, &arab, &alias] {
        needles.push((format!("name part {part:?}"), part.clone()));
    }
    Family {
        case_ref: case_ref.to_owned(),
        census,
        needles,
    }
}

/// Whether a case's stage is `stage`.
pub fn stage_is(stage: &'static str) -> impl Fn(&Value) -> bool {
    move |c| c.get("stage").and_then(Value::as_str) == Some(stage)
}

/// The camp administration imports the family's census: the foreign
/// ministry and the security service open its case.
pub async fn locate(api: &ApiClient, family: &Family) {
    api.command(
        CAMPS,
        "census?registeredOn=2019-04-15",
        family.census.as_bytes().to_vec(),
    )
    .await
    .expect("census imported");
}

/// The security service confirms every identity, once the foreign
/// ministry asked.
pub async fn verify(api: &ApiClient, case_ref: &str) {
    api.wait_case(
        SECURITY,
        case_ref,
        "the verification request",
        stage_is("verification-requested"),
    )
    .await
    .expect("kz.security was asked to verify");
    api.act(
        SECURITY,
        case_ref,
        "verify",
        &json!({"outcome": "confirmed"}),
    )
    .await
    .expect("verified");
}

/// The foreign ministry requests the family's repatriation, once their
/// identities are confirmed.
pub async fn request(api: &ApiClient, case_ref: &str) {
    api.wait_case(MFA, case_ref, "the verification", stage_is("verified"))
        .await
        .expect("kz.mfa has the verification");
    api.act(
        MFA,
        case_ref,
        "request-repatriation",
        &json!({"operationId": "KZ-ZHUSAN-2019", "round": 2}),
    )
    .await
    .expect("requested");
}

/// One server-sent event as a client receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub id: u64,
    pub kind: String,
    pub data: Value,
    /// The event's lines as they came, for comparing feeds byte for byte.
    pub text: String,
}

/// What a feed sends: an event, or a comment (the keep-alive).
#[derive(Debug)]
pub enum Frame {
    Event(Received),
    Comment,
}

/// A client following one service's event feed over HTTP.
pub struct Feed {
    response: reqwest::Response,
    buffer: Vec<u8>,
    /// Every byte received, for scanning.
    pub raw: Vec<u8>,
}

/// `GET /events` at `service`, with `headers` and `query`, as sent.
pub async fn get_events(
    service: &Service,
    query: &str,
    headers: &[(&str, &str)],
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{}/events{query}", service.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("GET /events")
}

impl Feed {
    /// Follows the feed from `Last-Event-ID: last_event_id`, or from
    /// `query` (`?after=N`, or nothing: from the start).
    pub async fn open(service: &Service, last_event_id: Option<u64>, query: &str) -> Self {
        let id = last_event_id.map(|id| id.to_string());
        let headers: Vec<(&str, &str)> = id
            .as_deref()
            .map(|id| ("last-event-id", id))
            .into_iter()
            .collect();
        let response = get_events(service, query, &headers, Some(service.token.expose())).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "{:?}",
            response.headers()
        );
        Self {
            response,
            buffer: Vec::new(),
            raw: Vec::new(),
        }
    }

    /// The next frame; `None` when the service ended the stream.
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let text = String::from_utf8(block).expect("UTF-8");
                return Some(parse(text.trim_end_matches('\n')));
            }
            let chunk = tokio::time::timeout(WAIT, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("nothing on the feed within {WAIT:?}"))
                .expect("the feed reads");
            let chunk = chunk?;
            self.raw.extend_from_slice(&chunk);
            self.buffer.extend_from_slice(&chunk);
        }
    }

    /// The events up to and including the first for which `last` holds,
    /// keep-alive comments left out.
    pub async fn until(&mut self, what: &str, last: impl Fn(&Received) -> bool) -> Vec<Received> {
        let mut out = Vec::new();
        loop {
            match self.next().await {
                Some(Frame::Event(e)) => {
                    let done = last(&e);
                    out.push(e);
                    if done {
                        return out;
                    }
                }
                Some(Frame::Comment) => {}
                None => panic!("the feed ended before {what}; received {out:#?}"),
            }
        }
    }
}

fn parse(text: &str) -> Frame {
    let (mut id, mut kind, mut data) = (None, None, None);
    for line in text.lines() {
        if line.starts_with(':') {
            // A comment: the keep-alive.
        } else if let Some((field, value)) = line.split_once(':') {
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => id = Some(value.parse().expect("a numeric id")),
                "event" => kind = Some(value.to_owned()),
                "data" => data = Some(serde_json::from_str(value).expect("JSON data")),
                other => panic!("an unexpected field {other:?} in {text:?}"),
            }
        }
    }
    match (id, kind, data) {
        (Some(id), Some(kind), Some(data)) => Frame::Event(Received {
            id,
            kind,
            data,
            text: text.to_owned(),
        }),
        (None, None, None) => Frame::Comment,
        _ => panic!("an event without its id, kind or data: {text:?}"),
    }
}

/// Whether `e` reports that the member sent a message of `message_type`.
pub fn sent(message_type: &'static str) -> impl Fn(&Received) -> bool {
    move |e| e.kind == "message.sent" && e.data["messageType"] == message_type
}

/// The ids of `events`, in order.
pub fn ids(events: &[Received]) -> Vec<u64> {
    events.iter().map(|e| e.id).collect()
}

/// Asserts that `pieces`, read one after the other, are exactly `whole`:
/// nothing missed, nothing twice, in order.
pub fn assert_exactly(pieces: &[&[Received]], whole: &[Received]) {
    let joined: Vec<Received> = pieces.iter().flat_map(|p| p.iter().cloned()).collect();
    assert_eq!(ids(&joined), ids(whole), "the ids differ");
    assert_eq!(joined, whole, "the events differ");
    assert!(
        whole.windows(2).all(|w| w[0].id < w[1].id),
        "the ids do not grow: {:?}",
        ids(whole)
    );
}
