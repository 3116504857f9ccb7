//! The [`SecretSource`] contract: the current value, the previous one after a rotation and none
//! before, and a permanent error for a secret that does not exist.

use qalita_gitlab_core::ports::{SecretSource, SecretStage};

/// Runs the suite. `secret_id` holds `first` and was never rotated; `rotate` stores `second` as
/// its new current value; `missing_id` names no secret.
pub async fn run<F>(source: &dyn SecretSource, secret_id: &str, missing_id: &str, rotate: F)
where
    F: AsyncFnOnce(&str),
{
    let current = source.read(secret_id, SecretStage::Current).await.expect("read current");
    assert!(current.expect("a current value").matches(b"first"));
    assert!(
        source.read(secret_id, SecretStage::Previous).await.expect("read previous").is_none(),
        "no previous value before a rotation"
    );

    rotate("second").await;
    let current = source.read(secret_id, SecretStage::Current).await.expect("read current");
    assert!(current.expect("a current value").matches(b"second"));
    let previous = source.read(secret_id, SecretStage::Previous).await.expect("read previous");
    assert!(previous.expect("the value before the rotation").matches(b"first"));

    let error = source.read(missing_id, SecretStage::Current).await.expect_err("a missing secret is an error");
    assert!(!error.is_transient(), "{error}");
    assert!(
        !format!("{error:?}").contains("second") && !error.to_string().contains("second"),
        "errors never carry a value"
    );
}
