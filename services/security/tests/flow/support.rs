//! A local deployment with the services of a camp administration, a
//! foreign ministry and a security service holding a civil registry
//! extract; a synthetic family with names made for this run, and the
//! registry's records of them among decoys.

use std::sync::Arc;
use std::time::Duration;

use homeward_core::envelope::new_id;
use homeward_matching::{OfficialName, RegistryRecord, RegistrySex};
use homeward_ministry::api_client::ApiClient;
use homeward_security::{Registry, SecurityService};
use homeward_testkit::local::Local;
use homeward_testkit::service::{self, ServiceUnderTest};
use serde_json::Value;

pub const CAMPS: &str = "aanes.camps";
pub const MFA: &str = "kz.mfa";
pub const SECURITY: &str = "kz.security";

/// How long a test waits for one thing to show.
pub const WAIT: Duration = Duration::from_secs(60);

/// The score threshold that gives 99 % recall (BENCHMARKS.md,
/// "Matching"), in bits.
pub const THRESHOLD_99: f64 = 19.7;

/// A local deployment with a gateway.
pub async fn deployment() -> service::Deployment {
    service::Deployment::start("gw-security").await
}

/// One member's service, on a free port.
pub type Service = ServiceUnderTest;

/// The camp administration, the foreign ministry, and the security
/// service with `registry` (or without one).
pub async fn three(local: &Local, registry: Option<Registry>) -> [Service; 3] {
    [
        Service::start(local, CAMPS, Arc::new(homeward_camp_registry::CampRegistry)).await,
        Service::start(
            local,
            MFA,
            Arc::new(homeward_foreign_affairs::ForeignAffairs),
        )
        .await,
        Service::start(local, SECURITY, Arc::new(SecurityService::new(registry))).await,
    ]
}

/// A client of the services' APIs, each with its token.
pub fn api(services: &[Service]) -> ApiClient {
    service::api(&services.iter().collect::<Vec<_>>())
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

/// A Kazakh family in al-Hol with names made for this run, its census,
/// the registry extract that holds it among decoys, and what must never
/// leave the security service's site.
pub struct Family {
    pub case_ref: String,
    pub census: String,
    /// The person references, and the registry record that is each.
    pub truth: Vec<(String, String)>,
    pub extract: Vec<RegistryRecord>,
    /// (label, text) of every name, alias, random name part and birth date
    /// the camp recorded: they travel from the camp, never from the
    /// security service.
    pub camp_needles: Vec<(String, String)>,
    /// (label, text) of what only the registry holds: record ids, the
    /// official patronymics, the decoys' names.
    pub registry_needles: Vec<(String, String)>,
}

impl Family {
    /// The registry extract, indexed.
    pub fn registry(&self) -> Registry {
        Registry::from_records(self.extract.clone()).expect("a valid extract")
    }

    pub fn all_needles(&self) -> Vec<(String, String)> {
        self.camp_needles
            .iter()
            .chain(&self.registry_needles)
            .cloned()
            .collect()
    }
}

pub fn family(case_ref: &str) -> Family {
    let latin: Vec<char> = ('a'..='z').collect();
    let cyrillic: Vec<char> = ('а'..='я').collect();
    let arabic: Vec<char> = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي".chars().collect();
    let digits: Vec<char> = ('0'..='9').collect();
    let latn = format!("Q{}", random_letters(&latin, 9));
    let cyrl = format!("Ж{}", random_letters(&cyrillic, 9));
    let arab = random_letters(&arabic, 8);
    let alias = format!("X{}", random_letters(&latin, 8));
    let patronymic = format!("Ш{}", random_letters(&cyrillic, 8));
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
    let mut camp_needles = Vec::new();
    let mut registry_needles = Vec::new();
    let mut extract = Vec::new();
    let mut truth = Vec::new();
    let record_id = || format!("KZ{}", random_letters(&digits, 12));
    let mother_id = record_id();
    for (i, (relationship, sex, birthplace, given, birth_date)) in persons.iter().enumerate() {
        let person_ref = format!("{case_ref}-{:02}", i + 1);
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
            "{case_ref},{person_ref},al-Hol,phase 5,9,31,KZ,{relationship},{},{},{},{aliases},{sex},{birth_date},exact,{birthplace},\n",
            names[0], names[1], names[2],
        ));
        for name in names {
            camp_needles.push((format!("name {name:?}"), name));
        }
        camp_needles.push((format!("birth date {birth_date}"), (*birth_date).to_owned()));
        // The registry's record of the person: the same spellings, and a
        // patronymic the camp never wrote.
        let id = if i == 0 {
            mother_id.clone()
        } else {
            record_id()
        };
        let official = |given: &str, family: &str| OfficialName {
            given: given.to_owned(),
            family: family.to_owned(),
            patronymic: Some(patronymic.clone()),
        };
        extract.push(RegistryRecord {
            record_id: id.clone(),
            names: vec![official(given[1], &cyrl), official(given[0], &latn)],
            sex: if *sex == "female" {
                RegistrySex::Female
            } else {
                RegistrySex::Male
            },
            birth_date: (*birth_date).to_owned(),
            mother: (i > 0).then(|| mother_id.clone()),
            father: None,
        });
        registry_needles.push((format!("record id {id}"), id.clone()));
        truth.push((person_ref, id));
    }
    registry_needles.push((format!("patronymic {patronymic:?}"), patronymic));
    // Decoys: a sister-in-law of the same surname, and strangers.
    for i in 0..40 {
        let given_cyrl = format!("Д{}", random_letters(&cyrillic, 7));
        let family_cyrl = if i == 0 {
            cyrl.clone()
        } else {
            format!("Б{}", random_letters(&cyrillic, 8))
        };
        let id = record_id();
        registry_needles.push((format!("decoy name {given_cyrl:?}"), given_cyrl.clone()));
        registry_needles.push((format!("decoy record id {id}"), id.clone()));
        extract.push(RegistryRecord {
            record_id: id,
            names: vec![OfficialName {
                given: given_cyrl,
                family: family_cyrl,
                patronymic: None,
            }],
            sex: if i % 2 == 0 {
                RegistrySex::Female
            } else {
                RegistrySex::Male
            },
            birth_date: format!("19{:02}-0{}-1{}", 60 + i, 1 + i % 9, i % 10),
            mother: None,
            father: None,
        });
    }
    for part in [&latn, &cyrl, &arab, &alias] {
        camp_needles.push((format!("name part {part:?}"), part.clone()));
    }
    Family {
        case_ref: case_ref.to_owned(),
        census,
        truth,
        extract,
        camp_needles,
        registry_needles,
    }
}

/// The labels of the needles found in `text`.
pub fn found_in(text: &str, needles: &[(String, String)]) -> Vec<String> {
    needles
        .iter()
        .filter(|(_, n)| text.contains(n.as_str()))
        .map(|(label, _)| label.clone())
        .collect()
}

/// Whether a case's stage is `stage`.
pub fn stage_is(stage: &'static str) -> impl Fn(&Value) -> bool {
    move |c| c.get("stage").and_then(Value::as_str) == Some(stage)
}

/// Whether a case's timeline shows that a message of `message_type` was
/// applied.
pub fn applied(message_type: &'static str) -> impl Fn(&Value) -> bool {
    move |c| {
        c["events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["what"] == message_type))
    }
}

/// The camp administration imports the family's census; the foreign
/// ministry asks the security service to verify it. Returns the security
/// service's case once it has applied the request, whatever it did then.
pub async fn locate_and_request(api: &ApiClient, family: &Family) -> Value {
    api.command(
        CAMPS,
        "census?registeredOn=2019-04-15",
        family.census.as_bytes().to_vec(),
    )
    .await
    .expect("census imported");
    api.wait_case(
        SECURITY,
        &family.case_ref,
        "the verification request",
        applied("identity.verification.requested"),
    )
    .await
    .expect("kz.security was asked to verify")
}
