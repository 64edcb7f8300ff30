//! `[source.oracle]`: how to reach the database and what to capture. Defaults are SPEC.md §9's.
//! Retries, backoff and `session_max` belong to the runtime (`[mining]`): the source reports
//! retryable errors and the runtime starts a new session after its backoff.
//!
//! The password is never in this section: it comes from an environment variable or a file, and
//! [`Password`] never prints it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// The environment variable read for the password when neither `password_env` nor
/// `password_file` is set.
pub const DEFAULT_PASSWORD_ENV: &str = "REDOFLOW_ORACLE_PASSWORD";

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OracleConfig {
    /// Easy Connect (`host:1521/SERVICE`), a full `(DESCRIPTION=...)` or a tnsnames alias. In a
    /// CDB this must reach CDB$ROOT (LogMiner mines there only).
    pub connect_string: String,
    pub user: String,
    /// Name of the environment variable holding the password.
    pub password_env: Option<String>,
    /// File holding the password (first line; trailing newline ignored).
    pub password_file: Option<PathBuf>,
    /// The pluggable database to capture; required when the database is a CDB (rows are
    /// filtered by `SRC_CON_NAME`, columns read from CDB_TAB_COLUMNS of that PDB), refused for
    /// a non-CDB. Upper-cased unless quoted (`"\"MixedCase\""`), as Oracle treats names.
    pub pdb: Option<String>,
    /// Tables to capture, `OWNER.TABLE`, where either part may be `*` or end in `*`. Empty: every
    /// table outside the built-in schemas.
    pub include: Vec<String>,
    /// Tables never captured, same syntax; wins over `include`.
    pub exclude: Vec<String>,
    #[serde(deserialize_with = "human_duration")]
    pub connect_timeout: Duration,
    /// Call timeout of each round trip (the mining query included).
    #[serde(deserialize_with = "human_duration")]
    pub call_timeout: Duration,
    /// TCP keep-alive probe interval (`EXPIRE_TIME`, which Oracle counts in whole minutes).
    #[serde(deserialize_with = "human_duration")]
    pub keep_alive: Duration,
    /// Rows per round trip of the mining query.
    pub fetch_array_size: u32,
    /// Rows the client prefetches with the execute of the mining query.
    pub prefetch_rows: u32,
    /// Open a new connection whenever the LogMiner session is restarted (log switch,
    /// `session_max`, an error): it releases the PGA LogMiner holds (SPEC.md §9).
    pub reconnect_on_session_restart: bool,
    /// Consecutive "missing log file" errors (ORA-01291/00308/01284) at one read SCN before the
    /// source checks V$ARCHIVED_LOG / V$LOG again: redo they no longer list is gone
    /// (`LogsMissing`); redo they still list is retried.
    pub missing_log_attempts: u32,
    /// LOB capture (assembling SELECT_LOB_LOCATOR / LOB_WRITE / LOB_TRIM / LOB_ERASE rows into
    /// values) is not supported: `true` is refused. LOB content that LogMiner does not print
    /// inline is written as the missing marker (docs/oracle.md).
    pub lob: bool,
    /// The most redo log files of one thread a window may span (2: at most one log switch per
    /// window). Bounds a window by redo volume as well as rows: after a quiet stretch the
    /// planner's blind window could otherwise span hours of redo of tables nobody captures, and
    /// its query outrun `call_timeout`.
    pub window_max_logs: u32,
}

impl Default for OracleConfig {
    fn default() -> Self {
        OracleConfig {
            connect_string: String::new(),
            user: String::new(),
            password_env: None,
            password_file: None,
            pdb: None,
            include: Vec::new(),
            exclude: Vec::new(),
            connect_timeout: Duration::from_secs(60),
            call_timeout: Duration::from_secs(30 * 60),
            keep_alive: Duration::from_secs(30),
            fetch_array_size: 10_000,
            prefetch_rows: 10_000,
            reconnect_on_session_restart: true,
            missing_log_attempts: 5,
            lob: false,
            window_max_logs: 2,
        }
    }
}

/// A password read from the environment or a file. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(secret: impl Into<String>) -> Self {
        Password(secret.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("[source.oracle] {0}")]
    Invalid(String),
    #[error("[source.oracle] the password environment variable {0} is not set (or empty); set it, or use password_file")]
    PasswordEnvMissing(String),
    #[error("[source.oracle] cannot read password_file {path}: {message}")]
    PasswordFile { path: PathBuf, message: String },
}

impl OracleConfig {
    /// Checks what serde cannot: required keys, one password source, table patterns.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.connect_string.trim().is_empty() {
            return bad("connect_string is required (e.g. \"db.example.com:1521/ORCLCDB\")".into());
        }
        if self.user.trim().is_empty() {
            return bad("user is required".into());
        }
        if self.password_env.is_some() && self.password_file.is_some() {
            return bad("set password_env or password_file, not both".into());
        }
        if self.fetch_array_size == 0 {
            return bad("fetch_array_size must be at least 1".into());
        }
        if self.call_timeout.is_zero() || self.connect_timeout.is_zero() {
            return bad("call_timeout and connect_timeout must be > 0".into());
        }
        if let Some(pdb) = &self.pdb {
            let inner = pdb
                .strip_prefix('"')
                .and_then(|p| p.strip_suffix('"'))
                .unwrap_or(pdb);
            if !is_plain_name(inner) {
                return bad(format!("pdb {pdb:?} is not a plain container name"));
            }
        }
        if self.lob {
            return bad(
                "lob = true is not supported: redoflow does not assemble LOB operations \
                (SELECT_LOB_LOCATOR, LOB_WRITE, LOB_TRIM, LOB_ERASE) into values. Remove `lob`: \
                LOB values LogMiner prints inline are captured, and a LOB whose content comes \
                in LOB operations is written as the missing marker (docs/oracle.md, \"LOBs\")"
                    .into(),
            );
        }
        if self.window_max_logs == 0 {
            return bad("window_max_logs must be at least 1".into());
        }
        for p in self.include.iter().chain(&self.exclude) {
            TablePattern::parse(p).map_err(ConfigError::Invalid)?;
        }
        Ok(())
    }

    /// The PDB name as Oracle stores it: upper case, unless it was given in double quotes.
    pub fn pdb_name(&self) -> Option<String> {
        let pdb = self.pdb.as_deref()?.trim();
        Some(
            match pdb.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
                Some(quoted) => quoted.to_string(),
                None => pdb.to_ascii_uppercase(),
            },
        )
    }

    /// True when the table is captured: never in a built-in schema, in `include` (when given),
    /// in no `exclude` pattern; the same rule as the mining query's filter.
    pub fn captures(&self, owner: &str, table: &str) -> bool {
        !super::sql::BUILTIN_SCHEMAS.contains(&owner)
            && !table.starts_with("MLOG$_")
            && (self.include.is_empty()
                || self
                    .include_patterns()
                    .iter()
                    .any(|p| p.matches(owner, table)))
            && !self
                .exclude_patterns()
                .iter()
                .any(|p| p.matches(owner, table))
    }

    /// Reads the password from the configured source; `env` is `std::env::var` in production.
    pub fn password(&self, env: impl Fn(&str) -> Option<String>) -> Result<Password, ConfigError> {
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::PasswordFile {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
            if line.is_empty() {
                return Err(ConfigError::PasswordFile {
                    path: path.clone(),
                    message: "the file is empty".into(),
                });
            }
            return Ok(Password(line.to_string()));
        }
        let var = self.password_env.as_deref().unwrap_or(DEFAULT_PASSWORD_ENV);
        match env(var) {
            Some(p) if !p.is_empty() => Ok(Password(p)),
            _ => Err(ConfigError::PasswordEnvMissing(var.to_string())),
        }
    }

    pub fn include_patterns(&self) -> Vec<TablePattern> {
        self.include
            .iter()
            .filter_map(|p| TablePattern::parse(p).ok())
            .collect()
    }

    pub fn exclude_patterns(&self) -> Vec<TablePattern> {
        self.exclude
            .iter()
            .filter_map(|p| TablePattern::parse(p).ok())
            .collect()
    }
}

/// A container name safe to put in SQL text unquoted-in-a-literal (`PDB1`, `SALES_PDB`).
fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'#'))
}

/// One part of a table pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamePattern {
    Any,
    Exact(String),
    Prefix(String),
}

/// `OWNER.TABLE` with `*` wildcards, names as Oracle stores them (case kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TablePattern {
    pub owner: NamePattern,
    pub table: NamePattern,
}

impl NamePattern {
    pub fn matches(&self, name: &str) -> bool {
        match self {
            NamePattern::Any => true,
            NamePattern::Exact(n) => n == name,
            NamePattern::Prefix(p) => name.starts_with(p.as_str()),
        }
    }
}

impl TablePattern {
    pub fn matches(&self, owner: &str, table: &str) -> bool {
        self.owner.matches(owner) && self.table.matches(table)
    }

    pub fn parse(s: &str) -> Result<TablePattern, String> {
        let t = s.trim();
        let Some((owner, table)) = t.split_once('.') else {
            return Err(format!(
                "table pattern {s:?} must be OWNER.TABLE (either part may be * or end in *)"
            ));
        };
        let part = |p: &str| -> Result<NamePattern, String> {
            if p == "*" {
                return Ok(NamePattern::Any);
            }
            let (body, prefix) = match p.strip_suffix('*') {
                Some(b) => (b, true),
                None => (p, false),
            };
            if body.is_empty() || body.contains(['*', '\'', '"', '.']) {
                return Err(format!("table pattern {s:?}: bad name part {p:?}"));
            }
            Ok(if prefix {
                NamePattern::Prefix(body.to_string())
            } else {
                NamePattern::Exact(body.to_string())
            })
        };
        Ok(TablePattern {
            owner: part(owner)?,
            table: part(table)?,
        })
    }
}

/// Parses `"500ms"`, `"60s"`, `"30m"`, `"4h"`, `"1d"`: the one duration syntax of every
/// config section ([`crate::units::parse_duration`]).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::units::parse_duration(s)
}

fn human_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    crate::units::de_duration(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("4h"), Ok(Duration::from_secs(4 * 3600)));
        assert!(
            parse_duration("2").is_err(),
            "a unit is required, as in [mining]"
        );
        assert!(parse_duration("2 fortnights").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn password_sources() {
        let mut c = OracleConfig {
            connect_string: "h:1521/S".into(),
            user: "C##REDOFLOW".into(),
            ..OracleConfig::default()
        };
        let env = |k: &str| (k == DEFAULT_PASSWORD_ENV).then(|| "s3cret".to_string());
        assert_eq!(c.password(env).unwrap().expose(), "s3cret");
        assert_eq!(format!("{:?}", c.password(env).unwrap()), "Password(***)");
        c.password_env = Some("OTHER".into());
        assert_eq!(
            c.password(env),
            Err(ConfigError::PasswordEnvMissing("OTHER".into()))
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "filepw\n").unwrap();
        c.password_env = None;
        c.password_file = Some(f);
        assert_eq!(c.password(env).unwrap().expose(), "filepw");
        assert!(c.validate().is_ok());
        c.password_env = Some("X".into());
        assert!(c.validate().is_err());
    }

    #[test]
    fn patterns() {
        assert_eq!(
            TablePattern::parse("HR.*"),
            Ok(TablePattern {
                owner: NamePattern::Exact("HR".into()),
                table: NamePattern::Any
            })
        );
        assert_eq!(
            TablePattern::parse("APP.ORD*").unwrap().table,
            NamePattern::Prefix("ORD".into())
        );
        assert!(TablePattern::parse("HR").is_err());
        assert!(TablePattern::parse("HR.A'B").is_err());
    }
}
