//! The local secret sources: a secrets file open to other users is refused with the fix named and
//! no value shown, and environment variables are named after the secret ids.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use qalita_gitlab::embedded::secrets::{EnvSecrets, FileSecrets, SecretFileError};
use qalita_gitlab_core::ports::{SecretError, SecretSource, SecretStage};

const VALUE: &str = "test-token-do-not-print-me";

fn write_secrets(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).expect("write the secrets file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("set its mode");
}

#[tokio::test]
async fn a_secrets_file_readable_by_others_is_refused_with_the_chmod_that_fixes_it() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("secrets.toml");
    for mode in [0o644, 0o640, 0o604, 0o660, 0o602] {
        write_secrets(&path, &format!("\"gitlab/token\" = \"{VALUE}\"\n"), mode);
        let error = FileSecrets::open(&path).await.expect_err("a file open to others");
        assert!(matches!(error, SecretFileError::InsecurePermissions { .. }), "{mode:o}: {error:?}");
        let shown = error.to_string();
        assert!(shown.contains(&format!("chmod 600 {}", path.display())), "{shown}");
        assert!(!shown.contains(VALUE) && !format!("{error:?}").contains(VALUE), "{shown}");
    }
    for mode in [0o600, 0o400] {
        write_secrets(&path, &format!("\"gitlab/token\" = \"{VALUE}\"\n"), mode);
        let secrets = FileSecrets::open(&path).await.expect("a private file");
        let value = secrets.read("gitlab/token", SecretStage::Current).await.expect("read");
        assert!(value.expect("a value").matches(VALUE.as_bytes()));
    }
}

#[tokio::test]
async fn a_file_opened_to_others_after_the_start_is_refused_at_the_next_read() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("secrets.toml");
    write_secrets(&path, &format!("\"gitlab/token\" = \"{VALUE}\"\n"), 0o600);
    let secrets = FileSecrets::open(&path).await.expect("a private file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");

    let error = secrets.read("gitlab/token", SecretStage::Current).await.expect_err("refused");
    assert!(!error.is_transient(), "{error}");
    assert!(error.to_string().contains("chmod 600"), "{error}");
    assert!(!format!("{error:?}").contains(VALUE));
}

#[tokio::test]
async fn an_unreadable_file_is_named_and_its_text_never_shown() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("secrets.toml");
    write_secrets(&path, &format!("\"a\" = \"x\"\ngitlab token = {VALUE}\n"), 0o600);
    let error = FileSecrets::open(&path).await.expect_err("not TOML");
    assert!(matches!(error, SecretFileError::Invalid { line: 2, .. }), "{error:?}");
    assert!(!error.to_string().contains(VALUE), "{error}");

    let missing = FileSecrets::open(dir.path().join("none.toml")).await.expect_err("no file");
    assert!(missing.to_string().contains("none.toml"), "{missing}");
    let folder = FileSecrets::open(dir.path()).await.expect_err("a folder");
    assert!(matches!(folder, SecretFileError::NotAFile { .. }), "{folder:?}");
}

#[tokio::test]
async fn a_secret_id_not_in_the_file_is_a_permanent_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("secrets.toml");
    write_secrets(&path, &format!("\"gitlab/token\" = {{ current = \"{VALUE}\" }}\n"), 0o600);
    let secrets = FileSecrets::open(&path).await.expect("a private file");
    assert!(secrets.read("gitlab/token", SecretStage::Previous).await.expect("read").is_none(), "never rotated");
    let error = secrets.read("qalita/token", SecretStage::Current).await.expect_err("absent");
    assert!(matches!(&error, SecretError::Unreadable { class, .. } if class == "NotFound"), "{error:?}");
    assert!(error.to_string().contains("secrets.toml"), "{error}");
}

#[tokio::test]
async fn environment_variables_are_named_after_the_secret_id() {
    assert_eq!(EnvSecrets::variable("qalita-gitlab/webhook-secret"), "QALITA_GITLAB_WEBHOOK_SECRET");
    let secrets = EnvSecrets::with_lookup(|name| match name {
        "QALITA_GITLAB_WEBHOOK_SECRET" => Some(OsString::from(VALUE)),
        "QALITA_GITLAB_WEBHOOK_SECRET_PREVIOUS" => Some(OsString::new()),
        _ => None,
    });
    let current = secrets.read("qalita-gitlab/webhook-secret", SecretStage::Current).await.expect("read");
    assert!(current.expect("a value").matches(VALUE.as_bytes()));
    let previous = secrets.read("qalita-gitlab/webhook-secret", SecretStage::Previous).await.expect("read");
    assert!(previous.is_none(), "an empty variable counts as unset");

    let error = secrets.read("qalita-gitlab/gitlab-token", SecretStage::Current).await.expect_err("unset");
    assert!(!error.is_transient(), "{error}");
    assert!(error.to_string().contains("QALITA_GITLAB_GITLAB_TOKEN"), "{error}");
}
