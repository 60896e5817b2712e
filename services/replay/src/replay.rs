//! The replay: the scenario driven through every service's API, as the
//! ministries' own systems and their officials would.
//!
//! The camp administration imports the census; from there each family goes
//! through the lifecycle with the decisions the plan holds (everyone's
//! identity confirmed and release accepted; the planned screening outcome;
//! each child with a relative as guardian; a passport for every child born
//! in Syria). Families move concurrently, each step waiting until the
//! service that must act has seen what it acts on.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use serde_json::{Value, json};

use crate::api::{Api, all_persons, stage_is};

/// One person's planned decisions.
#[derive(Debug, Clone)]
pub struct PersonPlan {
    pub person_ref: String,
    pub child: bool,
    pub female: bool,
    pub detained: bool,
    pub needs_passport: bool,
}

/// One family's plan.
#[derive(Debug, Clone)]
pub struct FamilyPlan {
    pub case_ref: String,
    /// Upper-case ISO code of their state.
    pub nationality: String,
    pub camp_authority: String,
    pub operation_id: String,
    pub round: u32,
    /// The state whose flight carries them, when not their own.
    pub carrier: Option<String>,
    pub persons: Vec<PersonPlan>,
}

/// Progress, for a progress bar: census families sent, families through
/// the whole lifecycle.
#[derive(Debug, Default)]
pub struct Progress {
    pub imported: AtomicUsize,
    pub to_import: AtomicUsize,
    pub done: AtomicUsize,
    pub total: AtomicUsize,
}

/// Imports a census into a camp registry
/// ([`homeward_camp_registry::census_import`]), counting on `progress`.
pub async fn import_census(
    api: &Api,
    camp: &str,
    csv: &[u8],
    registered_on: &str,
    progress: &Progress,
) -> anyhow::Result<usize> {
    let mut counted = false;
    homeward_camp_registry::census_import::import(api, camp, csv, registered_on, |done, total| {
        if !counted {
            progress.to_import.fetch_add(total, Ordering::Relaxed);
            counted = true;
        }
        progress.imported.store(done, Ordering::Relaxed);
    })
    .await
}

fn member(country: &str, unit: &str) -> String {
    format!("{}.{unit}", country.to_ascii_lowercase())
}

fn airport(country: &str) -> Value {
    match country {
        "KZ" => json!({"name": "Aktau airport", "country": "KZ", "iata": "SCO"}),
        "UZ" => json!({"name": "Tashkent airport", "country": "UZ", "iata": "TAS"}),
        "TJ" => json!({"name": "Dushanbe airport", "country": "TJ", "iata": "DYU"}),
        "KG" => json!({"name": "Bishkek airport", "country": "KG", "iata": "FRU"}),
        other => json!({"name": "National airport", "country": other}),
    }
}

/// Drives one family from located to closed.
pub async fn family(api: &Api, plan: &FamilyPlan) -> anyhow::Result<()> {
    let case = plan.case_ref.as_str();
    let c = plan.nationality.as_str();
    let (mfa, security, interior, rehab) = (
        member(c, "mfa"),
        member(c, "security"),
        member(c, "interior"),
        member(c, "rehab"),
    );
    let camp = plan.camp_authority.as_str();

    api.wait_case(
        &security,
        case,
        "the verification request",
        stage_is("verification-requested"),
    )
    .await?;
    api.act(&security, case, "verify", &json!({"outcome": "confirmed"}))
        .await?;
    api.wait_case(&mfa, case, "the verification", stage_is("verified"))
        .await?;
    api.act(
        &mfa,
        case,
        "request-repatriation",
        &json!({"operationId": plan.operation_id, "round": plan.round}),
    )
    .await?;
    api.wait_case(camp, case, "the request", stage_is("requested"))
        .await?;
    api.act(camp, case, "decide", &json!({"acceptAll": true}))
        .await?;
    api.wait_case(&mfa, case, "the decision", stage_is("decided"))
        .await?;

    let carrier = plan.carrier.clone().unwrap_or_else(|| c.to_owned());
    if carrier != c {
        let carrier_mfa = member(&carrier, "mfa");
        let operation = json!({"operationId": plan.operation_id, "round": plan.round});
        api.act(&mfa, case, "request-transit", &json!({"carrierState": carrier, "disembarkation": airport(&carrier), "carrierOperation": operation})).await?;
        api.wait_case(
            &carrier_mfa,
            case,
            "the transit request",
            stage_is("transit-requested"),
        )
        .await?;
        api.act(
            &carrier_mfa,
            case,
            "decide-transit",
            &json!({"decision": "accepted", "carrierOperation": operation}),
        )
        .await?;
        api.wait_case(&mfa, case, "the transit decision", |v| {
            v.get("transitDecision").and_then(Value::as_str) == Some("accepted")
        })
        .await?;
    }
    let schedule = json!({
        "operationId": plan.operation_id,
        "round": plan.round,
        "handoverPoint": {"name": "Qamishli airport", "country": "SY", "iata": "KAC"},
        "transport": {"mode": "state-aircraft", "carrierState": carrier, "arrival": airport(&carrier)},
    });
    api.act(&mfa, case, "schedule", &schedule).await?;
    api.wait_case(camp, case, "the operation", stage_is("scheduled"))
        .await?;
    api.wait_case(&interior, case, "the operation", stage_is("scheduled"))
        .await?;
    api.wait_case(&rehab, case, "the operation", stage_is("scheduled"))
        .await?;
    api.act(camp, case, "handover", &json!({})).await?;
    api.wait_case(&mfa, case, "the handover", stage_is("handed-over"))
        .await?;
    api.wait_case(camp, case, "the acknowledgement", stage_is("acknowledged"))
        .await?;

    api.act(
        &interior,
        case,
        "arrival",
        &json!({"borderPoint": airport(c)}),
    )
    .await?;
    let arrived = |v: &Value| all_persons(v, |p| p.get("arrived") == Some(&Value::Bool(true)));
    api.wait_case(&rehab, case, "the arrival", arrived).await?;
    api.wait_case(&security, case, "the arrival", arrived)
        .await?;
    api.act(&rehab, case, "admit", &json!({})).await?;

    let results: Vec<Value> = plan
        .persons
        .iter()
        .map(|p| json!({"personRef": p.person_ref, "outcome": if p.detained { "detained" } else { "cleared" }}))
        .collect();
    api.act(&security, case, "screen", &json!({"results": results}))
        .await?;
    let screened = |v: &Value| all_persons(v, |p| p.get("screening").is_some_and(|s| !s.is_null()));
    api.wait_case(&rehab, case, "the screening", screened)
        .await?;
    api.wait_case(&interior, case, "the screening", screened)
        .await?;

    let discharged: Vec<Value> = plan
        .persons
        .iter()
        .map(|p| {
            let to = if p.detained {
                "security-custody"
            } else if p.child {
                "relative-guardian"
            } else {
                "home"
            };
            json!({"personRef": p.person_ref, "dischargedTo": to})
        })
        .collect();
    api.act(&rehab, case, "discharge", &json!({"persons": discharged}))
        .await?;
    api.wait_case(&interior, case, "the discharge", |v| {
        all_persons(v, |p| p.get("discharged") == Some(&Value::Bool(true)))
    })
    .await?;

    let children: Vec<&PersonPlan> = plan.persons.iter().filter(|p| p.child).collect();
    if !children.is_empty() {
        let assignments: Vec<Value> = children
            .iter()
            .map(|p| {
                json!({
                    "childRef": p.person_ref,
                    "custody": "relative-guardian",
                    "guardian": {"fullName": format!("Guardian of {}", p.person_ref), "relationship": "grandmother"},
                })
            })
            .collect();
        api.act(
            &interior,
            case,
            "custody",
            &json!({"assignments": assignments}),
        )
        .await?;
    }
    let passports: Vec<Value> = plan
        .persons
        .iter()
        .filter(|p| p.needs_passport)
        .enumerate()
        .map(|(i, p)| json!({"personRef": p.person_ref, "kind": "passport", "number": format!("N{:08}", i + 1)}))
        .collect();
    if !passports.is_empty() {
        api.act(
            &interior,
            case,
            "documents",
            &json!({"documents": passports}),
        )
        .await?;
    }
    let returning: Vec<Value> = plan
        .persons
        .iter()
        .filter(|p| !p.detained)
        .map(|p| json!({"personRef": p.person_ref, "homeRegion": {"country": c, "name": "Home region"}}))
        .collect();
    if !returning.is_empty() {
        api.act(
            &interior,
            case,
            "reintegration",
            &json!({"persons": returning, "caseClosed": true}),
        )
        .await?;
    }
    api.wait_case(&mfa, case, "the whole lifecycle", |v| {
        let reint =
            v.get("stage").and_then(Value::as_str) == Some("closed") || returning.is_empty();
        reint && all_persons(v, |p| p.get("screening").is_some_and(|s| !s.is_null()))
    })
    .await?;
    Ok(())
}

/// Imports the census at each camp administration, then drives every
/// family, `concurrency` at a time.
pub async fn run(
    api: &Api,
    census: Vec<(String, Vec<u8>)>,
    registered_on: &str,
    plans: Vec<FamilyPlan>,
    concurrency: usize,
    progress: Arc<Progress>,
) -> anyhow::Result<()> {
    for (camp, csv) in census {
        api.command(&camp, &format!("census?registeredOn={registered_on}"), csv)
            .await?;
    }
    progress.total.store(plans.len(), Ordering::Relaxed);
    let mut results = futures::stream::iter(plans.iter().map(|p| {
        let progress = progress.clone();
        async move {
            let r = family(api, p).await;
            progress.done.fetch_add(1, Ordering::Relaxed);
            r.map_err(|e| e.context(format!("family {}", p.case_ref)))
        }
    }))
    .buffer_unordered(concurrency.max(1));
    while let Some(r) = results.next().await {
        r?;
    }
    Ok(())
}
