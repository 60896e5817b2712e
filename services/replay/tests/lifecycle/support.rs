//! A world with every service, and a small synthetic family.

use homeward_replay::api::Api;
use homeward_replay::replay::{FamilyPlan, PersonPlan};
use homeward_replay::world::World;
use homeward_testkit::local::{Local, LocalOptions};

pub async fn world() -> (Local, World, Api) {
    let local = Local::start(LocalOptions::default())
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
