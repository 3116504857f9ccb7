//! The server clock of a simulator: now, but always strictly after the previous reading, so that two
//! changes are never equally recent at the precision the service renders its dates.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use qalita_gitlab_core::ports::Clock;

/// A clock that moves forward by at least `step` between two readings.
#[derive(Clone)]
pub struct TickClock {
    step: TimeDelta,
    last: Option<DateTime<Utc>>,
    /// Where "now" comes from: the system clock, or a simulated one.
    source: Option<Arc<dyn Clock>>,
}

impl std::fmt::Debug for TickClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TickClock").field("step", &self.step).field("last", &self.last).finish_non_exhaustive()
    }
}

impl TickClock {
    /// A clock whose readings are at least `step` apart (GitLab renders milliseconds, QALITA
    /// microseconds).
    pub fn new(step: TimeDelta) -> Self {
        TickClock { step, last: None, source: None }
    }

    /// A clock that reads `source` (the simulation's time) instead of the system clock.
    pub fn reading(step: TimeDelta, source: Arc<dyn Clock>) -> Self {
        TickClock { step, last: None, source: Some(source) }
    }

    /// Now as the source says, without a tick (for what is stamped but need not be unique).
    pub fn peek(&self) -> DateTime<Utc> {
        self.source.as_ref().map_or_else(Utc::now, |source| source.now())
    }

    /// Now, or `step` after the previous reading when the system clock has not moved past it.
    pub fn tick(&mut self) -> DateTime<Utc> {
        let now = self.peek();
        let next = self.last.map_or(now, |last| now.max(last + self.step));
        self.last = Some(next);
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_strictly_increasing_by_at_least_the_step() {
        let mut clock = TickClock::new(TimeDelta::milliseconds(1));
        let readings: Vec<_> = (0..100).map(|_| clock.tick()).collect();
        assert!(readings.windows(2).all(|pair| pair[1] - pair[0] >= TimeDelta::milliseconds(1)), "{readings:?}");
    }
}
