//! Test support shared by the workspace's integration tests: the local AWS stack on moto and the
//! resources of `template.yaml` created on it, fault injection between a client and a server, an
//! emulator of the Lambda Runtime API to run the real function binaries, a checker of the EMF lines
//! they write and of the Prometheus text format, and the contract suites
//! run on every adapter of the link store's capabilities, the event queue and its administration,
//! and the secret source (the GitLab and QALITA clients are tested against the simulators in this
//! crate's `tests/`). Also the `local-stack` binary. A dev-dependency only; the GitLab and QALITA
//! simulators live in `qalita-gitlab-sims`.

pub mod contract;
pub mod emf;
pub mod fault_proxy;
pub mod local_aws;
pub mod prometheus_text;
pub mod runtime_api;
pub mod stack;
pub mod template;

/// The repository's root folder.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(std::path::Path::to_path_buf).unwrap_or_default()
}

/// A name no other test of this run uses: `<prefix>-<pid>-<counter>`.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{}-{nanos:x}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}
