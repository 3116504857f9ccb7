//! The simulation in the normal test command: 500 seeded schedules of people, deliveries, faults
//! and crashes, each run to quiescence and checked; the same seed doing the same twice; and the
//! checker failing where a promise is broken.

use std::time::Instant;

use qalita_gitlab_simulation::{Options, run};

/// How many seeds the normal test command runs (the release run outside it runs 10,000:
/// `cargo run --release -p qalita-gitlab-simulation -- --seeds 10000`).
const SEEDS: u64 = 500;

#[test]
fn every_promise_holds_over_500_seeded_schedules() {
    let options = Options::default();
    let started = Instant::now();
    let (mut failed, mut events, mut crashes) = (Vec::new(), 0, 0);
    for seed in 0..SEEDS {
        let outcome = run(seed, &options);
        events += outcome.events;
        crashes += outcome.crashes;
        if !outcome.passed() {
            failed.push(format!(
                "seed {seed} (replay: cargo run -p qalita-gitlab-simulation -- --seed {seed}): {:#?}",
                outcome.broken
            ));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{SEEDS} seeds in {seconds:.1} s ({:.1} seeds/s): {events} events, {crashes} worker crashes",
        SEEDS as f64 / seconds
    );
    assert!(failed.is_empty(), "{} of {SEEDS} seeds broke a promise:\n{}", failed.len(), failed.join("\n"));
    // The schedules did exercise the faults: crashes happened in most of them.
    assert!(crashes > SEEDS as usize, "only {crashes} crashes in {SEEDS} seeds");
}

#[test]
fn a_seed_does_the_same_every_time_whatever_ran_before() {
    let options = Options::default();
    let first: Vec<u64> = [7, 123, 404].iter().map(|&seed| run(seed, &options).digest).collect();
    // Other seeds run in between: nothing of theirs may leak into the next run.
    for seed in 1000..1005 {
        run(seed, &options);
    }
    let again: Vec<u64> = [7, 123, 404].iter().map(|&seed| run(seed, &options).digest).collect();
    assert_eq!(first, again);
    assert_ne!(first[0], first[1], "two seeds made the same run");
}
