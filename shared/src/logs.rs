//! The functions' log lines, as Lambda's advanced logging controls ask: JSON when
//! `AWS_LAMBDA_LOG_FORMAT` is `JSON` (the template sets it), the level of `AWS_LAMBDA_LOG_LEVEL`,
//! else `RUST_LOG` (a level, or `target=level` directives), else INFO.
//!
//! It does what `lambda_runtime`'s default subscriber does, without its `EnvFilter`: that filter's
//! span and field matching brings two regular-expression engines (about 200 KiB) into each
//! function, for directives the functions never need.

use std::str::FromStr;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The filter of the log lines: `lambda_level` (Lambda's `AWS_LAMBDA_LOG_LEVEL`: `TRACE`, `DEBUG`,
/// `INFO`, `WARN`, `ERROR` or `FATAL`) wins over `rust_log`; a value that does not read counts as
/// unset; INFO when neither is set.
pub fn filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> Targets {
    let lambda = lambda_level.map(str::trim).filter(|level| !level.is_empty()).and_then(|level| match level {
        fatal if fatal.eq_ignore_ascii_case("fatal") => Some(LevelFilter::ERROR),
        other => LevelFilter::from_str(other).ok(),
    });
    if let Some(level) = lambda {
        return Targets::new().with_default(level);
    }
    rust_log
        .filter(|text| !text.trim().is_empty())
        .and_then(|text| Targets::from_str(text.trim()).ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// Installs the functions' subscriber, writing to standard output (CloudWatch), as the
/// environment says.
pub fn init() {
    let var = |name| std::env::var(name).ok();
    let filter = filter(var("AWS_LAMBDA_LOG_LEVEL").as_deref(), var("RUST_LOG").as_deref());
    let json = var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let lines = tracing_subscriber::fmt::layer().with_target(false).without_time().with_writer(std::io::stdout);
    let registry = tracing_subscriber::registry().with(filter);
    // A subscriber set before (a test's) stays: the functions log through whichever is set.
    let _ = match json {
        true => registry.with(lines.json()).try_init(),
        false => registry.with(lines).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;

    fn allows(filter: &Targets, target: &str, level: Level) -> bool {
        filter.would_enable(target, &level)
    }

    #[test]
    fn lambdas_level_wins_then_rust_log_then_info() {
        let both = filter(Some("WARN"), Some("debug"));
        assert!(allows(&both, "qalita_gitlab_core", Level::WARN) && !allows(&both, "qalita_gitlab_core", Level::INFO));
        let fatal = filter(Some("FATAL"), None);
        assert!(allows(&fatal, "x", Level::ERROR) && !allows(&fatal, "x", Level::WARN));
        let rust_log = filter(None, Some("info,qalita_gitlab_core=debug"));
        assert!(allows(&rust_log, "qalita_gitlab_core::engine", Level::DEBUG));
        assert!(
            !allows(&rust_log, "aws_smithy_runtime", Level::DEBUG)
                && allows(&rust_log, "aws_smithy_runtime", Level::INFO)
        );
        let default = filter(None, None);
        assert!(allows(&default, "x", Level::INFO) && !allows(&default, "x", Level::DEBUG));
    }

    #[test]
    fn a_value_that_does_not_read_counts_as_unset() {
        let unreadable = filter(Some("LOUD"), Some("=="));
        assert!(allows(&unreadable, "x", Level::INFO) && !allows(&unreadable, "x", Level::DEBUG));
        let blank = filter(Some(" "), Some(" "));
        assert!(allows(&blank, "x", Level::INFO) && !allows(&blank, "x", Level::DEBUG));
    }
}
