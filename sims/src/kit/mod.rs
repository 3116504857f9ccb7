//! What both simulators are made of: the journal of the requests they received, fault rules
//! matched by method and path prefix, the loopback listener they serve on, the clock that never
//! stamps two changes alike, and query-string decoding. Each simulator keeps its own vocabulary on
//! top (its request record, its kinds of fault).

pub mod clock;
pub mod faults;
pub mod journal;
pub mod listener;
pub mod query;

pub use clock::TickClock;
pub use faults::{FaultRule, FaultRules};
pub use journal::{Journal, JournalEntry, Ticket};
pub use listener::{Connection, Loopback, Server};
