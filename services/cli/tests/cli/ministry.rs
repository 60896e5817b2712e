//! A census imported into a camp registry through the CLI, then the report,
//! each with its service's API token.

use homeward_replay::api::stage_is;
use homeward_replay::world::World;
use homeward_testkit::local::{Local, LocalOptions};
use serde_json::Value;

use crate::{homeward_async, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn census_import_opens_cases_and_report_counts_them() {
    let local = Local::start(LocalOptions::default()).await.expect("starts");
    let world = World::start(&local).await.expect("services");
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("census.csv");
    let population = homeward_scenario::population::Population::generate(7);
    let families: Vec<_> = population
        .census()
        .into_iter()
        .filter(|f| f.claimed_nationality().as_str() == "UZ")
        .take(12)
        .collect();
    let people: usize = families.iter().map(|f| f.members().len()).sum();
    std::fs::write(&csv, homeward_census::write(&families)).expect("write");
    let camp = world.api("aanes.camps").expect("api");
    let camp_token = world.api_token_file("aanes.camps").expect("token");
    // Another member's token is not the camp registry's: refused, nothing
    // opened.
    let other_token = world.api_token_file("uz.mfa").expect("token");
    let import = |token: &std::path::Path| {
        let args = [
            "census".to_owned(),
            "import".to_owned(),
            csv.display().to_string(),
            "--camp-registry".to_owned(),
            camp.clone(),
            "--api-token-file".to_owned(),
            token.display().to_string(),
            "--registered-on".to_owned(),
            "2019-05-01".to_owned(),
        ];
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            homeward_async(&args).await
        }
    };
    let out = import(other_token).await;
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("401"), "{t}");
    let api = homeward_replay::api::of_world(&world).expect("api");
    let cases = api.cases("aanes.camps").await.expect("cases");
    assert_eq!(cases, serde_json::json!([]), "nothing was opened");

    let out = import(camp_token).await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("12 new cases opened"), "{t}");
    assert!(t.contains("12/12 families sent"), "{t}");

    for f in &families {
        api.wait_case(
            "uz.mfa",
            f.family_ref().as_str(),
            "the located family",
            stage_is("verification-requested"),
        )
        .await
        .expect("uz.mfa opened the case");
    }
    // The report is Uzbekistan's foreign ministry's, of its own cases,
    // from its own service: no NATS credentials.
    // The token from the environment, as an official's shell would hold it.
    let mfa = world.api("uz.mfa").expect("api");
    let mut report = tokio::process::Command::new(env!("CARGO_BIN_EXE_homeward"));
    for var in crate::ENV {
        report.env_remove(var);
    }
    let out = report
        .env("HOMEWARD_API_TOKEN_FILE", other_token)
        .args(["report", "--format", "json", "--api", &mfa])
        .output()
        .await
        .expect("homeward runs");
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "{t}");
    assert_eq!(rows[0]["country"], "UZ");
    assert_eq!(rows[0]["located"], people as u64);
    assert_eq!(rows[0]["families"], 12);
    assert_eq!(rows[0]["verified"], 0);
    world.stop().await.expect("stops");
}
