//! docs/oracle.md says what the code does: its table of `[source.oracle]` keys lists every key
//! the configuration accepts, and its table of error classes lists every code the source does
//! not treat as unknown, in the class the source gives it.
#![cfg(feature = "oracle")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use redoflow_miner::oracle::{classify, ErrorClass, OraError, OracleConfig};
use serde::de::value::{Error as DeError, MapDeserializer};
use serde::Deserialize;

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/oracle.md");
    std::fs::read_to_string(path).unwrap()
}

/// The table whose header row starts with `header`: its rows, split into cells.
fn table(doc: &str, header: &str) -> Vec<Vec<String>> {
    let mut lines = doc.lines().skip_while(|l| !l.starts_with(header));
    lines.next().expect("table header");
    lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn every_source_oracle_key_is_documented() {
    // The keys serde accepts, from its own "expected one of" message.
    let probe = MapDeserializer::<_, DeError>::new([("no_such_key_zz", 1u8)].into_iter());
    let message = OracleConfig::deserialize(probe).unwrap_err().to_string();
    let accepted: BTreeSet<String> = message
        .split("expected one of")
        .nth(1)
        .unwrap()
        .split(',')
        .map(|k| k.trim().trim_matches('`').to_string())
        .collect();
    let doc = doc();
    let documented: BTreeSet<String> = table(&doc, "| Key | Default | What it does |")
        .iter()
        .map(|r| r[0].trim_matches('`').to_string())
        .collect();
    assert_eq!(documented, accepted);
}

#[test]
fn every_error_code_is_in_the_documented_class() {
    let doc = doc();
    let rows = table(&doc, "| Class | Errors | What the node does |");
    let unknown = classify(&OraError::ora(904, "invalid identifier"));
    // Class name → (ORA codes, DPI codes) the table lists.
    let mut listed: BTreeMap<String, (BTreeSet<i32>, BTreeSet<i32>)> = BTreeMap::new();
    for r in &rows {
        let entry = listed.entry(r[0].clone()).or_default();
        let mut dpi = false;
        for word in r[1].split(|c: char| !c.is_ascii_alphanumeric() && c != '-') {
            if word.starts_with("DPI-") {
                dpi = true;
            } else if word.starts_with("ORA-") {
                dpi = false;
            }
            let digits = word.trim_start_matches("ORA-").trim_start_matches("DPI-");
            if digits.len() >= 4 && digits.bytes().all(|b| b.is_ascii_digit()) {
                let n = digits.parse().unwrap();
                if dpi {
                    entry.1.insert(n);
                } else {
                    entry.0.insert(n);
                }
            }
        }
    }
    let class_of = |name: &str| -> Box<dyn Fn(ErrorClass) -> bool> {
        match name {
            "Connection lost" => Box::new(|c| c == ErrorClass::Connection),
            "Log switch race" => Box::new(|c| c == ErrorClass::LogSwitchRace),
            "Transient" => Box::new(|c| c == ErrorClass::Transient),
            _ => Box::new(move |c| matches!(c, ErrorClass::Fatal { .. }) && c != unknown),
        }
    };
    // Every listed code has its class...
    for (name, (ora, dpi)) in &listed {
        let ok = class_of(name);
        for &code in ora.iter().filter(|&&c| c != 600) {
            assert!(
                ok(classify(&OraError::ora(code, "x"))),
                "ORA-{code:05} is not {name}"
            );
        }
        for &code in dpi {
            assert!(
                ok(classify(&OraError::dpi(code, "x"))),
                "DPI-{code} is not {name}"
            );
        }
    }
    // ...and every code with a class of its own is listed.
    let all_ora: BTreeSet<i32> = listed
        .values()
        .flat_map(|(o, _)| o.iter().copied())
        .collect();
    let all_dpi: BTreeSet<i32> = listed
        .values()
        .flat_map(|(_, d)| d.iter().copied())
        .collect();
    for code in 1..70_000 {
        if code != 600 && classify(&OraError::ora(code, "x")) != unknown {
            assert!(
                all_ora.contains(&code),
                "ORA-{code:05} is not in docs/oracle.md"
            );
        }
    }
    for code in 1000..1200 {
        if classify(&OraError::dpi(code, "x")) != classify(&OraError::dpi(1999, "x")) {
            assert!(
                all_dpi.contains(&code),
                "DPI-{code} is not in docs/oracle.md"
            );
        }
    }
    // The LogMiner ORA-00600s of the Transient row.
    let transient = &rows.iter().find(|r| r[0] == "Transient").unwrap()[1];
    for arg in ["krvrdGetUID", "krvrdccs10", "krvrdccs30"] {
        assert!(transient.contains(arg));
        let e = OraError::ora(600, format!("internal error code, arguments: [{arg}]"));
        assert_eq!(classify(&e), ErrorClass::Transient);
    }
}
