//! The Oracle LogMiner source (feature `oracle`).
//!
//! - [`config`]: `[source.oracle]` ([`OracleConfig`]), the password from env or file.
//! - [`conn`]: the connection-layer seam ([`OracleConnector`] / [`OracleConnection`]) that the
//!   real driver ([`driver`], the `oracle` crate) and scripted fakes implement.
//! - [`source`]: [`OracleSource`], the [`LogSource`](crate::LogSource) over LogMiner sessions.
//! - [`logs`]: the pure choice of redo files per session (V$LOG / V$ARCHIVED_LOG / V$THREAD).
//! - [`rows`]: V$LOGMNR_CONTENTS rows → [`RedoRow`](crate::RedoRow) over a row-access trait.
//! - [`sql`]: every SQL text sent (golden-tested).
//! - [`error`]: ORA / DPI codes → retryable or fatal (with the operator's fix).
//! - [`preflight`]: `redoflow check-oracle`, pure checks over gathered facts.
//!
//! The `oracle` crate loads the Oracle client library at the first connect; without it the
//! source fails at once with DPI-1047 and a message saying to install Instant Client.

pub mod config;
pub mod conn;
pub mod driver;
pub mod error;
pub mod logs;
pub mod preflight;
pub mod rows;
pub mod source;
pub mod sql;

pub use config::{OracleConfig, Password};
pub use conn::{Bind, FetchOptions, OracleConnection, OracleConnector};
pub use driver::{DriverConnection, DriverConnector};
pub use error::{classify, ErrorClass, OraError};
pub use preflight::{PreflightOptions, PreflightReport};
pub use source::{OracleSource, OracleStats};

use crate::source::SourceError;

/// The production source: validates `config`, reads the password (env var or file) and
/// returns a source over the real driver. It connects at the first `start_session`.
pub fn open(config: OracleConfig) -> Result<OracleSource<DriverConnector>, SourceError> {
    config.validate().map_err(|e| SourceError::Fatal {
        message: e.to_string(),
    })?;
    let password = config
        .password(|k| std::env::var(k).ok())
        .map_err(|e| SourceError::Fatal {
            message: e.to_string(),
        })?;
    let connector = DriverConnector::new(&config, password);
    OracleSource::new(config, connector)
}

/// `redoflow check-oracle`: connects with the real driver and runs the preflight checks. A bad
/// configuration or a missing password is reported as a failed check, not an error.
pub fn check_oracle(config: &OracleConfig, opts: &PreflightOptions) -> PreflightReport {
    let fail = |name: &'static str, detail: String, fix: &str| PreflightReport {
        checks: vec![preflight::Check {
            name,
            status: preflight::Status::Fail,
            detail,
            fix: Some(fix.to_string()),
        }],
    };
    if let Err(e) = config.validate() {
        return fail(
            "configuration",
            e.to_string(),
            "fix [source.oracle] (see docs/oracle.md)",
        );
    }
    let password = match config.password(|k| std::env::var(k).ok()) {
        Ok(p) => p,
        Err(e) => {
            return fail(
                "password",
                e.to_string(),
                "export the password variable, or set password_file",
            )
        }
    };
    let mut connector = DriverConnector::new(config, password);
    preflight::check_with(&mut connector, config, opts)
}
