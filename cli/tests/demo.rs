//! `qalita-gitlab serve --demo`: it runs to completion, verifies each step it shows, cleans up after
//! itself, and tells how to run against a real GitLab and QALITA with settings that work.
//!
//! The last test runs the built binary (`QALITA_GITLAB_BINARY` overrides which one): it needs
//! `main.rs` to route `serve` to `qalita_gitlab::serve::run`.
//! Only in a build with the demo (feature `demo`, the default); `no_demo.rs` covers the other.
#![cfg(feature = "demo")]

use std::io::Write;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qalita_gitlab::demo::{DemoError, DemoOptions, KeepRunning, SAMPLE_CONFIG, STEPS, run_demo};
use qalita_gitlab::embedded::queue::QueueOptions;
use qalita_gitlab::serve::{DATABASE_FILE, WEBHOOK_PATH};
use qalita_gitlab_core::config::Config;

fn options(data_dir: Option<std::path::PathBuf>) -> DemoOptions {
    DemoOptions {
        data_dir,
        listen: None,
        poll_interval: Duration::from_secs(300),
        queue: QueueOptions { visibility_timeout: Duration::from_secs(60), max_receive_count: 5 },
    }
}

fn assert_shows_every_step(output: &str) {
    for (index, title) in STEPS.iter().enumerate() {
        assert!(output.contains(&format!("Step {}/{}: {title}", index + 1, STEPS.len())), "step {index}: {output}");
    }
    assert_eq!(
        output.matches("  ✓ QALITA #").count(),
        4 + 2,
        "4 issues opened, 1 resolved, 1 comment copied: {output}"
    );
    // The four are created concurrently: their numbers in data/quality depend on the order.
    assert!(output.contains("\"Invalid Latitude\" → data/quality#"), "{output}");
    assert!(output.contains(": [QALITA] billing.customer_sites: Invalid Latitude\n"), "{output}");
    assert!(
        output.contains("→ finance/data-quality#1: [QALITA] finance.invoices: Duplicate invoice numbers"),
        "{output}"
    );
    assert!(output.contains("status open → resolved"), "{output}");
    assert!(output.contains("now has the comment: \"[GitLab] mdurand: Checked:"), "{output}");
    assert!(output.contains("now has the note: \"**[QALITA]** Amir Khan: The CRM export"), "{output}");
    assert!(output.contains("no duplicate"), "{output}");
}

fn assert_tells_how_to_run_for_real(output: &str) {
    for expected in [
        "QALITA_GITLAB_GITLAB_TOKEN",
        "QALITA_GITLAB_QALITA_TOKEN",
        "QALITA_GITLAB_WEBHOOK_SECRET",
        "--secrets-file",
        "chmod 600",
        "default_project = \"data/quality\"",
        "Settings → Webhooks",
        WEBHOOK_PATH,
        "qalita-gitlab serve --config",
    ] {
        assert!(output.contains(expected), "{expected:?} missing from: {output}");
    }
}

#[tokio::test]
async fn the_demo_shows_each_step_verified_and_removes_its_temporary_folder() {
    let mut output = Vec::new();
    let started = Instant::now();
    let report = run_demo(options(None), &mut output, None).await.expect("the demo completes");
    let output = String::from_utf8(output).expect("UTF-8 output");
    assert_eq!(report.steps, STEPS.len());
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    assert_shows_every_step(&output);
    assert_tells_how_to_run_for_real(&output);
    assert!(
        output
            .contains(&format!("Demo complete: 4 steps shown and verified in {:.1} s.", report.elapsed.as_secs_f64()))
    );
    let database = output
        .lines()
        .find_map(|line| line.trim().strip_prefix("database"))
        .map(|path| std::path::PathBuf::from(path.trim()))
        .expect("the database's path is shown");
    assert!(database.ends_with(DATABASE_FILE), "{database:?}");
    assert!(!database.exists(), "the temporary folder is removed: {database:?}");
}

#[tokio::test]
async fn a_given_data_folder_keeps_the_demo_database() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let data_dir = dir.path().join("demo-data");
    let mut output = Vec::new();
    run_demo(options(Some(data_dir.clone())), &mut output, None).await.expect("the demo completes");
    assert!(data_dir.join(DATABASE_FILE).is_file(), "the database stays in the folder given");
    assert!(String::from_utf8_lossy(&output).contains("(kept)"));
}

#[tokio::test]
async fn a_data_folder_that_already_holds_a_database_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(dir.path().join(DATABASE_FILE), b"").expect("a database file");
    let mut output = Vec::new();
    let error = run_demo(options(Some(dir.path().to_path_buf())), &mut output, None).await.expect_err("refused");
    assert!(matches!(error, DemoError::DataDirNotFresh { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(DATABASE_FILE) && message.contains("leave out --data-dir"), "{message}");
    assert!(output.is_empty(), "nothing was shown");
}

/// An output both the demo and the test can see.
#[derive(Clone, Default)]
struct SharedOutput(Arc<Mutex<Vec<u8>>>);

impl SharedOutput {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
    }
}

impl Write for SharedOutput {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn keep_running_serves_after_the_steps_until_told_to_stop() {
    let output = SharedOutput::default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let keep_running: KeepRunning = Box::pin(async move {
        let _ = stopped.await;
    });
    let mut writer = output.clone();
    let demo = run_demo(options(None), &mut writer, Some(keep_running));
    let poke = async {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !output.text().contains("Still serving") {
            assert!(Instant::now() < deadline, "no `Still serving` line: {}", output.text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let text = output.text();
        let health = text
            .split_whitespace()
            .find(|word| word.ends_with("/healthz"))
            .expect("the health URL is shown")
            .to_owned();
        let answer: serde_json::Value = reqwest::get(&health).await.expect("serve answers").json().await.expect("JSON");
        assert_eq!(answer["status"], "ok", "{answer}");
        assert!(!text.contains("Demo complete"), "still running");
        stop.send(()).expect("the demo waits");
    };
    let (report, ()) = tokio::join!(demo, poke);
    report.expect("the demo completes");
    assert!(output.text().contains("Demo complete"), "{}", output.text());
}

#[test]
fn the_sample_configuration_the_demo_prints_is_valid() {
    let config = Config::from_document(SAMPLE_CONFIG, |_| None).expect("valid");
    assert_eq!(config.gitlab.base_url, "https://gitlab.example.com");
    assert_eq!(config.routing.len(), 1);
}

#[test]
fn the_binary_runs_the_demo_to_completion_and_exits_0() {
    let binary =
        std::env::var("QALITA_GITLAB_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_qalita-gitlab").to_owned());
    let started = Instant::now();
    let output =
        Command::new(binary).args(["serve", "--demo"]).env_remove("RUST_LOG").output().expect("run the binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(started.elapsed() < Duration::from_secs(25), "took {:?}", started.elapsed());
    assert_shows_every_step(&stdout);
    assert_tells_how_to_run_for_real(&stdout);
    assert!(stdout.contains("Demo complete"), "{stdout}");
    assert!(stderr.trim().is_empty(), "no warning on a healthy run: {stderr}");
}
