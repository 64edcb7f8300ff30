//! Catch-up: how many rounds (and how much planning time) the Planner needs to drain a backlog
//! of 1M rows, and to cross an SCN jump of 10^9. The source is a model (rows per SCN), so this
//! measures the Planner alone; the rounds are printed once per scenario.

use criterion::{criterion_group, criterion_main, Criterion};
use redoflow_checkpoint::Scn;
use redoflow_miner::planner::{Planner, PlannerConfig};

/// Drains `(from, current]` of a database with `density` rows per SCN; returns the rounds.
fn drain(p: &mut Planner, from: u64, current: u64, density: impl Fn(u64, u64) -> u64) -> u64 {
    let mut read = Scn(from);
    let mut rounds = 0;
    while let Some(end) = p.next_window(read, Scn(current)) {
        let rows = density(read.0, end.0);
        p.observe(read, end, rows, Scn(current));
        read = end;
        rounds += 1;
    }
    rounds
}

fn backlog(p: &mut Planner) -> u64 {
    // 1M rows at 4 rows per SCN after a quiet period.
    drain(p, 0, 1_000, |a, b| (b - a) / 100);
    drain(p, 1_000, 251_000, |a, b| (b - a) * 4)
}

fn jump(p: &mut Planner) -> u64 {
    drain(p, 0, 10_000, |a, b| b - a);
    // 10^9 SCNs with no rows, then 10 rows.
    let gap_end = 10_000 + 1_000_000_000;
    drain(p, 10_000, gap_end + 10, move |a, b| {
        if b > gap_end {
            b.min(gap_end + 10) - a.max(gap_end)
        } else {
            0
        }
    })
}

fn bench(c: &mut Criterion) {
    eprintln!(
        "backlog of 1M rows: {} rounds",
        backlog(&mut Planner::new(PlannerConfig::default()))
    );
    eprintln!(
        "SCN jump of 10^9: {} rounds (including the rows after it)",
        jump(&mut Planner::new(PlannerConfig::default()))
    );
    c.bench_function("planner/drain_1m_row_backlog", |b| {
        b.iter(|| backlog(&mut Planner::new(PlannerConfig::default())))
    });
    c.bench_function("planner/cross_1e9_scn_jump", |b| {
        b.iter(|| jump(&mut Planner::new(PlannerConfig::default())))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
