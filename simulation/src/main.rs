//! `simulate`: runs seeds of the deterministic simulation and reports seeds per second, or replays
//! one seed with its trace.
//!
//! ```text
//! cargo run --release -p qalita-gitlab-simulation -- --seeds 10000 [--from 0] [--steps 60]
//! cargo run -p qalita-gitlab-simulation -- --seed 1234     # replays one, with its trace
//! ```
//! Exits 1 when a seed breaks a promise.

use std::process::ExitCode;
use std::time::Instant;

use qalita_gitlab_simulation::{Options, run};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| -> Option<u64> {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
    };
    let mut options = Options::default();
    if let Some(steps) = value("--steps") {
        options.steps = steps as usize;
    }
    if let Some(seed) = value("--seed") {
        let outcome = run(seed, &options);
        for line in &outcome.tail {
            println!("  {line}");
        }
        println!("seed {seed}: {} events, {} crashes, digest {:016x}", outcome.events, outcome.crashes, outcome.digest);
        for broken in &outcome.broken {
            println!("BROKEN: {broken}");
        }
        return if outcome.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }
    let count = value("--seeds").unwrap_or(100);
    let from = value("--from").unwrap_or(0);
    let started = Instant::now();
    let (mut failed, mut events, mut crashes) = (Vec::new(), 0, 0);
    for seed in from..from + count {
        let outcome = run(seed, &options);
        events += outcome.events;
        crashes += outcome.crashes;
        if !outcome.passed() {
            println!("seed {seed} FAILED (replay: cargo run -p qalita-gitlab-simulation -- --seed {seed}):");
            for broken in outcome.broken.iter().take(5) {
                println!("  {broken}");
            }
            failed.push(seed);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{count} seeds from {from} in {seconds:.1} s ({:.1} seeds/s), {events} events, {crashes} crashes, {} failed {failed:?}",
        count as f64 / seconds,
        failed.len()
    );
    if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
