//! The real console in a real browser: headless Chromium, driven through
//! ChromeDriver, against the whole replay on a real nats-server with every
//! service. The test signs in as an operator would and reads the page:
//! its content and attributes, never its pixels.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use homeward_replay::plan;
use homeward_replay::replay::{self, Progress};
use homeward_scenario::population::Population;
use homeward_testkit::webdriver::Browser;

use crate::support::{LATE_FAMILY, audit_records, world_with_console};

const LIVE: Duration = Duration::from_secs(20);

/// `document.querySelector(css)` as a script's expression.
fn query(css: &str) -> String {
    format!(
        "document.querySelector({})",
        serde_json::to_string(css).expect("a string")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_follows_the_replay_in_a_real_browser() {
    let (local, world, api, console) = world_with_console().await;
    let population = Population::generate(2019);
    let plans = plan::plans(&population);
    let case_ref = plans[1].case_ref.clone();
    replay::run(
        &api,
        plan::census(&population),
        plan::REGISTERED_ON,
        plans,
        12,
        Arc::new(Progress::default()),
    )
    .await
    .expect("the replay runs to the end");
    let records = audit_records(&local).await;
    let deliveries: u64 = records
        .iter()
        .filter(|r| r.decision == "accepted")
        .map(|r| r.recipients.len() as u64)
        .sum();
    let mut per_flow: BTreeMap<String, u64> = BTreeMap::new();
    for r in records.iter().filter(|r| r.decision == "accepted") {
        for to in &r.recipients {
            *per_flow
                .entry(format!(
                    "{}|{to}|{}",
                    r.sender,
                    r.message_type.as_deref().unwrap_or("")
                ))
                .or_default() += 1;
        }
    }

    let browser = Browser::start().await.expect("chromium starts");
    browser
        .goto(&format!("{}/", console.url))
        .await
        .expect("opens");
    // Signed out, the page shows the sign-in and nothing else.
    browser
        .wait_until(
            "the sign-in form",
            LIVE,
            &format!(
                "return !{}.hidden && {}.hidden;",
                query("#signin"),
                query("#app")
            ),
        )
        .await
        .expect("sign-in shown");
    let field = browser.find("#token").await.expect("token field");
    browser
        .type_into(&field, "not-the-operator-token-at-all-0000")
        .await
        .expect("types");
    browser
        .click(&browser.find("#login").await.expect("button"))
        .await
        .expect("clicks");
    browser
        .wait_for_text("#login-error", "not the operator token", LIVE)
        .await
        .expect("a wrong token is refused");
    browser
        .type_into(&field, console.token.expose())
        .await
        .expect("types");
    browser
        .click(&browser.find("#login").await.expect("button"))
        .await
        .expect("clicks");
    browser
        .wait_until(
            "the live feed",
            LIVE,
            "return document.body.dataset.live === '1';",
        )
        .await
        .expect("live");

    // Flows: the replay's counts.
    browser
        .wait_until(
            "the replay's deliveries in the Flows view",
            LIVE,
            &format!(
                "return {}.dataset.deliveries === '{deliveries}';",
                query("#flow-summary")
            ),
        )
        .await
        .expect("the Flows view counts every delivery");
    // The page re-renders every snapshot: read the table in one script.
    let shown = browser
        .execute(
            "const out = {}; for (const r of document.querySelectorAll('#flow-table tbody tr')) { out[r.dataset.flow] = Number(r.lastElementChild.innerText); } return out;",
            vec![],
        )
        .await
        .expect("the flow table");
    let shown: BTreeMap<String, u64> = serde_json::from_value(shown).expect("counts");
    assert_eq!(shown, per_flow);
    let matrix = browser
        .execute(
            &format!(
                "return {}.innerText;",
                query("#flow-matrix td[data-from=\"aanes.camps\"][data-to=\"kz.mfa\"]")
            ),
            vec![],
        )
        .await
        .expect("the matrix cell");
    let camps_to_kz: u64 = per_flow
        .iter()
        .filter(|(k, _)| k.starts_with("aanes.camps|kz.mfa|"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(matrix.as_str(), Some(camps_to_kz.to_string().as_str()));

    // A bad submission is in the Rejections view within 2 s.
    browser
        .click(
            &browser
                .find("#tabs [data-view=rejections]")
                .await
                .expect("tab"),
        )
        .await
        .expect("clicks");
    let kz = local.member("kz.mfa").await.expect("kz.mfa");
    let sent = Instant::now();
    kz.submit_bytes("", br#"{"specversion":"1.0","id":"not an id"}"#.to_vec())
        .await
        .expect("stored");
    browser
        .wait_until(
            "the rejection",
            Duration::from_secs(2),
            &format!(
                "const t = {}; return !!t && t.innerText.includes('kz.mfa') && t.innerText.includes('bad_envelope');",
                query("#rejection-table tbody")
            ),
        )
        .await
        .expect("shown within 2 s of the submission");
    assert!(sent.elapsed() < Duration::from_secs(2));

    // A case's timeline: every step of the family's lifecycle.
    let steps: Vec<String> = records
        .iter()
        .filter(|r| r.case.as_deref() == Some(case_ref.as_str()))
        .map(|r| r.message_type.clone().unwrap_or_default())
        .collect();
    browser
        .click(&browser.find("#tabs [data-view=case]").await.expect("tab"))
        .await
        .expect("clicks");
    browser
        .type_into(&browser.find("#case-ref").await.expect("field"), &case_ref)
        .await
        .expect("types");
    browser
        .click(&browser.find("#case-search").await.expect("button"))
        .await
        .expect("clicks");
    browser
        .wait_until(
            "the case's timeline",
            LIVE,
            &format!(
                "return document.querySelectorAll('#case-table tbody tr').length === {};",
                steps.len()
            ),
        )
        .await
        .expect("every decision about the case");
    let shown = browser
        .execute(
            "return [...document.querySelectorAll('#case-table tbody tr')].map(r => r.dataset.step);",
            vec![],
        )
        .await
        .expect("steps");
    assert_eq!(shown, serde_json::json!(steps));
    for stage in [
        "camp.resident.located",
        "identity.verification.requested",
        "identity.verification.completed",
        "repatriation.requested",
        "repatriation.decided",
        "operation.scheduled",
        "handover.completed",
        "handover.acknowledged",
        "arrival.recorded",
        "security.screening.completed",
        "reintegration.registered",
    ] {
        assert!(
            steps.iter().any(|s| s == stage),
            "{case_ref}: no {stage} in {steps:?}"
        );
    }

    // A stopped member service: its consumer stuck, its service down.
    world.stop_member("kz.mfa").expect("stops");
    api.command(
        plan::CAMP_AUTHORITY,
        "census?registeredOn=2019-05-01",
        LATE_FAMILY.as_bytes().to_vec(),
    )
    .await
    .expect("the census is taken");
    browser
        .click(
            &browser
                .find("#tabs [data-view=backlog]")
                .await
                .expect("tab"),
        )
        .await
        .expect("clicks");
    browser
        .wait_until(
            "kz.mfa's delivery consumer stuck",
            LIVE,
            &format!(
                "const r = {}; return !!r && r.dataset.state === 'stuck' && r.innerText.includes('stuck');",
                query("#backlog-table tr[data-consumer=deliver_kz_mfa]")
            ),
        )
        .await
        .expect("stuck");
    browser
        .click(
            &browser
                .find("#tabs [data-view=services]")
                .await
                .expect("tab"),
        )
        .await
        .expect("clicks");
    browser
        .wait_until(
            "kz.mfa's service down, uz.mfa's up",
            LIVE,
            &format!(
                "const d = {}; const u = {}; return !!d && !!u && d.dataset.state === 'down' && d.innerText.includes('down') && u.dataset.state === 'up';",
                query("#service-table tr[data-service=\"kz.mfa\"]"),
                query("#service-table tr[data-service=\"uz.mfa\"]")
            ),
        )
        .await
        .expect("down");
    // The alarms say so on every view.
    browser
        .wait_for_text("#alarms", "stuck", LIVE)
        .await
        .expect("the stuck alarm");
    browser
        .wait_for_text("#alarms", "down", LIVE)
        .await
        .expect("the down alarm");

    browser.close().await.expect("the browser quits");
    world.stop().await.expect("the services stop");
    console.stop().await;
}
