//! The `qalita-gitlab` binary answers `--help` and `--version`, and refuses what it does not know.

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_qalita-gitlab")).args(args).output().expect("run qalita-gitlab")
}

#[test]
fn version_prints_the_name_and_the_version() {
    let output = run(&["--version"]);
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), format!("qalita-gitlab {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn help_describes_the_tool() {
    let output = run(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("Usage: qalita-gitlab"), "{help}");
    assert!(help.contains("QALITA"), "{help}");
}

#[test]
fn an_unknown_argument_is_refused() {
    let output = run(&["no-such-command"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-command"));
}
