//! A world with every service, and a small synthetic family.

use homeward_replay::api::Api;
use homeward_replay::replay::{FamilyPlan, PersonPlan};
use homeward_replay::world::World;
use homeward_testkit::local::{Local, LocalOptions};

pub async fn world() -> (Local, World, Api) {
    world_on(1).await
}

/// A world on `nodes` nats-servers: one, or a JetStream cluster with every
/// stream replicated three times.
pub async fn world_on(nodes: usize) -> (Local, World, Api) {
    let local = Local::start(LocalOptions {
        nodes,
        ..Default::default()
    })
    .await
    .expect("local deployment");
    let world = World::start(&local).await.expect("services start");
    let api = homeward_replay::api::of_world(&world).expect("api");
    (local, world, api)
}

/// A Kazakh mother and three children in al-Hol, the youngest born in Syria.
pub const CENSUS: &str = "\
family_ref,person_ref,camp,section,block,tent,claimed_nationality,relationship_to_head,name_latn,name_cyrl,name_arab,aliases,sex,birth_date,birth_date_accuracy,birthplace_country,vulnerability
HOL-P5-000777,HOL-P5-000777-01,al-Hol,phase 5,12,4,KZ,head,Aigerim Serikovna,Айгерим Сериковна,أيغيريم سيريكوفنا,Umm Ali,female,1993,approximate,KZ,
HOL-P5-000777,HOL-P5-000777-02,al-Hol,phase 5,12,4,KZ,child,Ali,Али,علي,,male,2012-03,approximate,KZ,
HOL-P5-000777,HOL-P5-000777-03,al-Hol,phase 5,12,4,KZ,child,Zarina,Зарина,زارينا,,female,2015,estimated,SY,
HOL-P5-000777,HOL-P5-000777-04,al-Hol,phase 5,12,4,KZ,child,Yusuf,Юсуф,يوسف,,male,2017-08-02,exact,SY,medical
";

pub fn plan() -> FamilyPlan {
    let person = |n: u32, child: bool, female: bool, syria: bool| PersonPlan {
        person_ref: format!("HOL-P5-000777-{n:02}"),
        child,
        female,
        detained: false,
        needs_passport: syria,
    };
    FamilyPlan {
        case_ref: "HOL-P5-000777".into(),
        nationality: "KZ".into(),
        camp_authority: "aanes.camps".into(),
        operation_id: "KZ-ZHUSAN-2019".into(),
        round: 2,
        carrier: None,
        persons: vec![
            person(1, false, true, false),
            person(2, true, false, false),
            person(3, true, true, true),
            person(4, true, false, true),
        ],
    }
}

/// Two Uzbek families in al-Hol, each a mother and a child.
pub fn uzbek_census() -> String {
    let mut csv = String::from(CENSUS);
    for (family, mother, child) in [
        ("HOL-P4-000412", "Malika", "Sardor"),
        ("HOL-P4-000413", "Nodira", "Jasur"),
    ] {
        csv.push_str(&format!(
            "{family},{family}-01,al-Hol,phase 4,3,9,UZ,head,{mother},,,,female,1990,approximate,UZ,\n\
             {family},{family}-02,al-Hol,phase 4,3,9,UZ,child,{child},,,,male,2016,estimated,SY,\n"
        ));
    }
    csv
}

pub fn uzbek_plan(family: &str) -> FamilyPlan {
    let person = |n: u32, child: bool| PersonPlan {
        person_ref: format!("{family}-{n:02}"),
        child,
        female: !child,
        detained: false,
        needs_passport: child,
    };
    FamilyPlan {
        case_ref: family.into(),
        nationality: "UZ".into(),
        camp_authority: "aanes.camps".into(),
        operation_id: "UZ-MEHR-2019".into(),
        round: 1,
        carrier: None,
        persons: vec![person(1, false), person(2, true)],
    }
}

/// Each delivery held once; each submission recorded once, on an audit
/// chain that verifies ([`homeward_testkit::invariants`]).
pub async fn streams_intact(js: &async_nats::jetstream::Context) {
    use homeward_testkit::invariants;
    invariants::deliveries_held_once(js)
        .await
        .expect("each delivery held once");
    invariants::each_submission_recorded_once(js)
        .await
        .expect("each submission recorded once");
}

/// Every message in a stream, as (subject, envelope), read in order.
pub async fn read_all(
    js: &async_nats::jetstream::Context,
    stream: &str,
) -> Vec<(String, homeward_core::Envelope)> {
    let last = js
        .get_stream(stream)
        .await
        .expect("stream")
        .get_info()
        .await
        .expect("info")
        .state
        .last_sequence;
    let out = read_all_until(js, stream, |all| all.len() as u64 >= last).await;
    assert_eq!(out.len() as u64, last, "the stream kept coming");
    out
}

/// Reads a stream from the start, again and again, until `done` holds for
/// everything read, or 60 s pass.
pub async fn read_all_until(
    js: &async_nats::jetstream::Context,
    stream: &str,
    done: impl Fn(&[(String, homeward_core::Envelope)]) -> bool,
) -> Vec<(String, homeward_core::Envelope)> {
    use futures::StreamExt;
    let stream = js.get_stream(stream).await.expect("stream");
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await
        .expect("consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done(&out) {
        let Ok(next) = tokio::time::timeout_at(deadline, messages.next()).await else {
            // The caller's assertions say what is missing.
            return out;
        };
        let m = next.expect("open").expect("message");
        let envelope =
            homeward_core::Envelope::parse(&m.payload).expect("a delivered envelope parses");
        out.push((m.subject.to_string(), envelope));
    }
    out
}

/// One member's service alone on a deployment, beside a gateway, with its
/// delivery loop and the retry of held messages as tasks: for tests that
/// set the service's own limits, or watch one service closely.
pub struct Lone {
    pub ministry: std::sync::Arc<homeward_ministry::Ministry>,
    stop: tokio_util::sync::CancellationToken,
    tasks: tokio::task::JoinSet<()>,
    gateway: homeward_testkit::local::GatewayTask,
}

impl Lone {
    pub async fn start(
        local: &Local,
        member: &str,
        role: std::sync::Arc<dyn homeward_ministry::Role>,
        limits: homeward_ministry::verify::AgeLimits,
    ) -> Self {
        let gateway = local
            .spawn_gateway(local.gateway_config("gw-lone").expect("config"))
            .await
            .expect("gateway");
        let client = local.member(member).await.expect("member");
        let ministry =
            homeward_ministry::Ministry::start_with(client, role, local.schemas.clone(), limits)
                .await
                .expect("service starts");
        let stop = tokio_util::sync::CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        let (deliveries, until) = (ministry.clone(), stop.clone());
        tasks.spawn(async move {
            deliveries
                .run_deliveries(until)
                .await
                .expect("the delivery loop runs until stopped");
        });
        let (held, until) = (ministry.clone(), stop.clone());
        tasks.spawn(async move { held.retry_held(until).await });
        Self {
            ministry,
            stop,
            tasks,
            gateway,
        }
    }

    pub async fn stop(mut self) {
        self.stop.cancel();
        while let Some(r) = self.tasks.join_next().await {
            r.expect("a task of the service panicked");
        }
        self.gateway.stop().await.expect("the gateway stops");
    }
}

/// Signs `data` of `message_type` as `sender` with its development key, at
/// `time`, about the case `data.caseRef` names.
pub fn signed_as(
    local: &Local,
    sender: &str,
    message_type: &str,
    data: serde_json::Value,
    time: time::OffsetDateTime,
) -> homeward_core::Envelope {
    let mut builder = homeward_core::EnvelopeBuilder::new(
        message_type,
        &homeward_core::schema::message_schema_id(message_type, 1),
        data.clone(),
    )
    .time(time);
    if let Some(case) = data["caseRef"].as_str() {
        builder = builder.subject(case);
    }
    builder
        .sign(
            &homeward_core::MemberId::parse(sender).expect("member"),
            &local.key(sender).expect("key"),
        )
        .expect("signs")
}

/// Places `envelope` on `member`'s delivery subject as the administrator
/// would, or a gateway that decided wrongly: past every check of the
/// gateway's.
pub async fn deliver_directly(local: &Local, member: &str, envelope: &homeward_core::Envelope) {
    let js = async_nats::jetstream::new(local.client("admin").await.expect("admin"));
    let subject = homeward_core::subjects::deliver(
        &homeward_core::MemberId::parse(member).expect("member"),
        envelope.message_type(),
    );
    js.publish(subject, envelope.to_bytes().into())
        .await
        .expect("published")
        .await
        .expect("stored");
}

/// The case of the published example of a located family.
pub const EXAMPLE_CASE: &str = "HOL-P5-000123";

/// The data of the published example of a located family: Kazakh, in
/// al-Hol, case [`EXAMPLE_CASE`].
pub fn example_located() -> serde_json::Value {
    let (_, text) = homeward_core::schema::embedded_examples(
        homeward_core::message_types::CAMP_RESIDENT_LOCATED,
    )
    .into_iter()
    .find(|(name, _)| name.contains("kazakh-family-al-hol"))
    .expect("the example");
    let example: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(example["data"]["caseRef"], EXAMPLE_CASE);
    example["data"].clone()
}
