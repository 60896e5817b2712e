//! One case's delivery fails at the foreign ministry, every time, until
//! the fix; every other case goes on.

use std::sync::Arc;

use homeward_core::{Envelope, EnvelopeBuilder, subjects};
use serde_json::{Value, json};

use crate::support::{
    CAMPS, Failing, MFA, Operator, api, census, deployment, locate, stage_is, start,
};

const A: &str = "HOL-P5-000701";
const B: &str = "HOL-P5-000702";
const C: &str = "HOL-P5-000703";
const D: &str = "HOL-P5-000704";

/// The ids of the messages `case`'s timeline records as received, in
/// order.
fn received(case: &Value, ids: &[&str]) -> Vec<String> {
    case["events"]
        .as_array()
        .expect("a timeline")
        .iter()
        .filter(|e| e["what"] == "camp.resident.located")
        .filter_map(|e| e["messageId"].as_str())
        .filter(|id| ids.contains(id))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_delivery_is_parked_without_blocking_the_others_and_a_redrive_applies_it_once() {
    let deployment = deployment().await;
    let local = &deployment.local;
    let mut operator = Operator::connect(local).await;
    let failing = Failing::new(B);
    let camps = start(local, CAMPS, Arc::new(homeward_camp_registry::CampRegistry)).await;
    let mfa = start(local, MFA, failing.clone()).await;
    let api = api(&[&camps, &mfa]);
    let (csv, mut names) = census(&[A, B, C]);
    locate(&api, &csv).await;

    // Every other case completes while B's delivery fails.
    for case in [A, C] {
        api.wait_case(
            MFA,
            case,
            "the located family",
            stage_is("verification-requested"),
        )
        .await
        .expect("kz.mfa opened the case");
    }

    // B's is parked after three deliveries, and the operator is told why.
    let (raw, advisory) = operator.next_terminated().await;
    assert_eq!(
        advisory["type"], "io.nats.jetstream.advisory.v1.terminated",
        "{advisory}"
    );
    assert_eq!(advisory["stream"], subjects::DELIVER_STREAM);
    assert_eq!(advisory["consumer"], "deliver_kz_mfa");
    assert_eq!(advisory["deliveries"], 3);
    let first = advisory["stream_seq"].as_u64().expect("a sequence");
    let parked = api.parked(MFA).await.expect("GET /parked");
    let listed = parked.as_array().expect("a list");
    assert_eq!(listed.len(), 1, "{parked:#}");
    let p = &listed[0];
    let first_id = p["messageId"].as_str().expect("an id").to_owned();
    assert_eq!(p["sequence"], first);
    assert_eq!(p["caseRef"], B);
    assert_eq!(p["sender"], CAMPS);
    assert_eq!(p["messageType"], "camp.resident.located");
    assert_eq!(p["failure"], "role_panicked");
    assert_eq!(p["attempts"], 3);
    assert!(
        p.get("envelope").is_none(),
        "the API shows a parked message's content: {p:#}"
    );
    assert_eq!(
        advisory["reason"],
        format!(
            "parked role_panicked type=camp.resident.located id={first_id} sender={CAMPS} case={B} attempts=3"
        )
    );
    assert_eq!(
        failing.calls(),
        3,
        "the role was given B's delivery three times"
    );
    let cases = api.cases(MFA).await.expect("cases");
    assert!(
        !cases.to_string().contains(B),
        "a parked delivery opened its case: {cases:#}"
    );

    // A family located after the parking completes too.
    let (csv, more) = census(&[D]);
    names.extend(more);
    locate(&api, &csv).await;
    api.wait_case(
        MFA,
        D,
        "the located family",
        stage_is("verification-requested"),
    )
    .await
    .expect("kz.mfa opened the case after the parking");

    // A later message about B is parked behind the first, never handed to
    // the role: the camp locates the family again.
    let admin = async_nats::jetstream::new(local.client("poison-admin").await.expect("admin"));
    let delivered = admin
        .get_stream(subjects::DELIVER_STREAM)
        .await
        .expect("the stream")
        .get_raw_message(first)
        .await
        .expect("the parked delivery");
    let located = Envelope::parse(&delivered.payload).expect("an envelope");
    let camp = local.member(CAMPS).await.expect("the camp's client");
    let locate_again = || {
        camp.sign(
            EnvelopeBuilder::new(
                located.message_type(),
                located.dataschema(),
                located.data().clone(),
            )
            .subject(B),
        )
        .expect("signs")
    };
    let again = locate_again();
    camp.submit(&again).await.expect("submitted");
    let (raw_behind, behind) = operator.next_terminated().await;
    let second = behind["stream_seq"].as_u64().expect("a sequence");
    assert!(second > first);
    assert_eq!(
        behind["reason"],
        format!(
            "parked behind_earlier type=camp.resident.located id={} sender={CAMPS} case={B} attempts=1",
            again.id()
        )
    );
    assert_eq!(
        failing.calls(),
        3,
        "a delivery behind a parked one reached the role"
    );

    // The operator saw references only, and cannot read the delivery.
    let parked = api.parked(MFA).await.expect("GET /parked");
    let shown = [
        String::from_utf8_lossy(&raw).into_owned(),
        String::from_utf8_lossy(&raw_behind).into_owned(),
        parked.to_string(),
    ];
    for name in &names {
        for text in &shown {
            assert!(!text.contains(name.as_str()), "{name} in {text}");
        }
    }
    operator.cannot_read_delivery(first).await;

    // A redrive before the fix fails again and changes nothing: both stay
    // parked, the first with one more attempt.
    let refused = api.redrive(MFA, first).await.expect_err("fails again");
    let text = refused.to_string();
    assert!(
        text.contains("409") && text.contains("role_panicked"),
        "{text}"
    );
    let sequences: Vec<(Value, Value)> = api
        .parked(MFA)
        .await
        .expect("GET /parked")
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| (p["sequence"].clone(), p["attempts"].clone()))
        .collect();
    assert_eq!(
        sequences,
        [(json!(first), json!(4)), (json!(second), json!(1))]
    );
    assert_eq!(failing.calls(), 4);

    // Parked deliveries outlive the service: started again, it keeps them,
    // and a third message about B is parked behind them.
    mfa.stop().await;
    let mfa = start(local, MFA, failing.clone()).await;
    let api = crate::support::api(&[&camps, &mfa]);
    let third = locate_again();
    camp.submit(&third).await.expect("submitted");
    let (_, behind) = operator.next_terminated().await;
    let last = behind["stream_seq"].as_u64().expect("a sequence");
    assert!(last > second);
    assert_eq!(
        behind["reason"],
        format!(
            "parked behind_earlier type=camp.resident.located id={} sender={CAMPS} case={B} attempts=1",
            third.id()
        )
    );
    assert_eq!(failing.calls(), 4);

    // The fix; redriving a later one redrives the case's parked
    // deliveries in the order they came.
    failing.fix();
    let answer = api.redrive(MFA, second).await.expect("redriven");
    assert_eq!(
        answer["redriven"],
        json!([
            {"outcome": "applied", "sequence": first, "messageId": first_id},
            {"outcome": "applied", "sequence": second, "messageId": again.id()},
            {"outcome": "applied", "sequence": last, "messageId": third.id()},
        ]),
        "{answer:#}"
    );
    let case = api
        .wait_case(
            MFA,
            B,
            "the redriven family",
            stage_is("verification-requested"),
        )
        .await
        .expect("kz.mfa opened the case");
    // Each applied once, in order.
    assert_eq!(
        received(&case, &[&first_id, again.id(), third.id()]),
        [
            first_id.clone(),
            again.id().to_owned(),
            third.id().to_owned()
        ]
    );
    assert_eq!(api.parked(MFA).await.expect("GET /parked"), json!([]));
    // Nothing is left to redrive, and nothing more reached the role.
    let gone = api.redrive(MFA, first).await.expect_err("nothing parked");
    assert!(gone.to_string().contains("404"), "{gone}");
    assert_eq!(failing.calls(), 7);
    let after = api
        .wait_case(
            MFA,
            B,
            "the redriven family",
            stage_is("verification-requested"),
        )
        .await
        .expect("the case");
    assert_eq!(
        received(&after, &[&first_id, again.id(), third.id()]),
        [first_id, again.id().to_owned(), third.id().to_owned()]
    );

    mfa.stop().await;
    camps.stop().await;
    deployment.stop().await;
}
