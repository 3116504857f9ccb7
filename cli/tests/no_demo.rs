//! `qalita-gitlab serve --demo` in a build without the simulators (`--no-default-features`): it says
//! that this build has no demo and exits 2, before starting anything. Runs the built binary
//! (`QALITA_GITLAB_BINARY` overrides which one).
#![cfg(not(feature = "demo"))]

use std::process::Command;

use qalita_gitlab::local::{EXIT_CANNOT_START, NO_DEMO};

#[test]
fn without_the_demo_feature_serve_demo_says_this_build_has_no_demo_and_exits_2() {
    let binary =
        std::env::var("QALITA_GITLAB_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_qalita-gitlab").to_owned());

    let output =
        Command::new(binary).args(["serve", "--demo"]).env_remove("RUST_LOG").output().expect("run the binary");

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(i32::from(EXIT_CANNOT_START)), "stderr: {stderr}");
    assert_eq!(stderr.trim(), NO_DEMO);
    assert!(output.stdout.is_empty(), "nothing started, nothing shown: {}", String::from_utf8_lossy(&output.stdout));
}
