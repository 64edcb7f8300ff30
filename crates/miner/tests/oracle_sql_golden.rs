//! Golden files for every SQL text the Oracle source sends: `testdata/oracle/<name>.sql` for a
//! plain database, `<name>.cdb.sql` for a CDB with a PDB and include/exclude lists where the
//! text depends on the configuration. `REDOFLOW_BLESS=1` rewrites them.
#![cfg(feature = "oracle")]

use std::path::PathBuf;

use redoflow_miner::oracle::sql::all_statements;
use redoflow_miner::oracle::OracleConfig;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/oracle")
}

fn check(suffix: &str, config: &OracleConfig, plain: &[(&'static str, String)]) {
    let bless = std::env::var_os("REDOFLOW_BLESS").is_some();
    let mut failures = Vec::new();
    for (name, text) in all_statements(config) {
        let differs_from_plain = plain.iter().any(|(n, t)| *n == name && *t != text);
        if !suffix.is_empty() && !differs_from_plain {
            continue;
        }
        let path = dir().join(format!("{name}{suffix}.sql"));
        let want = format!("{text}\n");
        if bless {
            std::fs::write(&path, &want).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!(
                "{}:\n--- file\n{got}--- now\n{want}",
                path.display()
            )),
            Err(e) => failures.push(format!(
                "{}: {e} (run with REDOFLOW_BLESS=1)",
                path.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn sql_texts_match_golden_files() {
    let plain = OracleConfig::default();
    let plain_texts = all_statements(&plain);
    check("", &plain, &plain_texts);
    let cdb = OracleConfig {
        pdb: Some("SALESPDB".into()),
        include: vec!["SALES.*".into(), "HR.EMP*".into()],
        exclude: vec!["SALES.TMP_*".into()],
        ..OracleConfig::default()
    };
    check(".cdb", &cdb, &plain_texts);
}

#[test]
fn every_statement_is_single_and_balanced() {
    for (name, text) in all_statements(&OracleConfig::default()) {
        let opens = text.matches('(').count();
        let closes = text.matches(')').count();
        assert_eq!(opens, closes, "{name}: unbalanced parentheses");
        assert_eq!(
            text.matches('\'').count() % 2,
            0,
            "{name}: unbalanced quotes"
        );
        if name != "session_setup" && !text.starts_with("BEGIN") {
            assert!(!text.contains(';'), "{name}: SQL must not end in ';'");
        }
    }
}
