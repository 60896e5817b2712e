//! The gateway's `/metrics`, served as the binary serves it with
//! `metrics_listen` (here on a port the test binds), after an accepted and
//! a rejected submission: parsed with an independent Prometheus
//! text-format parser, named by the conventions, moving with the
//! decisions, and with no envelope id, case or name in a label.

use std::time::Duration;

use homeward_core::MemberId;
use tokio_util::sync::CancellationToken;

use crate::support::{WAIT, builder, deployment, example, processed};

fn sample(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => *v,
            _ => 0.0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateways_metrics_count_decisions_by_decision_code_and_type() {
    let (local, gateway) = deployment().await;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let server = tokio::spawn(homeward_gateway::metrics::serve(
        listener,
        gateway.metrics.clone(),
        gateway.stats.clone(),
        gateway.counters.clone(),
        stop.clone(),
    ));

    // One accepted; one signed with another member's key, rejected.
    let kz = local.member("kz.mfa").await.expect("member");
    let accepted = processed(&local);
    kz.submit(&accepted).await.expect("stored");
    let forged = builder(&example("message.processed", "processed.json"))
        .sign(
            &MemberId::parse("kz.mfa").expect("id"),
            &local.key("uz.mfa").expect("key"),
        )
        .expect("signs");
    kz.submit(&forged).await.expect("stored");

    let url = format!("http://{addr}/metrics");
    let deadline = tokio::time::Instant::now() + WAIT;
    let (text, scrape) = loop {
        let response = reqwest::get(&url).await.expect("scrapes");
        assert!(
            response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/plain; version=0.0.4"))
        );
        let text = response.text().await.expect("text");
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .expect("parses");
        if sample(&scrape, "homeward_gateway_decisions_total", &[]) >= 2.0 {
            break (text, scrape);
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // Conventions: prefix, and each family's suffix by its type.
    let mut families = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            families += 1;
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(name.starts_with("homeward_gateway_"), "{name}");
            match kind {
                "counter" => assert!(name.ends_with("_total"), "counter {name}"),
                "histogram" => assert!(name.ends_with("_seconds"), "histogram {name}"),
                "gauge" => assert!(!name.ends_with("_total"), "gauge {name}"),
                other => panic!("{name}: type {other}"),
            }
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "{name} has no help"
            );
        }
    }
    assert!(families >= 6, "{text}");

    // Exactly the two decisions, one series each; the rejection under its
    // first code, and every reason counted.
    assert_eq!(
        sample(
            &scrape,
            "homeward_gateway_decisions_total",
            &[
                ("decision", "accepted"),
                ("code", ""),
                ("type", "message.processed")
            ]
        ),
        1.0,
        "{text}"
    );
    let rejected: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| {
            s.metric == "homeward_gateway_decisions_total"
                && s.labels.get("decision") == Some("rejected")
        })
        .collect();
    assert_eq!(rejected.len(), 1, "{text}");
    let code = rejected[0].labels.get("code").expect("a code").to_owned();
    assert!(!code.is_empty(), "{text}");
    assert_eq!(rejected[0].labels.get("type"), Some("message.processed"));
    assert!(
        sample(
            &scrape,
            "homeward_gateway_rejection_reasons_total",
            &[("code", &code)]
        ) >= 1.0,
        "{text}"
    );
    assert!(
        text.contains("homeward_gateway_decision_seconds_count 2\n"),
        "{text}"
    );
    assert!(
        sample(&scrape, "homeward_gateway_submissions_total", &[]) >= 2.0,
        "{text}"
    );
    assert!(
        sample(&scrape, "homeward_gateway_batches_total", &[]) >= 1.0,
        "{text}"
    );
    assert_eq!(
        sample(&scrape, "homeward_gateway_batch_failures_total", &[]),
        0.0
    );

    // No id in any label.
    let case = example("message.processed", "processed.json")["subject"]
        .as_str()
        .map(str::to_owned);
    let forbidden: Vec<String> = [
        Some(accepted.id().to_owned()),
        Some(forged.id().to_owned()),
        case,
    ]
    .into_iter()
    .flatten()
    .collect();
    for s in &scrape.samples {
        for (k, v) in s.labels.iter() {
            for f in &forbidden {
                assert!(
                    !v.contains(f.as_str()),
                    "{}{{{k}={v:?}}} holds {f}",
                    s.metric
                );
            }
        }
    }

    stop.cancel();
    server.await.expect("joins").expect("serves");
    gateway.stop().await.expect("the gateway stops");
}
