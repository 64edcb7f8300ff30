//! Writes a generated LogMiner export (OLTP workload on two 10-column tables) for benchmarks:
//!
//!     cargo run --release --example gen_export -- ROWS DIR [SEED] [FIRST_SCN]
//!     cargo run --release --example gen_export -- 1000000 /tmp/export
//!
//! produces `/tmp/export/logmnr_contents.csv` and `/tmp/export/all_tab_columns.csv`. The SCNs
//! start just after FIRST_SCN (default 5000).

#[path = "../benches/support/export_gen.rs"]
mod export_gen;

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rows: u64 = args.next().unwrap_or_else(|| "1000000".into()).parse()?;
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "export".into()));
    let seed: u64 = args.next().map_or(Ok(1), |s| s.parse())?;
    let first_scn: u64 = args.next().map_or(Ok(5_000), |s| s.parse())?;
    fs::create_dir_all(&dir)?;
    let truth = export_gen::write_export_from(
        BufWriter::new(File::create(dir.join("logmnr_contents.csv"))?),
        rows,
        seed,
        first_scn,
    )?;
    export_gen::write_columns(BufWriter::new(File::create(
        dir.join("all_tab_columns.csv"),
    )?))?;
    println!(
        "{}: {} rows, {} committed transactions, {} committed changes",
        dir.display(),
        truth.rows,
        truth.committed_txns,
        truth.committed_changes.values().sum::<u64>()
    );
    Ok(())
}
