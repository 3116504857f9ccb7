//! Scripted runs on the simulation's world, for the regression tests of the bugs it found and the
//! checker's own tests: no random step, no fault unless the script sets one, every call in order.

use std::sync::{Arc, Mutex};

use chrono::TimeDelta;
use qalita_gitlab_core::adapters::memory::ManualClock;
use qalita_gitlab_sims::gitlab::OutgoingDelivery;
use rand::SeedableRng;
use rand_pcg::Pcg64;

use crate::faults::{Chaos, Weather};
use crate::people::{self, Act, Ledger};
use crate::trace::Trace;
use crate::world::World;

/// A scripted run.
pub struct Scenario {
    runtime: tokio::runtime::Runtime,
    /// The world.
    pub world: World,
    /// What the people did.
    pub ledger: Ledger,
}

impl Scenario {
    /// An empty world, calm weather.
    ///
    /// # Panics
    /// When the world cannot be built (a bug of the simulation).
    pub fn new() -> Scenario {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a runtime");
        let chaos_of = |clock: Arc<ManualClock>| {
            Arc::new(Chaos {
                rng: Mutex::new(Pcg64::seed_from_u64(0)),
                weather: Mutex::new(Weather::default()),
                clock,
                trace: Arc::new(Trace::default()),
                writes: Mutex::default(),
                crashed: Mutex::default(),
            })
        };
        let world = World::new(chaos_of).expect("the simulation's world");
        Scenario { runtime, world, ledger: Ledger::default() }
    }

    /// A new QALITA issue (open, assigned to Marie), synced to GitLab: its id.
    pub fn synced_issue(&mut self) -> u64 {
        let issue = people::new_issue(&self.world, &mut self.ledger);
        self.schedule();
        self.drain();
        issue
    }

    /// A person does `act` (to the only issue, or the newest).
    ///
    /// # Panics
    /// When the person's edit is refused.
    pub fn person(&mut self, act: Act) {
        let world = &self.world;
        let ledger = &mut self.ledger;
        let done = self.runtime.block_on(people::act(world, ledger, act)).expect("the person's edit");
        world.chaos.trace.note(done);
    }

    /// The deliveries GitLab made since the last call, held back for the script.
    pub fn deliveries(&self) -> Vec<OutgoingDelivery> {
        self.world.new_deliveries()
    }

    /// Delivers one, as GitLab does.
    pub fn deliver(&self, delivery: &OutgoingDelivery) {
        let status = self.runtime.block_on(self.world.deliver(delivery));
        assert_eq!(status, 200, "the webhook answered {status}");
    }

    /// Workers take what the queue holds until it is empty (back-offs let run out).
    pub fn drain(&self) {
        for _ in 0..100 {
            let taken = self.runtime.block_on(self.world.run_workers(1, None)).expect("a worker run");
            if taken == 0 && self.world.queue.is_empty() {
                return;
            }
            if taken == 0 {
                self.world.advance(TimeDelta::minutes(16));
            }
        }
        panic!("the queue did not drain");
    }

    /// One batch of one worker, whatever is visible.
    pub fn worker(&self) -> usize {
        self.runtime.block_on(self.world.run_workers(1, None)).expect("a worker run")
    }

    /// The scheduled run (poll, reconcile).
    pub fn schedule(&self) {
        self.runtime.block_on(self.world.run_schedule(None)).expect("the scheduled run");
    }

    /// Lets time pass.
    pub fn wait(&self, by: TimeDelta) {
        self.world.advance(by);
    }

    /// Sets the faults.
    pub fn weather(&self, weather: Weather) {
        *crate::lock(&self.world.chaos.weather) = weather;
    }

    /// Every write of the service so far, as `METHOD path body`.
    pub fn writes(&self) -> Vec<String> {
        crate::lock(&self.world.chaos.writes)
            .iter()
            .map(|w| {
                format!("{} {} {}", w.method, w.path, w.request.as_ref().map(|r| r.to_string()).unwrap_or_default())
            })
            .collect()
    }

    /// Runs to quiescence and checks every promise.
    pub fn settle_and_check(&mut self) -> Vec<String> {
        self.runtime.block_on(crate::quiesce(&self.world)).expect("quiescence");
        crate::checker::check(&self.world, &self.ledger)
    }
}

impl Default for Scenario {
    fn default() -> Self {
        Self::new()
    }
}
