//! Every SQL text the Oracle source sends, built in one place so golden files
//! (`testdata/oracle/*.sql`) pin them. Binds are positional (`:1`, `:2`, ...); configuration
//! (table filters, the PDB name) is validated and inlined as literals so the statement text is
//! stable for the statement cache.

use super::config::{NamePattern, OracleConfig, TablePattern};

/// Schemas Oracle ships; their changes are never captured, whatever `include` says.
pub const BUILTIN_SCHEMAS: &[&str] = &[
    "ANONYMOUS",
    "APPQOSSYS",
    "AUDSYS",
    "CTXSYS",
    "DBSFWUSER",
    "DBSNMP",
    "DGPDB_INT",
    "DIP",
    "DVF",
    "DVSYS",
    "GGSHAREDCAP",
    "GGSYS",
    "GSMADMIN_INTERNAL",
    "GSMCATUSER",
    "GSMROOTUSER",
    "GSMUSER",
    "LBACSYS",
    "MDDATA",
    "MDSYS",
    "OJVMSYS",
    "OLAPSYS",
    "ORACLE_OCM",
    "ORDDATA",
    "ORDPLUGINS",
    "ORDSYS",
    "OUTLN",
    "REMOTE_SCHEDULER_AGENT",
    "SI_INFORMTN_SCHEMA",
    "SYS",
    "SYS$UMF",
    "SYSBACKUP",
    "SYSDG",
    "SYSKM",
    "SYSRAC",
    "SYSTEM",
    "VECSYS",
    "WMSYS",
    "XDB",
    "XS$NULL",
];

/// Session settings: the NLS formats the row conversion and SQL_REDO parser expect, and UTC.
pub fn session_setup() -> Vec<String> {
    [
        "ALTER SESSION SET NLS_DATE_FORMAT = 'YYYY-MM-DD HH24:MI:SS'",
        "ALTER SESSION SET NLS_TIMESTAMP_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF9'",
        "ALTER SESSION SET NLS_TIMESTAMP_TZ_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF9 TZH:TZM'",
        "ALTER SESSION SET NLS_NUMERIC_CHARACTERS = '.,'",
        "ALTER SESSION SET TIME_ZONE = '00:00'",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

pub const CURRENT_CONTAINER: &str = "SELECT SYS_CONTEXT('USERENV', 'CON_NAME') FROM DUAL";
pub const SET_CONTAINER_ROOT: &str = "ALTER SESSION SET CONTAINER = CDB$ROOT";

pub const CURRENT_SCN: &str = "SELECT CURRENT_SCN FROM V$DATABASE";

/// What makes the database this one: DBID (the same for a standby or a clone of it) and the
/// incarnation (a RESETLOGS starts a new redo stream in which old SCNs mean other changes).
pub const DATABASE_IDENTITY: &str = "SELECT DBID, NAME, RESETLOGS_CHANGE# FROM V$DATABASE";

/// Redo threads; the window end is capped below the lowest LAST_REDO_CHANGE# of the open ones,
/// and a closed or disabled thread is checked up to its CHECKPOINT_CHANGE# / DISABLE_CHANGE#.
pub const THREADS: &str = "SELECT THREAD#, STATUS, ENABLED, SEQUENCE#, LAST_REDO_CHANGE#, \
ENABLE_CHANGE#, CHECKPOINT_CHANGE#, DISABLE_CHANGE# FROM V$THREAD ORDER BY THREAD#";

/// Online redo logs with one row per member; INVALID / DELETED members are unusable, and a
/// STALE member (its contents incomplete) is used only when its group has no other.
pub const ONLINE_LOGS: &str = "SELECT L.THREAD#, L.SEQUENCE#, L.FIRST_CHANGE#, L.NEXT_CHANGE#, \
L.STATUS, L.ARCHIVED, F.MEMBER, L.BYTES, F.STATUS FROM V$LOG L JOIN V$LOGFILE F ON \
F.GROUP# = L.GROUP# WHERE L.STATUS <> 'UNUSED' AND (F.STATUS IS NULL OR F.STATUS NOT IN \
('INVALID', 'DELETED')) ORDER BY L.THREAD#, L.SEQUENCE#, F.MEMBER";

/// The CURRENT log of each thread, for log switch detection.
pub const CURRENT_SEQUENCES: &str =
    "SELECT THREAD#, SEQUENCE# FROM V$LOG WHERE STATUS = 'CURRENT' ORDER BY THREAD#";

/// Archived logs of the current incarnation still on disk that reach past `:1` (the start SCN).
pub const ARCHIVED_LOGS: &str = "SELECT NAME, THREAD#, SEQUENCE#, FIRST_CHANGE#, NEXT_CHANGE#, \
DEST_ID FROM V$ARCHIVED_LOG WHERE NAME IS NOT NULL AND STATUS = 'A' AND DELETED = 'NO' \
AND ARCHIVED = 'YES' AND STANDBY_DEST = 'NO' AND NEXT_CHANGE# > :1 AND RESETLOGS_ID = \
(SELECT RESETLOGS_ID FROM V$DATABASE_INCARNATION WHERE STATUS = 'CURRENT') \
ORDER BY THREAD#, SEQUENCE#, DEST_ID";

/// Per thread, the highest sequence of the archived logs on disk that end at or before `:1` (the
/// start SCN): a thread whose first log starts after the start SCN was closed in between if its
/// sequences continue from that one (DBZ-8724).
pub const ARCHIVED_BEFORE: &str = "SELECT THREAD#, MAX(SEQUENCE#) FROM V$ARCHIVED_LOG WHERE \
NAME IS NOT NULL AND STATUS = 'A' AND DELETED = 'NO' AND ARCHIVED = 'YES' AND STANDBY_DEST = 'NO' \
AND NEXT_CHANGE# <= :1 AND RESETLOGS_ID = (SELECT RESETLOGS_ID FROM V$DATABASE_INCARNATION \
WHERE STATUS = 'CURRENT') GROUP BY THREAD# ORDER BY THREAD#";

/// Per thread, the first SCN of the oldest log on disk (archived or online), for
/// `mining.start = "earliest"`.
pub const OLDEST_LOGS: &str = "SELECT THREAD#, MIN(FIRST_CHANGE#) FROM (SELECT THREAD#, \
FIRST_CHANGE# FROM V$ARCHIVED_LOG WHERE NAME IS NOT NULL AND STATUS = 'A' AND DELETED = 'NO' AND \
ARCHIVED = 'YES' AND STANDBY_DEST = 'NO' AND RESETLOGS_ID = (SELECT RESETLOGS_ID FROM \
V$DATABASE_INCARNATION WHERE STATUS = 'CURRENT') UNION ALL SELECT THREAD#, FIRST_CHANGE# FROM \
V$LOG WHERE STATUS <> 'UNUSED') GROUP BY THREAD# ORDER BY THREAD#";

/// Transactions open in every instance (GV$: V$TRANSACTION shows one instance's only), with
/// their first SCN: a first start at the current SCN mines from the oldest of them.
pub const OPEN_TRANSACTIONS: &str =
    "SELECT RAWTOHEX(XID), START_SCN FROM GV$TRANSACTION ORDER BY START_SCN";

/// `YES` in a CDB (12c and later; 11g has no such column: ORA-00904).
pub const IS_CDB: &str = "SELECT CDB FROM V$DATABASE";

/// The containers of a CDB.
pub const CONTAINERS: &str = "SELECT NAME FROM V$CONTAINERS ORDER BY CON_ID";

/// `:1` file name. The first file of a session starts a new list.
pub const ADD_LOGFILE_NEW: &str = "BEGIN SYS.DBMS_LOGMNR.ADD_LOGFILE(LOGFILENAME => :1, \
OPTIONS => SYS.DBMS_LOGMNR.NEW); END;";
pub const ADD_LOGFILE: &str = "BEGIN SYS.DBMS_LOGMNR.ADD_LOGFILE(LOGFILENAME => :1, \
OPTIONS => SYS.DBMS_LOGMNR.ADDFILE); END;";

/// `:1` start SCN (inclusive), `:2` end SCN (inclusive): one call per window, over the files of
/// the session, with the dictionary of the online catalog. The start is the session's (one after
/// the oldest open transaction's first change, or the read position), not the window's: LogMiner
/// started inside a transaction reports its changes as UNSUPPORTED (DBZ-8747); the contents
/// query keeps the window's own bounds. `NO_ROWID_IN_STMT` leaves the
/// `and ROWID = '...'` clause out of SQL_REDO (the row id comes in its own ROW_ID column, which
/// is what partial rollbacks are matched by): 32 bytes less per UPDATE and DELETE to send,
/// fetch and parse, about 6% of SQL_REDO (Debezium starts its sessions the same way). The
/// WHERE clause keeps its column conditions: preflight requires ALL COLUMNS (or primary key)
/// supplemental logging of the captured tables.
pub const START_LOGMNR: &str = "BEGIN SYS.DBMS_LOGMNR.START_LOGMNR(STARTSCN => :1, ENDSCN => :2, \
OPTIONS => SYS.DBMS_LOGMNR.DICT_FROM_ONLINE_CATALOG + SYS.DBMS_LOGMNR.NO_ROWID_IN_STMT); END;";

pub const END_LOGMNR: &str = "BEGIN SYS.DBMS_LOGMNR.END_LOGMNR; END;";

/// The columns of SPEC.md §2, in the order [`super::rows`] reads them.
pub const CONTENTS_COLUMNS: &str = "SCN, TIMESTAMP, XID, OPERATION_CODE, SEG_OWNER, TABLE_NAME, \
ROW_ID, ROLLBACK, CSF, SQL_REDO, THREAD#, RS_ID, SSN, STATUS, INFO";

/// Operation codes of transaction control, kept whatever their table (they have none).
const TXN_CODES: &str = "6, 7, 27, 34, 36";
/// Operation codes tied to a table, kept for captured tables only (and for objects LogMiner
/// cannot name: see [`contents_query`]).
const TABLE_CODES: &str = "1, 2, 3, 5, 255";

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn like_literal(prefix: &str) -> String {
    let escaped = prefix
        .replace('\\', "\\\\")
        .replace('_', "\\_")
        .replace('%', "\\%");
    format!("{} ESCAPE '\\'", literal(&format!("{escaped}%")))
}

fn name_condition(column: &str, p: &NamePattern) -> Option<String> {
    match p {
        NamePattern::Any => None,
        NamePattern::Exact(n) => Some(format!("{column} = {}", literal(n))),
        NamePattern::Prefix(n) => Some(format!("{column} LIKE {}", like_literal(n))),
    }
}

fn pattern_condition(owner_col: &str, table_col: &str, p: &TablePattern) -> String {
    let parts: Vec<String> = [
        name_condition(owner_col, &p.owner),
        name_condition(table_col, &p.table),
    ]
    .into_iter()
    .flatten()
    .collect();
    match parts.len() {
        0 => "1 = 1".to_string(),
        1 => parts.into_iter().next().unwrap_or_default(),
        _ => format!("({})", parts.join(" AND ")),
    }
}

/// The captured-table condition over `owner_col` / `table_col`: never a built-in schema nor a
/// materialized view log (`MLOG$_...`), in `include` (when given), in no `exclude` pattern.
/// [`OracleConfig::captures`] is the same rule.
pub fn table_filter(config: &OracleConfig, owner_col: &str, table_col: &str) -> String {
    let builtin: Vec<String> = BUILTIN_SCHEMAS.iter().map(|s| literal(s)).collect();
    let mut conds = vec![
        format!("{owner_col} NOT IN ({})", builtin.join(", ")),
        format!("{table_col} NOT LIKE {}", like_literal("MLOG$_")),
    ];
    let include = config.include_patterns();
    if !include.is_empty() {
        let any: Vec<String> = include
            .iter()
            .map(|p| pattern_condition(owner_col, table_col, p))
            .collect();
        conds.push(format!("({})", any.join(" OR ")));
    }
    for p in config.exclude_patterns() {
        conds.push(format!(
            "NOT {}",
            pattern_condition(owner_col, table_col, &p)
        ));
    }
    conds.join(" AND ")
}

/// The mining query over the window `(:1, :2]`. Rows of objects LogMiner cannot name (owner
/// `UNKNOWN`, table `OBJ# n`) pass the table filter: which table they were cannot be told from
/// the name, so the source looks the object number up and drops the uncaptured ones itself.
pub fn contents_query(config: &OracleConfig) -> String {
    let mut sql = format!(
        "SELECT {CONTENTS_COLUMNS} FROM V$LOGMNR_CONTENTS WHERE SCN > :1 AND SCN <= :2 AND \
(OPERATION_CODE IN ({TXN_CODES}) OR (OPERATION_CODE IN ({TABLE_CODES}) AND (SEG_OWNER = \
'UNKNOWN' OR ({}))))",
        table_filter(config, "SEG_OWNER", "TABLE_NAME")
    );
    if let Some(pdb) = config.pdb_name() {
        sql.push_str(&format!(" AND SRC_CON_NAME = {}", literal(&pdb)));
    }
    sql
}

/// The owner and name of an object (`:1` its object number, as in `OBJ# n`); in a CDB from the
/// PDB's dictionary.
pub fn object_name(config: &OracleConfig) -> String {
    match config.pdb_name() {
        None => "SELECT OWNER, OBJECT_NAME FROM ALL_OBJECTS WHERE OBJECT_ID = :1".to_string(),
        Some(pdb) => format!(
            "SELECT O.OWNER, O.OBJECT_NAME FROM CDB_OBJECTS O JOIN V$CONTAINERS P ON \
P.CON_ID = O.CON_ID WHERE P.NAME = {} AND O.OBJECT_ID = :1",
            literal(&pdb)
        ),
    }
}

/// A table's columns (`:1` owner, `:2` table); in a CDB from the PDB's dictionary via
/// CDB_TAB_COLUMNS (the session stays in CDB$ROOT).
pub fn table_columns(config: &OracleConfig) -> String {
    match config.pdb_name() {
        None => "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_ID FROM ALL_TAB_COLUMNS WHERE OWNER = :1 \
AND TABLE_NAME = :2 AND COLUMN_ID IS NOT NULL ORDER BY COLUMN_ID"
            .to_string(),
        Some(pdb) => format!(
            "SELECT C.COLUMN_NAME, C.DATA_TYPE, C.COLUMN_ID FROM CDB_TAB_COLUMNS C JOIN \
V$CONTAINERS P ON P.CON_ID = C.CON_ID WHERE P.NAME = {} AND C.OWNER = :1 AND C.TABLE_NAME = :2 \
AND C.COLUMN_ID IS NOT NULL ORDER BY C.COLUMN_ID",
            literal(&pdb)
        ),
    }
}

/// Preflight queries (read-only).
pub mod preflight {
    use super::*;

    pub const VERSION: &str = "SELECT VERSION FROM V$INSTANCE";
    pub const DATABASE: &str = "SELECT LOG_MODE, SUPPLEMENTAL_LOG_DATA_MIN, \
SUPPLEMENTAL_LOG_DATA_PK, SUPPLEMENTAL_LOG_DATA_ALL, FORCE_LOGGING FROM V$DATABASE";
    /// 12c and later only.
    pub const CDB: &str = "SELECT CDB FROM V$DATABASE";
    pub const SESSION_PRIVS: &str = "SELECT PRIVILEGE FROM SESSION_PRIVS";
    pub const SESSION_ROLES: &str = "SELECT ROLE FROM SESSION_ROLES";
    /// The SYS objects the source uses that this user can see (V$ views are synonyms of the
    /// SYS.V_$ views).
    pub const ACCESSIBLE_OBJECTS: &str = "SELECT OBJECT_NAME FROM ALL_OBJECTS WHERE OWNER = 'SYS' \
AND OBJECT_NAME IN ('DBMS_LOGMNR', 'V_$DATABASE', 'V_$THREAD', 'V_$LOG', 'V_$LOGFILE', \
'V_$ARCHIVED_LOG', 'V_$DATABASE_INCARNATION', 'V_$LOGMNR_CONTENTS', 'V_$INSTANCE', 'V_$CONTAINERS', \
'GV_$TRANSACTION') ORDER BY OBJECT_NAME";
    /// Redo log groups and sizes.
    pub const REDO_LOGS: &str =
        "SELECT GROUP#, THREAD#, BYTES, MEMBERS FROM V$LOG ORDER BY THREAD#, GROUP#";
    /// Age in seconds of the oldest archived log still on disk, and log switches in the last day.
    pub const ARCHIVE_RETENTION: &str = "SELECT ROUND((SYSDATE - MIN(FIRST_TIME)) * 86400), \
SUM(CASE WHEN FIRST_TIME > SYSDATE - 1 THEN 1 ELSE 0 END) FROM V$ARCHIVED_LOG WHERE NAME IS NOT \
NULL AND STATUS = 'A' AND DELETED = 'NO' AND STANDBY_DEST = 'NO' AND DEST_ID = (SELECT \
MIN(DEST_ID) FROM V$ARCHIVED_LOG WHERE STATUS = 'A' AND STANDBY_DEST = 'NO')";

    /// The dictionary view to read (`ALL_x`, or `CDB_x` in a CDB) and the condition that keeps
    /// the PDB's rows, for the view under `alias`.
    fn scope(config: &OracleConfig, view: &str, alias: &str) -> (String, String) {
        match config.pdb_name() {
            None => (format!("ALL_{view} {alias}"), String::new()),
            Some(pdb) => (
                format!("CDB_{view} {alias}"),
                format!(
                    " AND {alias}.CON_ID = (SELECT CON_ID FROM V$CONTAINERS WHERE NAME = {})",
                    literal(&pdb)
                ),
            ),
        }
    }

    /// Captured tables (not views, not temporary tables: those have no redo to mine) with
    /// their columns.
    pub fn captured_columns(config: &OracleConfig) -> String {
        let (cols, con) = scope(config, "TAB_COLUMNS", "C");
        let (tables, _) = scope(config, "TABLES", "T");
        let same_con = if config.pdb.is_some() {
            " AND T.CON_ID = C.CON_ID"
        } else {
            ""
        };
        format!(
            "SELECT C.OWNER, C.TABLE_NAME, C.COLUMN_NAME FROM {cols} JOIN {tables} ON \
T.OWNER = C.OWNER AND T.TABLE_NAME = C.TABLE_NAME{same_con} WHERE T.TEMPORARY = 'N' AND {}{con} \
ORDER BY C.OWNER, C.TABLE_NAME, C.COLUMN_ID",
            table_filter(config, "C.OWNER", "C.TABLE_NAME"),
        )
    }

    /// Table-level supplemental log groups of captured tables.
    pub fn log_groups(config: &OracleConfig) -> String {
        let (view, con) = scope(config, "LOG_GROUPS", "G");
        format!(
            "SELECT G.OWNER, G.TABLE_NAME, G.LOG_GROUP_TYPE, G.ALWAYS FROM {view} WHERE {}{con} \
ORDER BY G.OWNER, G.TABLE_NAME, G.LOG_GROUP_TYPE",
            table_filter(config, "G.OWNER", "G.TABLE_NAME")
        )
    }

    /// Columns of user-defined log groups of captured tables, with the group's `ALWAYS`
    /// (`CONDITIONAL` groups log their columns only when one of them changes).
    pub fn log_group_columns(config: &OracleConfig) -> String {
        let (view, con) = scope(config, "LOG_GROUP_COLUMNS", "C");
        let (groups, _) = scope(config, "LOG_GROUPS", "G");
        let same_con = if config.pdb.is_some() {
            " AND G.CON_ID = C.CON_ID"
        } else {
            ""
        };
        format!(
            "SELECT C.OWNER, C.TABLE_NAME, C.COLUMN_NAME, G.ALWAYS FROM {view} JOIN {groups} ON \
G.OWNER = C.OWNER AND G.LOG_GROUP_NAME = C.LOG_GROUP_NAME{same_con} WHERE {}{con} \
ORDER BY C.OWNER, C.TABLE_NAME, C.COLUMN_NAME",
            table_filter(config, "C.OWNER", "C.TABLE_NAME")
        )
    }

    /// The containers of the CDB (12c and later), to check `pdb` against.
    pub const CONTAINERS: &str = super::CONTAINERS;

    /// Supplemental logging set in the captured PDB itself (19c and later), which adds to the
    /// CDB-wide settings of V$DATABASE: MINIMAL, PRIMARY_KEY, ALL_COLUMN.
    pub fn pdb_supplemental_logging(config: &OracleConfig) -> Option<String> {
        let pdb = config.pdb_name()?;
        Some(format!(
            "SELECT S.MINIMAL, S.PRIMARY_KEY, S.ALL_COLUMN FROM CDB_SUPPLEMENTAL_LOGGING S WHERE \
S.CON_ID = (SELECT CON_ID FROM V$CONTAINERS WHERE NAME = {})",
            literal(&pdb)
        ))
    }

    /// Primary-key columns of captured tables (covered by PRIMARY KEY supplemental logging).
    pub fn primary_key_columns(config: &OracleConfig) -> String {
        let (cons, con) = scope(config, "CONSTRAINTS", "C");
        let (cols, _) = scope(config, "CONS_COLUMNS", "K");
        let same_con = if config.pdb.is_some() {
            " AND K.CON_ID = C.CON_ID"
        } else {
            ""
        };
        format!(
            "SELECT C.OWNER, C.TABLE_NAME, K.COLUMN_NAME FROM {cons} JOIN {cols} ON \
K.OWNER = C.OWNER AND K.CONSTRAINT_NAME = C.CONSTRAINT_NAME{same_con} WHERE \
C.CONSTRAINT_TYPE = 'P' AND {}{con} ORDER BY C.OWNER, C.TABLE_NAME, K.COLUMN_NAME",
            table_filter(config, "C.OWNER", "C.TABLE_NAME"),
        )
    }
}

/// Every text above, named, for the golden tests (`testdata/oracle/<name>.sql`), rendered with
/// `config`.
pub fn all_statements(config: &OracleConfig) -> Vec<(&'static str, String)> {
    vec![
        ("session_setup", session_setup().join(";\n")),
        ("current_container", CURRENT_CONTAINER.into()),
        ("set_container_root", SET_CONTAINER_ROOT.into()),
        ("current_scn", CURRENT_SCN.into()),
        ("threads", THREADS.into()),
        ("online_logs", ONLINE_LOGS.into()),
        ("current_sequences", CURRENT_SEQUENCES.into()),
        ("archived_logs", ARCHIVED_LOGS.into()),
        ("archived_before", ARCHIVED_BEFORE.into()),
        ("oldest_logs", OLDEST_LOGS.into()),
        ("open_transactions", OPEN_TRANSACTIONS.into()),
        ("is_cdb", IS_CDB.into()),
        ("containers", CONTAINERS.into()),
        ("object_name", object_name(config)),
        ("add_logfile_new", ADD_LOGFILE_NEW.into()),
        ("add_logfile", ADD_LOGFILE.into()),
        ("start_logmnr", START_LOGMNR.into()),
        ("end_logmnr", END_LOGMNR.into()),
        ("contents", contents_query(config)),
        ("table_columns", table_columns(config)),
        ("preflight_version", preflight::VERSION.into()),
        ("preflight_database", preflight::DATABASE.into()),
        ("preflight_cdb", preflight::CDB.into()),
        ("preflight_session_privs", preflight::SESSION_PRIVS.into()),
        ("preflight_session_roles", preflight::SESSION_ROLES.into()),
        (
            "preflight_accessible_objects",
            preflight::ACCESSIBLE_OBJECTS.into(),
        ),
        ("preflight_redo_logs", preflight::REDO_LOGS.into()),
        (
            "preflight_archive_retention",
            preflight::ARCHIVE_RETENTION.into(),
        ),
        (
            "preflight_captured_columns",
            preflight::captured_columns(config),
        ),
        ("preflight_log_groups", preflight::log_groups(config)),
        (
            "preflight_log_group_columns",
            preflight::log_group_columns(config),
        ),
        (
            "preflight_primary_key_columns",
            preflight::primary_key_columns(config),
        ),
        (
            "preflight_pdb_supplemental_logging",
            preflight::pdb_supplemental_logging(config).unwrap_or_default(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_pushes_include_and_exclude() {
        let c = OracleConfig {
            include: vec!["HR.*".into(), "APP.ORD_*".into()],
            exclude: vec!["HR.TMP*".into()],
            ..OracleConfig::default()
        };
        let f = table_filter(&c, "SEG_OWNER", "TABLE_NAME");
        assert!(f.starts_with("SEG_OWNER NOT IN ('ANONYMOUS'"), "{f}");
        assert!(f.contains("'SYS', "), "{f}");
        assert!(
            f.contains("(SEG_OWNER = 'HR' OR (SEG_OWNER = 'APP' AND TABLE_NAME LIKE 'ORD\\_%' ESCAPE '\\'))"),
            "{f}"
        );
        assert!(
            f.ends_with("NOT (SEG_OWNER = 'HR' AND TABLE_NAME LIKE 'TMP%' ESCAPE '\\')"),
            "{f}"
        );
    }

    #[test]
    fn contents_query_filters_window_codes_and_pdb() {
        let c = OracleConfig {
            pdb: Some("PDB1".into()),
            ..OracleConfig::default()
        };
        let q = contents_query(&c);
        assert!(q.contains("WHERE SCN > :1 AND SCN <= :2"));
        assert!(q.contains("OPERATION_CODE IN (6, 7, 27, 34, 36)"));
        assert!(q.ends_with("AND SRC_CON_NAME = 'PDB1'"));
        assert!(!q.contains("68"));
        // A lower-case name is Oracle's upper-case one; a quoted one is kept.
        let lower = contents_query(&OracleConfig {
            pdb: Some("pdb1".into()),
            ..OracleConfig::default()
        });
        assert!(lower.ends_with("AND SRC_CON_NAME = 'PDB1'"), "{lower}");
        let quoted = contents_query(&OracleConfig {
            pdb: Some("\"Pdb1\"".into()),
            ..OracleConfig::default()
        });
        assert!(quoted.ends_with("AND SRC_CON_NAME = 'Pdb1'"), "{quoted}");
    }
}
