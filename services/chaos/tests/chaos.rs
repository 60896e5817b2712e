//! The short chaos run of CI: one replay of the whole scenario over real
//! processes, at least 20 SIGKILLs across every kind of process, the
//! server included, and every check of [`homeward_chaos::run`] holding.
//! The seed changes every run and is printed; `homeward-chaos --seed N`
//! replays a failure, and `CHAOS_SEED=N` runs this test with that seed.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_survives_twenty_kills_of_every_kind_of_process() {
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    println!("chaos seed {seed}");
    let outcome = homeward_chaos::run(&homeward_chaos::Options::with_seed(seed))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    println!("{}", outcome.summary());
    assert!(
        outcome.kills.len() >= 20,
        "seed {seed}: only {} kills before the replay ended",
        outcome.kills.len()
    );
    assert!(
        outcome.kinds_never_killed().is_empty(),
        "seed {seed}: never killed {:?}",
        outcome.kinds_never_killed()
    );
}
