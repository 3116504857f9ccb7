//! The exhaustive crash enumeration: for the create, update and comment flows, the worker dies
//! after its port call k, for every k the flow makes (GitLab, QALITA, the table, the queue), and
//! the system recovers (redrive, the schedule) to a state where every promise holds.

use qalita_gitlab_simulation::{Flow, Options, run_crashing};

fn enumerate(flow: Flow) -> u64 {
    let options = Options { flow: Some(flow), ..Options::default() };
    let whole = run_crashing(1, &options, None);
    assert!(whole.passed(), "{flow:?} without a crash: {:#?}", whole.broken);
    for k in 1..=400 {
        let outcome = run_crashing(1, &options, Some(k));
        if outcome.crashed_at.is_none() {
            // The flow ended before its call k: every crash point before it was tried.
            let points = k - 1;
            println!("{flow:?}: {points} crash points, every one recovered");
            return points;
        }
        assert_eq!(outcome.crashed_at, Some(k));
        assert!(
            outcome.passed(),
            "{flow:?}, crash after call {k}: {:#?}\n{}",
            outcome.broken,
            outcome.tail[outcome.tail.len().saturating_sub(40)..].join("\n")
        );
    }
    panic!("{flow:?} made more than 400 calls");
}

#[test]
fn a_crash_after_any_call_of_a_creation_is_recovered() {
    assert!(enumerate(Flow::Create) >= 8);
}

/// A new issue resolved before the worker took it: the worker reads it resolved, and whatever its
/// crash point, no GitLab issue is made (the creation policy) and no status is written anywhere.
#[test]
fn a_crash_after_any_call_of_a_refused_creation_is_recovered() {
    assert!(enumerate(Flow::CreateResolved) >= 10);
}

#[test]
fn a_crash_after_any_call_of_an_update_is_recovered() {
    assert!(enumerate(Flow::Update) >= 5);
}

#[test]
fn a_crash_after_any_call_of_a_comment_copy_is_recovered() {
    assert!(enumerate(Flow::Comment) >= 5);
}
