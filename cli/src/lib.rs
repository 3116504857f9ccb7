//! The operator CLI `qalita-gitlab` of the QALITA ↔ GitLab sync (DESIGN section 1), as a library
//! (`main.rs` only parses the command line): the operator [`commands`], `qalita-gitlab serve` with
//! the whole pipeline on one machine ([`serve`]), the [`embedded`] adapters it runs on (redb store,
//! on-disk FIFO queue, local secrets), the guided `serve --demo` against the simulators (`demo`, with
//! the `demo` feature), and what they agree on ([`local`]).

pub mod commands;
#[cfg(feature = "demo")]
pub mod demo;
pub mod embedded;
pub mod local;
pub mod serve;

use std::process::ExitCode;

/// `qalita-gitlab serve`: the demo with `--demo` (in a build with the simulators), else the local
/// pipeline. Dispatched here, so that `serve` and `demo` need not know each other.
pub async fn serve_or_demo(args: serve::ServeArgs) -> ExitCode {
    if args.demo {
        return demo(args).await;
    }
    serve::run(args).await
}

/// `serve --demo`, in a build with the simulators (feature `demo`).
#[cfg(feature = "demo")]
async fn demo(args: serve::ServeArgs) -> ExitCode {
    demo::run(args).await
}

/// `serve --demo` in a build without the simulators: says so, exit [`local::EXIT_CANNOT_START`].
#[cfg(not(feature = "demo"))]
async fn demo(_args: serve::ServeArgs) -> ExitCode {
    eprintln!("{}", local::NO_DEMO);
    ExitCode::from(local::EXIT_CANNOT_START)
}
