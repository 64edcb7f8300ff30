//! Preflight checks over recorded facts: a ready database and one that needs work.
#![cfg(feature = "oracle")]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use redoflow_miner::oracle::preflight::{evaluate, major_version, Facts, PreflightOptions, Status};
use redoflow_miner::oracle::OracleConfig;

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn key(o: &str, t: &str) -> (String, String) {
    (o.to_string(), t.to_string())
}

fn ready() -> Facts {
    Facts {
        user: "C##REDOFLOW".into(),
        version: Some("19.0.0.0.0".into()),
        database: Some(["ARCHIVELOG", "YES", "NO", "NO", "YES"].map(String::from)),
        cdb: Some(true),
        container: Some("CDB$ROOT".into()),
        privileges: Some(set(&[
            "CREATE SESSION",
            "SELECT ANY TRANSACTION",
            "LOGMINING",
            "SET CONTAINER",
            "SELECT ANY DICTIONARY",
        ])),
        roles: Some(set(&[])),
        objects: Some(set(&["DBMS_LOGMNR"])),
        tables: Some(BTreeMap::from([
            (key("SALES", "ORDERS"), vec!["ID".into(), "AMOUNT".into()]),
            (key("SALES", "ITEMS"), vec!["ID".into(), "SKU".into()]),
        ])),
        log_groups: Some(BTreeMap::from([
            (key("SALES", "ORDERS"), vec!["ALL COLUMN LOGGING".into()]),
            (key("SALES", "ITEMS"), vec!["ALL COLUMN LOGGING".into()]),
        ])),
        log_group_columns: Some(BTreeMap::new()),
        conditional_columns: BTreeMap::new(),
        containers: Some(vec![
            "CDB$ROOT".into(),
            "PDB$SEED".into(),
            "SALESPDB".into(),
            "HRPDB".into(),
        ]),
        pdb_logging: None,
        pk_columns: Some(BTreeMap::new()),
        redo_logs: Some(vec![(1, 1, 2 << 30), (2, 1, 2 << 30), (3, 1, 2 << 30)]),
        archive: Some((Some(Duration::from_secs(3 * 86_400)), 48)),
        errors: BTreeMap::new(),
    }
}

fn config() -> OracleConfig {
    OracleConfig {
        connect_string: "db:1521/ORCLCDB".into(),
        user: "C##REDOFLOW".into(),
        pdb: Some("SALESPDB".into()),
        include: vec!["SALES.*".into()],
        ..OracleConfig::default()
    }
}

#[test]
fn a_ready_database_passes_everything() {
    let report = evaluate(&ready(), &config(), &PreflightOptions::default());
    let text = report.to_string();
    assert!(report.ok(), "{text}");
    assert!(
        report.checks.iter().all(|c| c.status == Status::Pass),
        "{text}"
    );
    assert!(text.ends_with("Ready to mine."), "{text}");
}

#[test]
fn a_database_that_needs_work_says_what_to_do() {
    let mut f = ready();
    f.database = Some(["NOARCHIVELOG", "NO", "YES", "NO", "NO"].map(String::from));
    f.privileges = Some(set(&["CREATE SESSION"]));
    f.objects = Some(set(&[]));
    f.log_groups = Some(BTreeMap::from([(
        key("SALES", "ORDERS"),
        vec!["PRIMARY KEY LOGGING".into()],
    )]));
    f.pk_columns = Some(BTreeMap::from([(key("SALES", "ORDERS"), set(&["ID"]))]));
    f.redo_logs = Some(vec![(1, 1, 50 << 20), (2, 1, 50 << 20)]);
    f.archive = Some((Some(Duration::from_secs(3600)), 24 * 60 * 4));
    let opts = PreflightOptions {
        checkpoint_interval: Duration::from_secs(30),
        transaction_retention: Duration::from_secs(4 * 3600),
    };
    let report = evaluate(&f, &config(), &opts);
    let text = report.to_string();
    eprintln!("{text}");
    assert!(!report.ok());
    let status = |name: &str| {
        report
            .checks
            .iter()
            .find(|c| c.name.starts_with(name))
            .unwrap()
            .status
    };
    assert_eq!(status("ARCHIVELOG"), Status::Fail);
    assert_eq!(status("minimal supplemental"), Status::Fail);
    assert_eq!(status("force logging"), Status::Warn);
    assert_eq!(status("ALL COLUMNS"), Status::Fail);
    assert_eq!(status("privileges"), Status::Fail);
    assert_eq!(status("access to"), Status::Fail);
    assert_eq!(status("redo log size"), Status::Fail);
    assert_eq!(status("archived log retention"), Status::Warn);
    // Fixes are concrete statements.
    assert!(text.contains("ALTER DATABASE ARCHIVELOG"), "{text}");
    assert!(
        text.contains("ALTER DATABASE ADD SUPPLEMENTAL LOG DATA;"),
        "{text}"
    );
    assert!(
        text.contains("SALES.ORDERS (updates will miss AMOUNT)"),
        "{text}"
    );
    assert!(
        text.contains("SALES.ITEMS (updates will miss ID, SKU)"),
        "{text}"
    );
    assert!(
        text.contains("ALTER TABLE SALES.ITEMS ADD SUPPLEMENTAL LOG DATA (ALL) COLUMNS;"),
        "{text}"
    );
    assert!(
        text.contains("GRANT LOGMINING TO C##REDOFLOW CONTAINER=ALL;"),
        "{text}"
    );
    assert!(
        text.contains("GRANT SELECT ON SYS.V_$LOGMNR_CONTENTS TO C##REDOFLOW;"),
        "{text}"
    );
    assert!(
        text.contains("GRANT EXECUTE ON SYS.DBMS_LOGMNR TO C##REDOFLOW;"),
        "{text}"
    );
}

#[test]
fn unreadable_views_fail_with_the_error_and_11g_uses_its_grants() {
    let mut f = ready();
    f.database = None;
    f.errors
        .insert("database", "ORA-00942: table or view does not exist".into());
    f.version = Some("11.2.0.4.0".into());
    f.cdb = Some(false);
    f.roles = Some(set(&["EXECUTE_CATALOG_ROLE"]));
    let mut c = config();
    c.pdb = None;
    let report = evaluate(&f, &c, &PreflightOptions::default());
    let text = report.to_string();
    assert!(text.contains("cannot read V$DATABASE: ORA-00942"), "{text}");
    let privs = report
        .checks
        .iter()
        .find(|c| c.name == "privileges")
        .unwrap();
    assert_eq!(privs.status, Status::Pass, "{text}");
    assert_eq!(major_version("23.4.0.24.05"), Some(23));
}

fn check<'a>(
    report: &'a redoflow_miner::oracle::PreflightReport,
    name: &str,
) -> &'a redoflow_miner::oracle::preflight::Check {
    report
        .checks
        .iter()
        .find(|c| c.name.starts_with(name))
        .unwrap()
}

/// A CDB mined without `pdb` merges the same OWNER.TABLE of two PDBs into one CSV and reads
/// columns from CDB$ROOT, which cannot see PDB tables: a failure, not a warning. A `pdb` that
/// names no container (a lower-case name Oracle stores upper-cased, a typo) gives zero rows
/// forever: checked against V$CONTAINERS. (Oracle Database Utilities, "Requirements for
/// Mining in a CDB": LogMiner runs in CDB$ROOT and SRC_CON_NAME tells the PDB.)
#[test]
fn a_cdb_needs_a_pdb_that_exists() {
    let f = ready();
    let mut c = config();
    c.pdb = None;
    let report = evaluate(&f, &c, &PreflightOptions::default());
    let cdb = check(&report, "CDB / PDB");
    assert_eq!(cdb.status, Status::Fail, "{report}");
    assert!(
        cdb.fix.as_deref().unwrap().contains("SALESPDB, HRPDB"),
        "{report}"
    );

    // Lower case is Oracle's upper case: it passes.
    c.pdb = Some("salespdb".into());
    let report = evaluate(&f, &c, &PreflightOptions::default());
    assert_eq!(check(&report, "CDB / PDB").status, Status::Pass, "{report}");

    // A name V$CONTAINERS does not list fails, naming the PDBs there are.
    c.pdb = Some("SALES_PDB".into());
    let report = evaluate(&f, &c, &PreflightOptions::default());
    let cdb = check(&report, "CDB / PDB");
    assert_eq!(cdb.status, Status::Fail, "{report}");
    assert!(cdb.detail.contains("SALESPDB, HRPDB"), "{report}");
    // A quoted name keeps its case, and must match exactly.
    c.pdb = Some("\"SalesPdb\"".into());
    let report = evaluate(&f, &c, &PreflightOptions::default());
    assert_eq!(check(&report, "CDB / PDB").status, Status::Fail, "{report}");
}

/// A CONDITIONAL supplemental log group logs its columns only when one of them is updated
/// (Oracle Database Utilities, "Table-level User-Defined Supplemental Log Groups": "the
/// before-images of all specified columns are logged only if at least one of the columns in
/// the log group is updated"): it does not cover an update of other columns, whose row image
/// would then miss them.
#[test]
fn a_conditional_log_group_does_not_cover_its_columns() {
    let mut f = ready();
    f.log_groups = Some(BTreeMap::from([
        (key("SALES", "ORDERS"), vec!["USER LOG GROUP".into()]),
        (key("SALES", "ITEMS"), vec!["ALL COLUMN LOGGING".into()]),
    ]));
    f.log_group_columns = Some(BTreeMap::from([(key("SALES", "ORDERS"), set(&["ID"]))]));
    f.conditional_columns = BTreeMap::from([(key("SALES", "ORDERS"), set(&["AMOUNT"]))]);
    let report = evaluate(&f, &config(), &PreflightOptions::default());
    let logging = check(&report, "ALL COLUMNS");
    assert_eq!(logging.status, Status::Fail, "{report}");
    assert!(
        logging
            .detail
            .contains("AMOUNT only in a CONDITIONAL log group"),
        "{report}"
    );
    assert!(
        logging
            .fix
            .as_deref()
            .unwrap()
            .contains("ALTER TABLE SALES.ORDERS ADD SUPPLEMENTAL LOG DATA (ALL) COLUMNS;"),
        "{report}"
    );
    // The same columns in an ALWAYS group are covered.
    f.log_group_columns = Some(BTreeMap::from([(
        key("SALES", "ORDERS"),
        set(&["ID", "AMOUNT"]),
    )]));
    f.conditional_columns.clear();
    let report = evaluate(&f, &config(), &PreflightOptions::default());
    assert_eq!(
        check(&report, "ALL COLUMNS").status,
        Status::Pass,
        "{report}"
    );
}

/// From 19c a PDB can enable PRIMARY KEY or ALL COLUMNS supplemental logging of its own, which
/// V$DATABASE (the CDB's setting) does not show: CDB_SUPPLEMENTAL_LOGGING has it per
/// container (Oracle Database Utilities, "Enabling Supplemental Logging in a CDB": "additional
/// supplemental logging levels can be enabled at the PDB level").
#[test]
fn supplemental_logging_of_the_pdb_counts() {
    let mut f = ready();
    f.log_groups = Some(BTreeMap::new());
    let report = evaluate(&f, &config(), &PreflightOptions::default());
    assert_eq!(
        check(&report, "ALL COLUMNS").status,
        Status::Fail,
        "{report}"
    );
    f.pdb_logging = Some(["YES", "NO", "YES"].map(String::from));
    let report = evaluate(&f, &config(), &PreflightOptions::default());
    let logging = check(&report, "ALL COLUMNS");
    assert_eq!(logging.status, Status::Pass, "{report}");
    assert!(logging.detail.contains("database-wide"), "{report}");
}
