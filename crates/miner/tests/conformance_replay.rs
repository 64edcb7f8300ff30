//! The LogSource conformance suite against the replay source.

use std::path::{Path, PathBuf};

use redoflow_checkpoint::Scn;
use redoflow_miner::conformance::{check_order, check_source, read_range};
use redoflow_miner::ReplaySource;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/hr")
        .join(name)
}

#[test]
fn replay_source_conforms() {
    let contents = example("logmnr_contents.csv");
    let columns = example("all_tab_columns.csv");
    let open = || ReplaySource::open(&contents, Some(&columns)).unwrap();
    check_source(open, Scn(990), Scn(1029)).unwrap();
}

#[test]
fn the_suite_catches_a_source_out_of_order() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.csv");
    std::fs::write(
        &p,
        "SCN,OPERATION_CODE,XID,SQL_REDO,CSF\n10,6,0A,a,0\n12,1,0A,b,1\n11,1,0B,c,0\n",
    )
    .unwrap();
    let mut src = ReplaySource::open(&p, None).unwrap();
    let rows = read_range(&mut src, Scn(0), Scn(20), &[100]).unwrap();
    let err = check_order(&rows).unwrap_err();
    assert_eq!(err.check, "scn order", "{err}");
}
