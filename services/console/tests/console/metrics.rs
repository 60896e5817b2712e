//! Every `/metrics` scrape (the gateway's, a ministry service's, the
//! console's) parsed with an independent Prometheus text-format parser:
//! named by the conventions, moving with the traffic, and with no person
//! or case in a label.

use std::time::Duration;

use homeward_replay::plan;

use crate::support::{UNCONFIRMED_FAMILY, world_with_console};

/// A scrape, checked line by line and parsed.
fn parse(what: &str, text: &str) -> prometheus_parse::Scrape {
    let mut typed = std::collections::BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            typed.insert(name.to_owned(), kind.to_owned());
            assert!(
                name.starts_with("homeward_"),
                "{what}: {name} is not homeward_"
            );
            match kind {
                "counter" => assert!(name.ends_with("_total"), "{what}: counter {name}"),
                "histogram" => assert!(name.ends_with("_seconds"), "{what}: histogram {name}"),
                "gauge" => assert!(!name.ends_with("_total"), "{what}: gauge {name}"),
                other => panic!("{what}: {name} has type {other}"),
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let name = line
                .split(['{', ' '])
                .next()
                .expect("a sample names its metric");
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
                })
                .unwrap_or(name);
            assert!(typed.contains_key(family), "{what}: {name} has no # TYPE");
            let value = line.rsplit(' ').next().expect("a value");
            assert!(
                value == "+Inf" || value.parse::<f64>().is_ok(),
                "{what}: {line}"
            );
        }
    }
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses")
}

fn value(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(h) => h.iter().map(|c| c.count).fold(0.0, f64::max),
            prometheus_parse::Value::Summary(_) => 0.0,
        })
        .sum()
}

fn no_identifiers_in_labels(what: &str, scrape: &prometheus_parse::Scrape, forbidden: &[&str]) {
    for s in &scrape.samples {
        for (k, v) in s.labels.iter() {
            for f in forbidden {
                assert!(
                    !v.contains(f),
                    "{what}: {}{{{k}={v:?}}} names {f:?}",
                    s.metric
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scrape_parses_follows_the_conventions_and_moves_with_the_traffic() {
    let (_local, world, api, console) = world_with_console().await;
    api.command(
        plan::CAMP_AUTHORITY,
        "census?registeredOn=2019-05-01",
        UNCONFIRMED_FAMILY.as_bytes().to_vec(),
    )
    .await
    .expect("the census is taken");
    api.wait_case(
        "kz.security",
        "HOL-P5-000992",
        "the verification request",
        |c| c["stage"].as_str().is_some(),
    )
    .await
    .expect("kz.security has the case");
    let forbidden = ["HOL-P5-000992", "Gulnara", "Гульнара", "Umm Arman", "1990"];

    // The gateway's, served as the binary serves it with metrics_listen.
    let gateway = world.gateway().expect("the gateway runs");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("port");
    let addr = listener.local_addr().expect("addr");
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(homeward_gateway::metrics::serve(
        listener,
        gateway.metrics.clone(),
        gateway.stats.clone(),
        gateway.counters.clone(),
        stop.clone(),
    ));
    // A decision is counted once its audit record is stored, which is
    // after its deliveries are: kz.security can hold the case a moment
    // before the gateway counts it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let (text, scrape) = loop {
        let text = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .expect("scrapes")
            .text()
            .await
            .expect("text");
        let scrape = parse("gateway", &text);
        let accepted = value(
            &scrape,
            "homeward_gateway_decisions_total",
            &[("decision", "accepted"), ("type", "camp.resident.located")],
        );
        if accepted >= 1.0 {
            break (text, scrape);
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        value(&scrape, "homeward_gateway_decision_seconds", &[]) >= 1.0,
        "{text}"
    );
    no_identifiers_in_labels("gateway", &scrape, &forbidden);
    stop.cancel();
    server.await.expect("joins").expect("serves");

    // A ministry service's: no token needed, counts only. Its counter
    // moves once it has handled the family's delivery.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let (text, scrape) = loop {
        let text = reqwest::get(format!("{}/metrics", world.api("kz.mfa").expect("api")))
            .await
            .expect("scrapes")
            .text()
            .await
            .expect("text");
        let scrape = parse("kz.mfa", &text);
        let applied = value(
            &scrape,
            "homeward_ministry_deliveries_total",
            &[("member", "kz.mfa"), ("result", "applied")],
        );
        if applied >= 1.0 {
            break (text, scrape);
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(text.contains("homeward_ministry_outbox_messages"), "{text}");
    assert_eq!(
        value(
            &scrape,
            "homeward_ministry_loop_up",
            &[("loop", "delivery")]
        ),
        1.0
    );
    no_identifiers_in_labels("kz.mfa", &scrape, &forbidden);

    // The console's: the gauges the alert rules read.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let scrape = loop {
        let text = console.get("/metrics").await.text().await.expect("text");
        let scrape = parse("console", &text);
        if value(&scrape, "homeward_service_up", &[("member", "kz.mfa")]) == 1.0 {
            break scrape;
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(value(&scrape, "homeward_audit_chain_intact", &[]), 1.0);
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "homeward_consumer_stuck")
    );
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "homeward_consumer_pending")
    );
    no_identifiers_in_labels("console", &scrape, &forbidden);

    world.stop().await.expect("the services stop");
    console.stop().await;
}
