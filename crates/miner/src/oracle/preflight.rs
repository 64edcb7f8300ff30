//! `redoflow check-oracle`: is this database ready to be mined? [`gather`] reads the facts
//! (read-only queries of [`super::sql::preflight`]), [`evaluate`] — a pure function, tested on
//! recorded rows — turns them into a [`PreflightReport`] of checks, each pass / warn / fail with
//! the fix.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use super::config::OracleConfig;
use super::conn::{OracleConnection, OracleConnector, TextRows};
use super::error::{classify, ErrorClass};
use super::sql::{self, preflight as q};

/// What the checks compare against (from the node's configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreflightOptions {
    pub checkpoint_interval: Duration,
    /// Open transactions older than this are reported; a restart may need redo this old.
    pub transaction_retention: Duration,
}

impl Default for PreflightOptions {
    fn default() -> Self {
        PreflightOptions {
            checkpoint_interval: Duration::from_secs(30),
            transaction_retention: Duration::from_secs(4 * 3600),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do, for a warning or failure.
    pub fix: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreflightReport {
    pub checks: Vec<Check>,
}

impl PreflightReport {
    /// No check failed (warnings allowed).
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }

    fn count(&self, s: Status) -> usize {
        self.checks.iter().filter(|c| c.status == s).count()
    }
}

impl fmt::Display for PreflightReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Oracle preflight: {} passed, {} warning(s), {} failed",
            self.count(Status::Pass),
            self.count(Status::Warn),
            self.count(Status::Fail)
        )?;
        for c in &self.checks {
            let tag = match c.status {
                Status::Pass => "PASS",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
            };
            writeln!(f, "[{tag}] {}: {}", c.name, c.detail)?;
            if let Some(fix) = &c.fix {
                for (i, line) in fix.lines().enumerate() {
                    let lead = if i == 0 { "fix:" } else { "    " };
                    writeln!(f, "       {lead} {line}")?;
                }
            }
        }
        if self.ok() {
            write!(f, "Ready to mine.")
        } else {
            write!(f, "Not ready: fix the FAIL lines and run the check again.")
        }
    }
}

/// Everything the checks look at. `None` / absent: the query failed (its error is in
/// `errors`, by query name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub user: String,
    pub version: Option<String>,
    /// LOG_MODE, SUPPLEMENTAL_LOG_DATA_MIN, _PK, _ALL, FORCE_LOGGING.
    pub database: Option<[String; 5]>,
    pub cdb: Option<bool>,
    /// The container the connection landed in.
    pub container: Option<String>,
    pub privileges: Option<BTreeSet<String>>,
    pub roles: Option<BTreeSet<String>>,
    /// SYS objects visible to the user (V_$... views, DBMS_LOGMNR).
    pub objects: Option<BTreeSet<String>>,
    /// Captured tables → their columns in COLUMN_ID order.
    pub tables: Option<BTreeMap<(String, String), Vec<String>>>,
    /// (owner, table) → log group types (`ALL COLUMN LOGGING`, `PRIMARY KEY LOGGING`, ...).
    pub log_groups: Option<BTreeMap<(String, String), Vec<String>>>,
    /// Columns of user-defined log groups logged on every update (`ALWAYS`).
    pub log_group_columns: Option<BTreeMap<(String, String), BTreeSet<String>>>,
    /// Columns of `CONDITIONAL` user-defined log groups: logged only when a column of the group
    /// changes, so they do not cover an update of other columns.
    pub conditional_columns: BTreeMap<(String, String), BTreeSet<String>>,
    /// The CDB's containers (12c and later, in a CDB).
    pub containers: Option<Vec<String>>,
    /// Supplemental logging set in the captured PDB (19c and later): MINIMAL, PRIMARY_KEY,
    /// ALL_COLUMN. `None` where the database has no such setting, or it could not be read.
    pub pdb_logging: Option<[String; 3]>,
    pub pk_columns: Option<BTreeMap<(String, String), BTreeSet<String>>>,
    /// (group, thread, bytes).
    pub redo_logs: Option<Vec<(u64, u16, u64)>>,
    /// Age of the oldest archived log on disk, and log switches in the last 24 h.
    pub archive: Option<(Option<Duration>, u64)>,
    pub errors: BTreeMap<&'static str, String>,
}

fn cell(r: &[Option<String>], i: usize) -> String {
    r.get(i).cloned().flatten().unwrap_or_default()
}

fn cell_u64(r: &[Option<String>], i: usize) -> Option<u64> {
    r.get(i)?.as_deref()?.trim().parse().ok()
}

fn set_of(rows: &TextRows) -> BTreeSet<String> {
    rows.iter()
        .map(|r| cell(r, 0).to_ascii_uppercase())
        .collect()
}

fn by_table<T: Default>(
    rows: &TextRows,
    mut add: impl FnMut(&mut T, &[Option<String>]),
) -> BTreeMap<(String, String), T> {
    let mut out: BTreeMap<(String, String), T> = BTreeMap::new();
    for r in rows {
        add(out.entry((cell(r, 0), cell(r, 1))).or_default(), r);
    }
    out
}

/// Runs the preflight queries on an open connection. Never fails: a query that fails is
/// recorded in [`Facts::errors`] and its check reports it.
pub fn gather(conn: &mut dyn OracleConnection, config: &OracleConfig) -> Facts {
    let mut f = Facts {
        user: config.user.clone(),
        ..Facts::default()
    };
    let mut run = |name: &'static str, sql: &str, errors: &mut BTreeMap<_, _>| match conn
        .query_text(sql, &[])
    {
        Ok(rows) => Some(rows),
        Err(e) => {
            errors.insert(name, e.to_string());
            None
        }
    };
    let e = &mut f.errors;
    f.version =
        run("version", q::VERSION, e).map(|r| r.first().map(|r| cell(r, 0)).unwrap_or_default());
    f.database = run("database", q::DATABASE, e).and_then(|r| {
        r.first()
            .map(|r| [cell(r, 0), cell(r, 1), cell(r, 2), cell(r, 3), cell(r, 4)])
    });
    let major = f.version.as_deref().and_then(major_version).unwrap_or(0);
    if major >= 12 {
        f.cdb = run("cdb", q::CDB, e).and_then(|r| r.first().map(|r| cell(r, 0) == "YES"));
        f.container =
            run("container", sql::CURRENT_CONTAINER, e).and_then(|r| r.first().map(|r| cell(r, 0)));
        if f.cdb == Some(true) {
            f.containers = run("containers", q::CONTAINERS, e)
                .map(|rows| rows.iter().map(|r| cell(r, 0)).collect());
        }
    } else if major > 0 {
        f.cdb = Some(false);
    }
    if major >= 19 && f.cdb == Some(true) {
        if let Some(query) = q::pdb_supplemental_logging(config) {
            // A failure here only means the PDB has no settings of its own to add.
            let mut ignored = BTreeMap::new();
            f.pdb_logging = run("pdb_logging", &query, &mut ignored)
                .and_then(|r| r.first().map(|r| [cell(r, 0), cell(r, 1), cell(r, 2)]));
        }
    }
    let e = &mut f.errors;
    f.privileges = run("session_privs", q::SESSION_PRIVS, e).map(|r| set_of(&r));
    f.roles = run("session_roles", q::SESSION_ROLES, e).map(|r| set_of(&r));
    f.objects = run("objects", q::ACCESSIBLE_OBJECTS, e).map(|r| set_of(&r));
    f.tables = run("tables", &q::captured_columns(config), e)
        .map(|r| by_table(&r, |v: &mut Vec<String>, r| v.push(cell(r, 2))));
    f.log_groups = run("log_groups", &q::log_groups(config), e)
        .map(|r| by_table(&r, |v: &mut Vec<String>, r| v.push(cell(r, 2))));
    if let Some(rows) = run("log_group_columns", &q::log_group_columns(config), e) {
        let conditional = |r: &Vec<Option<String>>| cell(r, 3).eq_ignore_ascii_case("CONDITIONAL");
        let (cond, always): (TextRows, TextRows) = rows.into_iter().partition(conditional);
        let columns = |rows: &TextRows| {
            by_table(rows, |v: &mut BTreeSet<String>, r| {
                v.insert(cell(r, 2));
            })
        };
        f.log_group_columns = Some(columns(&always));
        f.conditional_columns = columns(&cond);
    }
    f.pk_columns = run("pk_columns", &q::primary_key_columns(config), e).map(|r| {
        by_table(&r, |v: &mut BTreeSet<String>, r| {
            v.insert(cell(r, 2));
        })
    });
    f.redo_logs = run("redo_logs", q::REDO_LOGS, e).map(|rows| {
        rows.iter()
            .map(|r| {
                (
                    cell_u64(r, 0).unwrap_or(0),
                    cell_u64(r, 1).unwrap_or(1) as u16,
                    cell_u64(r, 2).unwrap_or(0),
                )
            })
            .collect()
    });
    f.archive = run("archive", q::ARCHIVE_RETENTION, e).map(|rows| match rows.first() {
        Some(r) => (
            cell_u64(r, 0).map(Duration::from_secs),
            cell_u64(r, 1).unwrap_or(0),
        ),
        None => (None, 0),
    });
    f
}

/// `19.0.0.0.0` → 19; `11.2.0.4.0` → 11.
pub fn major_version(v: &str) -> Option<u32> {
    v.trim().split('.').next()?.parse().ok()
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{:.1} h", s as f64 / 3600.0)
    } else if s >= 60 {
        format!("{:.1} min", s as f64 / 60.0)
    } else {
        format!("{s} s")
    }
}

fn unreadable(name: &'static str, what: &str, f: &Facts, key: &str) -> Check {
    let err = f.errors.get(key).cloned().unwrap_or_default();
    Check {
        name,
        status: Status::Fail,
        detail: format!("cannot read {what}: {err}"),
        fix: Some(format!(
            "grant the privileges of docs/oracle.md to {} (SELECT_CATALOG_ROLE or SELECT on the V$ views)",
            f.user
        )),
    }
}

/// The checks, from facts alone. See the module documentation.
pub fn evaluate(f: &Facts, config: &OracleConfig, opts: &PreflightOptions) -> PreflightReport {
    let mut checks = Vec::new();
    let user = &f.user;
    let major = f.version.as_deref().and_then(major_version);

    // Version.
    checks.push(match (&f.version, major) {
        (Some(v), Some(m)) if m >= 12 => Check {
            name: "database version",
            status: Status::Pass,
            detail: format!("Oracle {v}"),
            fix: None,
        },
        (Some(v), Some(11)) => Check {
            name: "database version",
            status: Status::Warn,
            detail: format!("Oracle {v}: 11g has no LOGMINING privilege and is out of support"),
            fix: Some(
                "use the 11g grants of docs/oracle.md; plan an upgrade to 19c or later".into(),
            ),
        },
        (Some(v), _) => Check {
            name: "database version",
            status: Status::Fail,
            detail: format!("Oracle {v} is not supported"),
            fix: Some("redoflow needs Oracle 11.2 or later (12c or later recommended)".into()),
        },
        (None, _) => unreadable("database version", "V$INSTANCE", f, "version"),
    });

    // CDB / PDB.
    let pdbs = || {
        f.containers
            .iter()
            .flatten()
            .filter(|n| !matches!(n.as_str(), "CDB$ROOT" | "PDB$SEED"))
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    let cdb_check = match (f.cdb, config.pdb_name()) {
        (Some(true), Some(pdb)) if f.containers.as_ref().is_some_and(|c| !c.contains(&pdb)) => {
            Check {
                name: "CDB / PDB",
                status: Status::Fail,
                detail: format!(
                    "`pdb` names {pdb:?}, which is no container of this CDB (its PDBs: {}): \
                     mining would find no row, ever",
                    pdbs()
                ),
                fix: Some(
                    "set `pdb` to one of the PDBs above (SELECT NAME FROM V$CONTAINERS); names \
                     are upper case unless created in double quotes"
                        .into(),
                ),
            }
        }
        (Some(true), Some(pdb)) => Check {
            name: "CDB / PDB",
            status: Status::Pass,
            detail: format!(
                "CDB; mining in CDB$ROOT (connected to {}), capturing PDB {pdb}",
                f.container.as_deref().unwrap_or("?")
            ),
            fix: None,
        },
        (Some(true), None) => Check {
            name: "CDB / PDB",
            status: Status::Fail,
            detail: "CDB without `pdb` set: the same OWNER.TABLE of two PDBs would merge into \
                one CSV, and CDB$ROOT's dictionary cannot see PDB tables; the node refuses to \
                start"
                .into(),
            fix: Some(format!(
                "set `pdb = \"<name>\"` in [source.oracle] to the PDB to capture (PDBs: {})",
                pdbs()
            )),
        },
        (Some(false), Some(pdb)) => Check {
            name: "CDB / PDB",
            status: Status::Fail,
            detail: format!("not a CDB, but `pdb = {pdb:?}` is set"),
            fix: Some("remove `pdb` from [source.oracle]".into()),
        },
        (Some(false), None) => Check {
            name: "CDB / PDB",
            status: Status::Pass,
            detail: "non-CDB".into(),
            fix: None,
        },
        (None, _) => unreadable("CDB / PDB", "V$DATABASE.CDB", f, "cdb"),
    };
    checks.push(cdb_check);

    match &f.database {
        Some([log_mode, min, pk, all, force]) => {
            checks.push(if log_mode == "ARCHIVELOG" {
                Check { name: "ARCHIVELOG mode", status: Status::Pass, detail: log_mode.clone(), fix: None }
            } else {
                Check {
                    name: "ARCHIVELOG mode",
                    status: Status::Fail,
                    detail: format!("LOG_MODE = {log_mode}: redo is overwritten before it can be mined"),
                    fix: Some("as SYSDBA: SHUTDOWN IMMEDIATE; STARTUP MOUNT; ALTER DATABASE ARCHIVELOG; ALTER DATABASE OPEN;".into()),
                }
            });
            checks.push(if min == "YES" || min == "IMPLICIT" {
                Check {
                    name: "minimal supplemental logging",
                    status: Status::Pass,
                    detail: format!("SUPPLEMENTAL_LOG_DATA_MIN = {min}"),
                    fix: None,
                }
            } else {
                Check {
                    name: "minimal supplemental logging",
                    status: Status::Fail,
                    detail: format!(
                        "SUPPLEMENTAL_LOG_DATA_MIN = {min}: LogMiner cannot rebuild row changes"
                    ),
                    fix: Some(
                        "ALTER DATABASE ADD SUPPLEMENTAL LOG DATA;  (in CDB$ROOT for a CDB)".into(),
                    ),
                }
            });
            checks.push(if force == "YES" {
                Check { name: "force logging", status: Status::Pass, detail: "FORCE_LOGGING = YES".into(), fix: None }
            } else {
                Check {
                    name: "force logging",
                    status: Status::Warn,
                    detail: format!("FORCE_LOGGING = {force}: NOLOGGING loads (direct-path inserts) are not in the redo and will be missed"),
                    fix: Some("ALTER DATABASE FORCE LOGGING;  (or never use NOLOGGING on captured tables)".into()),
                }
            });
            // In 19c and later a PDB can add PRIMARY KEY or ALL COLUMNS logging of its own.
            let pdb = |i: usize| f.pdb_logging.as_ref().is_some_and(|p| p[i] == "YES");
            checks.push(table_logging(
                f,
                pk == "YES" || pdb(1),
                all == "YES" || pdb(2),
            ));
        }
        None => checks.push(unreadable(
            "ARCHIVELOG mode and supplemental logging",
            "V$DATABASE",
            f,
            "database",
        )),
    }

    checks.push(privileges(f, config, major.unwrap_or(12)));
    checks.push(objects(f, user));
    checks.push(redo_size(f, opts));
    checks.push(retention(f, opts));
    PreflightReport { checks }
}

fn table_logging(f: &Facts, db_pk: bool, db_all: bool) -> Check {
    const NAME: &str = "ALL COLUMNS supplemental logging of captured tables";
    let Some(tables) = &f.tables else {
        return unreadable(NAME, "the captured tables (ALL_TAB_COLUMNS)", f, "tables");
    };
    if tables.is_empty() {
        return Check {
            name: NAME,
            status: Status::Fail,
            detail: "no captured table is visible to the user".into(),
            fix: Some(format!(
                "check `include` / `exclude`, and grant {} SELECT on the captured tables (ALL_TAB_COLUMNS only lists tables the user may read)",
                f.user
            )),
        };
    }
    if db_all {
        return Check {
            name: NAME,
            status: Status::Pass,
            detail: format!(
                "database-wide ALL COLUMNS logging covers the {} captured table(s)",
                tables.len()
            ),
            fix: None,
        };
    }
    let empty_groups = Vec::new();
    let empty = BTreeSet::new();
    let mut missing: Vec<(String, String)> = Vec::new();
    for (key, columns) in tables {
        let groups = f
            .log_groups
            .as_ref()
            .and_then(|g| g.get(key))
            .unwrap_or(&empty_groups);
        if groups.iter().any(|g| g == "ALL COLUMN LOGGING") {
            continue;
        }
        let pk_logged = db_pk || groups.iter().any(|g| g == "PRIMARY KEY LOGGING");
        let pk = f
            .pk_columns
            .as_ref()
            .and_then(|p| p.get(key))
            .unwrap_or(&empty);
        let user_cols = f
            .log_group_columns
            .as_ref()
            .and_then(|p| p.get(key))
            .unwrap_or(&empty);
        let missed: Vec<String> = columns
            .iter()
            .filter(|c| !(user_cols.contains(*c) || (pk_logged && pk.contains(*c))))
            .cloned()
            .collect();
        if !missed.is_empty() {
            let conditional: Vec<&str> = f
                .conditional_columns
                .get(key)
                .into_iter()
                .flatten()
                .filter(|c| missed.contains(c))
                .map(String::as_str)
                .collect();
            let mut what = missed.join(", ");
            if !conditional.is_empty() {
                what.push_str(&format!(
                    "; {} only in a CONDITIONAL log group, logged only when a column of the \
                     group changes",
                    conditional.join(", ")
                ));
            }
            missing.push((format!("{}.{}", key.0, key.1), what));
        }
    }
    if missing.is_empty() {
        return Check {
            name: NAME,
            status: Status::Pass,
            detail: format!("all {} captured table(s) log all columns", tables.len()),
            fix: None,
        };
    }
    let detail = missing
        .iter()
        .take(10)
        .map(|(t, cols)| format!("{t} (updates will miss {cols})"))
        .collect::<Vec<_>>()
        .join("; ");
    let more = if missing.len() > 10 {
        format!(" and {} more", missing.len() - 10)
    } else {
        String::new()
    };
    let fix = missing
        .iter()
        .map(|(t, _)| format!("ALTER TABLE {t} ADD SUPPLEMENTAL LOG DATA (ALL) COLUMNS;"))
        .collect::<Vec<_>>()
        .join("\n");
    Check {
        name: NAME,
        status: Status::Fail,
        detail: format!("{} table(s) without it: {detail}{more}", missing.len()),
        fix: Some(fix),
    }
}

fn privileges(f: &Facts, config: &OracleConfig, major: u32) -> Check {
    const NAME: &str = "privileges";
    let Some(privs) = &f.privileges else {
        return unreadable(NAME, "SESSION_PRIVS", f, "session_privs");
    };
    let roles = f.roles.clone().unwrap_or_default();
    let mut need: Vec<(&str, bool)> = vec![
        ("CREATE SESSION", privs.contains("CREATE SESSION")),
        (
            "SELECT ANY TRANSACTION",
            privs.contains("SELECT ANY TRANSACTION"),
        ),
    ];
    if major >= 12 {
        need.push(("LOGMINING", privs.contains("LOGMINING")));
    } else {
        need.push((
            "EXECUTE_CATALOG_ROLE",
            roles.contains("EXECUTE_CATALOG_ROLE"),
        ));
    }
    if config.pdb.is_some() {
        need.push(("SET CONTAINER", privs.contains("SET CONTAINER")));
    }
    let missing: Vec<&str> = need.iter().filter(|(_, ok)| !ok).map(|(p, _)| *p).collect();
    if missing.is_empty() {
        return Check {
            name: NAME,
            status: Status::Pass,
            detail: need.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(", "),
            fix: None,
        };
    }
    let container = if config.pdb.is_some() {
        " CONTAINER=ALL"
    } else {
        ""
    };
    Check {
        name: NAME,
        status: Status::Fail,
        detail: format!("missing {}", missing.join(", ")),
        fix: Some(
            missing
                .iter()
                .map(|p| format!("GRANT {p} TO {}{container};", f.user))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    }
}

const NEEDED_OBJECTS: &[&str] = &[
    "DBMS_LOGMNR",
    "GV_$TRANSACTION",
    "V_$ARCHIVED_LOG",
    "V_$DATABASE",
    "V_$DATABASE_INCARNATION",
    "V_$LOG",
    "V_$LOGFILE",
    "V_$LOGMNR_CONTENTS",
    "V_$THREAD",
];

fn objects(f: &Facts, user: &str) -> Check {
    const NAME: &str = "access to the LogMiner views and DBMS_LOGMNR";
    let Some(objects) = &f.objects else {
        return unreadable(NAME, "ALL_OBJECTS", f, "objects");
    };
    let any_dictionary = f
        .privileges
        .as_ref()
        .is_some_and(|p| p.contains("SELECT ANY DICTIONARY"));
    let missing: Vec<&str> = NEEDED_OBJECTS
        .iter()
        .copied()
        .filter(|o| !(objects.contains(*o) || (any_dictionary && o.contains("V_$"))))
        .collect();
    if missing.is_empty() {
        return Check {
            name: NAME,
            status: Status::Pass,
            detail: "all visible".into(),
            fix: None,
        };
    }
    Check {
        name: NAME,
        status: Status::Fail,
        detail: format!("not visible: {}", missing.join(", ")),
        fix: Some(
            missing
                .iter()
                .map(|o| {
                    if *o == "DBMS_LOGMNR" {
                        format!("GRANT EXECUTE ON SYS.DBMS_LOGMNR TO {user};")
                    } else {
                        format!("GRANT SELECT ON SYS.{o} TO {user};")
                    }
                })
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    }
}

fn redo_size(f: &Facts, opts: &PreflightOptions) -> Check {
    const NAME: &str = "redo log size";
    let (Some(logs), Some((_, switches))) = (&f.redo_logs, &f.archive) else {
        let key = if f.redo_logs.is_none() {
            "redo_logs"
        } else {
            "archive"
        };
        return unreadable(NAME, "V$LOG / V$ARCHIVED_LOG", f, key);
    };
    let smallest = logs.iter().map(|l| l.2).min().unwrap_or(0);
    let mib = smallest / (1024 * 1024);
    let groups = logs.len();
    if *switches == 0 {
        return Check {
            name: NAME,
            status: Status::Pass,
            detail: format!(
                "{groups} group(s), smallest {mib} MiB, no log switch in the last 24 h"
            ),
            fix: None,
        };
    }
    let interval = Duration::from_secs(86_400 / switches);
    let detail = format!(
        "{groups} group(s), smallest {mib} MiB; {switches} log switches in the last 24 h (one every {} on average), checkpoint every {}",
        human(interval),
        human(opts.checkpoint_interval)
    );
    let fix = Some("add larger redo log groups (ALTER DATABASE ADD LOGFILE THREAD n GROUP g SIZE 2G) and drop the small ones, so logs switch every 15-30 min at peak".to_string());
    if interval < opts.checkpoint_interval {
        Check { name: NAME, status: Status::Fail, detail: format!("{detail}: logs switch faster than checkpoints, every window restarts the LogMiner session"), fix }
    } else if interval < opts.checkpoint_interval * 10 || interval < Duration::from_secs(300) {
        Check {
            name: NAME,
            status: Status::Warn,
            detail: format!("{detail}: frequent log switches restart the LogMiner session often"),
            fix,
        }
    } else {
        Check {
            name: NAME,
            status: Status::Pass,
            detail,
            fix: None,
        }
    }
}

fn retention(f: &Facts, opts: &PreflightOptions) -> Check {
    const NAME: &str = "archived log retention";
    let Some((oldest, _)) = &f.archive else {
        return unreadable(NAME, "V$ARCHIVED_LOG", f, "archive");
    };
    // A restart resumes at the first captured change of the oldest transaction still open at
    // the last checkpoint (up to transaction_retention old; transactions that change no captured
    // table never count); keep at least that plus a day for the operator to react.
    let need = opts.transaction_retention + opts.checkpoint_interval + Duration::from_secs(86_400);
    let fix = Some(format!(
        "keep archived logs at least {} on disk (e.g. RMAN: DELETE ARCHIVELOG ALL COMPLETED BEFORE 'SYSDATE-2'; never sooner), and never delete logs the node has not mined",
        human(need)
    ));
    match oldest {
        None => Check {
            name: NAME,
            status: Status::Warn,
            detail: "no archived log on disk yet".into(),
            fix,
        },
        Some(age) if *age >= need => Check {
            name: NAME,
            status: Status::Pass,
            detail: format!("oldest archived log on disk is {} old (need {})", human(*age), human(need)),
            fix: None,
        },
        Some(age) => Check {
            name: NAME,
            status: Status::Warn,
            detail: format!(
                "oldest archived log on disk is {} old; a restart may need up to {} (transaction retention + checkpoint interval + 1 day margin)",
                human(*age),
                human(need)
            ),
            fix,
        },
    }
}

/// Connects with `connector` and checks. A failed connect is itself the (only) failed check,
/// with the hint of its error class.
pub fn check_with<C: OracleConnector>(
    connector: &mut C,
    config: &OracleConfig,
    opts: &PreflightOptions,
) -> PreflightReport {
    let mut conn = match connector.connect() {
        Ok(c) => c,
        Err(e) => {
            let fix = match classify(&e) {
                ErrorClass::Fatal { hint } => hint.to_string(),
                _ => "check that the database and its listener are up and reachable from this host, and `connect_string`".to_string(),
            };
            return PreflightReport {
                checks: vec![Check {
                    name: "connection",
                    status: Status::Fail,
                    detail: format!(
                        "cannot connect to {} as {}: {e}",
                        config.connect_string, config.user
                    ),
                    fix: Some(fix),
                }],
            };
        }
    };
    let facts = gather(&mut conn, config);
    let mut report = evaluate(&facts, config, opts);
    report.checks.insert(
        0,
        Check {
            name: "connection",
            status: Status::Pass,
            detail: format!("connected to {} as {}", config.connect_string, config.user),
            fix: None,
        },
    );
    report
}
