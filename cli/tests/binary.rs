//! The `qalita-gitlab` binary answers `--version` and `--help` (every command's, each with the exit
//! codes scripts rely on), refuses what it does not know with exit code 2, and reports a usage
//! error as JSON too when asked for JSON.

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_qalita-gitlab"))
        .args(args)
        .env_remove("QALITA_GITLAB_TABLE")
        .env_remove("QALITA_GITLAB_LOCAL")
        .env_remove("QALITA_GITLAB_OUTPUT")
        .output()
        .expect("run qalita-gitlab")
}

#[test]
fn version_prints_the_name_and_the_version() {
    let output = run(&["--version"]);
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), format!("qalita-gitlab {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn help_lists_every_command_and_the_exit_codes() {
    let output = run(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("Usage: qalita-gitlab"), "{help}");
    for command in [
        "test-connection",
        "create-issue",
        "explain",
        "link",
        "disable",
        "enable",
        "status",
        "logs",
        "dlq",
        "backfill",
        "config",
        "serve",
    ] {
        assert!(help.contains(&format!("  {command} ")), "{command} missing from {help}");
    }
    for code in
        ["0  done", "1  a failure was found", "2  usage or configuration error", "3  a remote service is unavailable"]
    {
        assert!(help.contains(code), "{code:?} missing from {help}");
    }
}

#[test]
fn each_command_documents_its_exit_codes() {
    let commands: &[&[&str]] = &[
        &["test-connection"],
        &["create-issue"],
        &["explain"],
        &["link", "show"],
        &["link", "sever"],
        &["disable"],
        &["enable"],
        &["status"],
        &["logs"],
        &["dlq", "list"],
        &["dlq", "replay"],
        &["backfill"],
        &["config", "validate"],
        &["config", "apply"],
        &["config", "show"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let output = run(&args);
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{command:?}: {output:?}");
        assert!(help.contains("Exit codes:"), "{command:?} --help has no exit codes: {help}");
        assert!(help.contains("--output"), "{command:?} takes --output: {help}");
    }
}

#[test]
fn an_unknown_argument_is_refused() {
    let output = run(&["no-such-command"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-command"));
}

#[test]
fn a_usage_error_is_also_a_json_document_in_json_mode() {
    let output = run(&["status", "--output", "json"]);
    assert_eq!(output.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON on standard output");
    assert_eq!(json["error"]["exit_code"], 2);
    assert!(json["error"]["message"].as_str().unwrap().contains("--table"), "{json}");
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("error: no table given"));
}
