//! A deterministic simulation of the whole sync. The real webhook handler, worker handler, poll,
//! reconcile, planners, link protocol, interpreter and HTTP clients run over the in-memory queue
//! and table and the in-process GitLab and QALITA simulators (the same request pipelines the tests
//! reach on a port), all on one simulated clock, in one thread, driven by one seeded scheduler:
//!
//! - people edit both sides at random ([`people`]);
//! - GitLab's deliveries are delayed, reordered, duplicated and dropped on their way to the webhook;
//! - one to three workers take batches from the FIFO queue at once, their calls interleaved;
//! - GitLab and QALITA go down, answer 429 with a `Retry-After`, 5xx, or lose the answer to a write
//!   they made; a worker process crashes at any port call ([`faults`]);
//! - time passes: visibility time-outs end, back-offs run out, the schedule runs.
//!
//! Then the faults stop, the system runs until quiet (deliveries in, queue drained, the schedule
//! run, dead letters replayed), and [`checker`] checks the promises. The same seed always does
//! the same: a failing seed prints itself and `cargo run -p qalita-gitlab-simulation -- --seed N`
//! replays it with its trace.

pub mod checker;
pub mod faults;
pub mod people;
pub mod ports;
pub mod scenario;
pub mod trace;
pub mod world;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::TimeDelta;
use qalita_gitlab_core::adapters::memory::ManualClock;
use qalita_gitlab_core::ports::EventQueue;
use qalita_gitlab_sims::gitlab::OutgoingDelivery;
use rand::SeedableRng;
use rand_pcg::Pcg64;

use crate::faults::{Chaos, Rates, Weather};
use crate::people::Ledger;
use crate::trace::Trace;
use crate::world::World;

/// A lock a panicking thread cannot poison for the others.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How a run goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Scheduler steps before quiescence.
    pub steps: usize,
    /// Whether faults and crashes happen at all.
    pub faults: bool,
    /// A script instead of random steps: the exhaustive crash enumeration's flows.
    pub flow: Option<Flow>,
}

impl Default for Options {
    fn default() -> Self {
        Options { steps: 60, faults: true, flow: None }
    }
}

/// A flow whose every crash point is tried: the worker processing it crashes after its call `k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// A new QALITA issue found by the poll: the GitLab issue created, the link back written.
    Create,
    /// A new QALITA issue found open by the poll and resolved before the worker took it: the worker
    /// reads it resolved, and the creation policy gives it no GitLab issue.
    CreateResolved,
    /// A status and assignee change in QALITA brought to GitLab by the poll.
    Update,
    /// A GitLab note brought to QALITA by its delivery.
    Comment,
}

/// What a run did and found.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// Every promise broken (empty: the run passed).
    pub broken: Vec<String>,
    /// A hash of the whole trace: equal for two runs of one seed.
    pub digest: u64,
    /// The trace's length.
    pub events: usize,
    /// The crashes.
    pub crashes: usize,
    /// The worker calls made in the crashing process of a [`Flow`] run before it died (`None`:
    /// it never reached the crash point, so the enumeration is complete).
    pub crashed_at: Option<u64>,
    /// The trace, whole.
    pub tail: Vec<String>,
}

impl Outcome {
    /// Whether every promise held.
    pub fn passed(&self) -> bool {
        self.broken.is_empty()
    }
}

/// Runs one seed.
pub fn run(seed: u64, options: &Options) -> Outcome {
    run_crashing(seed, options, None)
}

/// Runs one seed; with `crash_after`, the first worker of the scripted flow crashes after that call.
pub fn run_crashing(seed: u64, options: &Options, crash_after: Option<u64>) -> Outcome {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_time().build() {
        Ok(runtime) => runtime,
        Err(error) => return failed(seed, format!("no runtime: {error}")),
    };
    let trace = Arc::new(Trace::default());
    let chaos_of = |clock: Arc<ManualClock>| {
        Arc::new(Chaos {
            rng: Mutex::new(Pcg64::seed_from_u64(seed)),
            weather: Mutex::new(Weather::default()),
            clock,
            trace: trace.clone(),
            writes: Mutex::default(),
            crashed: Mutex::default(),
        })
    };
    let world = match World::new(chaos_of) {
        Ok(world) => world,
        Err(error) => return failed(seed, error),
    };
    let mut ledger = Ledger::default();
    let result = runtime.block_on(async {
        let crashed_at = match options.flow {
            Some(flow) => scripted(&world, &mut ledger, flow, crash_after).await?,
            None => {
                schedule(&world, &mut ledger, options).await?;
                None
            }
        };
        quiesce(&world).await?;
        let broken = checker::check(&world, &ledger);
        for &issue in &ledger.issues {
            if let Ok(id) = qalita_gitlab_core::domain::QalitaIssueId::new(issue) {
                let link = qalita_gitlab_core::ports::Links::get(world.store.as_ref(), id).await;
                world.chaos.trace.note(format!("at the end, link of {issue}: {link:?}"));
                let log = qalita_gitlab_core::ports::IntegrationLog::log(world.store.as_ref(), id).await;
                for entry in log.unwrap_or_default() {
                    world.chaos.trace.note(format!(
                        "  log of {issue}: {} {}: {}",
                        entry.at.format("%H:%M:%S%.3f"),
                        entry.kind,
                        entry.message
                    ));
                }
            }
        }
        let loops = no_write_after_quiescence(&world).await?;
        Ok::<_, String>((broken.into_iter().chain(loops).collect::<Vec<_>>(), crashed_at))
    });
    let (broken, crashed_at) = match result {
        Ok(found) => found,
        Err(error) => (vec![format!("the run could not go on: {error}")], None),
    };
    let tail = trace.tail(usize::MAX);
    let crashes = count_crashes(&trace);
    Outcome { seed, broken, digest: trace.digest(), events: trace.len(), crashes, crashed_at, tail }
}

fn count_crashes(trace: &Trace) -> usize {
    trace.tail(usize::MAX).iter().filter(|l| l.contains(" crashed after call ")).count()
}

fn failed(seed: u64, error: String) -> Outcome {
    Outcome { seed, broken: vec![error], digest: 0, events: 0, crashes: 0, crashed_at: None, tail: Vec::new() }
}

/// The random part: people, deliveries, workers, the schedule, time and weather, interleaved.
async fn schedule(world: &World, ledger: &mut Ledger, options: &Options) -> Result<(), String> {
    let mut network: Vec<OutgoingDelivery> = Vec::new();
    let chaos = &world.chaos;
    for step in 0..options.steps {
        network.extend(world.new_deliveries());
        let roll = chaos.below(100);
        match roll {
            0..30 => {
                let act = people::draw(world);
                let line = people::act(world, ledger, act).await?;
                chaos.trace.note(format!("step {step}: {line}"));
            }
            30..50 if !network.is_empty() => {
                let index = match chaos.below(3) {
                    0 => chaos.below(network.len() as u32) as usize,
                    _ => 0,
                };
                match chaos.below(20) {
                    0 => {
                        network.remove(index);
                        chaos.trace.note(format!("step {step}: a delivery is lost"));
                    }
                    1 => {
                        let status = world.deliver(&network[index]).await;
                        chaos.trace.note(format!("step {step}: a delivery is sent twice, first answered {status}"));
                    }
                    _ => {
                        let delivery = network.remove(index);
                        let status = world.deliver(&delivery).await;
                        chaos.trace.note(format!("step {step}: delivery {index} answered {status}"));
                    }
                }
            }
            30..70 => {
                let workers = 1 + chaos.below(3) as usize;
                let taken = world.run_workers(workers, None).await?;
                chaos.trace.note(format!("step {step}: {workers} workers took {taken} messages"));
            }
            70..78 => {
                chaos.trace.note(format!("step {step}: the schedule runs"));
                world.run_schedule(None).await?;
            }
            78..92 => {
                let seconds = match chaos.below(4) {
                    0 => 1 + chaos.below(900),
                    _ => 1 + chaos.below(40),
                };
                world.advance(TimeDelta::seconds(i64::from(seconds)));
                chaos.trace.note(format!("step {step}: {seconds} s pass"));
            }
            _ if options.faults => {
                let weather = Weather {
                    gitlab_down: chaos.chance(150),
                    qalita_down: chaos.chance(150),
                    rates: Rates {
                        throttled: chaos.below(120),
                        server_error: chaos.below(120),
                        lost_answer: chaos.below(100),
                    },
                    crash: chaos.below(40),
                };
                chaos.trace.note(format!("step {step}: weather {weather:?}"));
                *lock(&chaos.weather) = weather;
            }
            _ => {}
        }
    }
    // What is still on its way arrives, in the order it left, unless lost.
    for delivery in network {
        world.deliver(&delivery).await;
    }
    Ok(())
}

/// The scripted flows of the crash enumeration: set up without faults, then the flow's first
/// worker crashes after its call `crash_after`. Returns how many calls it made (`None` when it
/// ended before the crash point).
async fn scripted(
    world: &World,
    ledger: &mut Ledger,
    flow: Flow,
    crash_after: Option<u64>,
) -> Result<Option<u64>, String> {
    let issue = people::new_issue(world, ledger);
    if !matches!(flow, Flow::Create | Flow::CreateResolved) {
        // The issue exists in GitLab before the flow.
        world.run_schedule(None).await?;
        drain(world).await?;
    }
    match flow {
        Flow::Create | Flow::CreateResolved => {}
        Flow::Update => {
            world.advance(TimeDelta::seconds(30));
            people::act(world, ledger, people::Act::QalitaStatus("resolved")).await?;
            people::act(world, ledger, people::Act::QalitaAssignee(13)).await?;
        }
        Flow::Comment => {
            people::act(world, ledger, people::Act::GitlabNote).await?;
        }
    }
    // The change reaches the queue: the poll's event, or GitLab's delivery.
    for delivery in world.new_deliveries() {
        world.deliver(&delivery).await;
    }
    if flow != Flow::Comment {
        world.run_schedule(None).await?;
    }
    if flow == Flow::CreateResolved {
        world.advance(TimeDelta::seconds(30));
        people::act(world, ledger, people::Act::QalitaStatus("resolved")).await?;
    }
    world.chaos.trace.note(format!("flow {flow:?} on QALITA issue {issue}, crash after call {crash_after:?}"));
    // The worker that takes the message dies after its call `crash_after`.
    let (process, deps) = world.process(crash_after, false)?;
    let batch = world.queue.receive(10, std::time::Duration::ZERO).await.map_err(|e| e.to_string())?;
    if batch.is_empty() {
        return Err(format!("the {flow:?} flow put nothing on the queue"));
    }
    let queue = crate::ports::ProcessQueue { inner: world.queue.clone(), process: process.clone() };
    let work = qalita_gitlab_worker::handler::consume(deps.clone(), &queue, &batch);
    match World::in_process(&process, work).await {
        Some(_) => Ok(None),
        None => Ok(Some(process.calls())),
    }
}

/// Runs the workers until the queue holds nothing visible, letting back-offs run out.
async fn drain(world: &World) -> Result<(), String> {
    for _ in 0..200 {
        for delivery in world.new_deliveries() {
            world.deliver(&delivery).await;
        }
        if world.run_workers(2, None).await? > 0 {
            continue;
        }
        if world.queue.is_empty() {
            return Ok(());
        }
        // Messages in a back-off, or in flight in a crashed worker: their time comes.
        world.advance(TimeDelta::minutes(16));
    }
    Err(format!("the queue did not drain: {} messages left", world.queue.len()))
}

/// Faults off; deliveries in; the queue drained; the schedule run until a round changes nothing;
/// the dead letters replayed, as an operator would once the cause is gone.
pub(crate) async fn quiesce(world: &World) -> Result<(), String> {
    *lock(&world.chaos.weather) = Weather::default();
    world.chaos.trace.note("quiescence: faults off".into());
    let mut quiet_rounds = 0;
    for _ in 0..40 {
        let writes_before = lock(&world.chaos.writes).len();
        drain(world).await?;
        world.advance(TimeDelta::minutes(5));
        world.run_schedule(None).await?;
        drain(world).await?;
        let replayed = world.replay_dead_letters().await?;
        if replayed > 0 {
            world.chaos.trace.note(format!("quiescence: {replayed} dead letters replayed"));
            world.advance(TimeDelta::minutes(6));
            quiet_rounds = 0;
            continue;
        }
        match lock(&world.chaos.writes).len() == writes_before {
            true => quiet_rounds += 1,
            false => quiet_rounds = 0,
        }
        if quiet_rounds == 2 {
            return Ok(());
        }
    }
    Err("the system did not become quiet in 40 rounds".into())
}

/// Once quiet, more rounds of the schedule write nothing: no loop.
async fn no_write_after_quiescence(world: &World) -> Result<Vec<String>, String> {
    let before = lock(&world.chaos.writes).len();
    for _ in 0..2 {
        world.advance(TimeDelta::minutes(10));
        world.run_schedule(None).await?;
        drain(world).await?;
    }
    let writes = lock(&world.chaos.writes).clone();
    Ok(writes[before..]
        .iter()
        .map(|w| format!("a write after quiescence (a loop): {} {} {:?}", w.method, w.path, w.request))
        .collect())
}
