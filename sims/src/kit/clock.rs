//! The server clock of a simulator: now, but always strictly after the previous reading, so that two
//! changes are never equally recent at the precision the service renders its dates.

use chrono::{DateTime, TimeDelta, Utc};

/// A clock that moves forward by at least `step` between two readings.
#[derive(Debug, Clone)]
pub struct TickClock {
    step: TimeDelta,
    last: Option<DateTime<Utc>>,
}

impl TickClock {
    /// A clock whose readings are at least `step` apart (GitLab renders milliseconds, QALITA
    /// microseconds).
    pub fn new(step: TimeDelta) -> Self {
        TickClock { step, last: None }
    }

    /// Now, or `step` after the previous reading when the system clock has not moved past it.
    pub fn tick(&mut self) -> DateTime<Utc> {
        let now = Utc::now();
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
