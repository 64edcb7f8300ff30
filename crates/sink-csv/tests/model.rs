//! Model-based test (STYLE.md 14): random write / schema change / checkpoint / crash / recover
//! sequences against a model holding the rows of committed checkpoints per table.

mod common;

use std::borrow::Cow;

use common::*;
use proptest::prelude::*;
use redoflow_checkpoint::Checkpoint;
use redoflow_miner::schema::TableSchema;
use redoflow_miner::value::Value;
use redoflow_sink_csv::naming::table_dir_name;
use redoflow_sink_csv::{finish_checkpoint, recover, verify, CsvSink, SinkConfig};

const TABLES: [(&str, &str); 3] = [("HR", "EMP"), ("HR", "DEPT"), ("_S", "T/x,y")];

#[derive(Clone, Debug)]
enum Op {
    Write { table: usize, text: String },
    ChangeSchema { table: usize },
    Checkpoint,
    PrepareThenCrash { committed: bool, finish: bool },
    CrashMidWrite,
    Recover,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0..TABLES.len(), "[a-c,\"\r\n é✓]{0,12}")
            .prop_map(|(table, text)| Op::Write { table, text }),
        1 => (0..TABLES.len()).prop_map(|table| Op::ChangeSchema { table }),
        3 => Just(Op::Checkpoint),
        1 => (any::<bool>(), any::<bool>())
            .prop_map(|(committed, finish)| Op::PrepareThenCrash { committed, finish }),
        1 => Just(Op::CrashMidWrite),
        2 => Just(Op::Recover),
    ]
}

type Rows = Vec<Vec<Vec<String>>>; // per table, rows of (scn, values...)

struct World {
    cfg: SinkConfig,
    sink: Option<CsvSink>,
    term: u64,
    schemas: Vec<TableSchema>,
    last_committed: Option<Checkpoint>,
    /// Rows written since the last prepare.
    pending: Rows,
    /// Rows of a committed checkpoint not finished yet (crash before finish).
    unfinished: Rows,
    /// Rows of committed and finished checkpoints: what readers must see.
    visible: Rows,
    scn: u64,
}

fn empty() -> Rows {
    vec![Vec::new(); TABLES.len()]
}

fn append(to: &mut Rows, from: &mut Rows) {
    for (t, f) in to.iter_mut().zip(from.iter_mut()) {
        t.append(f);
    }
}

impl World {
    fn new(root: &std::path::Path) -> World {
        let mut cfg = config(root);
        cfg.max_file_bytes = 200;
        World {
            sink: Some(CsvSink::open(cfg.clone(), Term(1), CheckpointId(1)).unwrap()),
            cfg,
            term: 1,
            schemas: TABLES
                .iter()
                .map(|(o, n)| schema(o, n, &["TXT", "N"]))
                .collect(),
            last_committed: None,
            pending: empty(),
            unfinished: empty(),
            visible: empty(),
            scn: 0,
        }
    }

    fn next_id(&self) -> u64 {
        self.last_committed.as_ref().map_or(0, |c| c.id.0) + 1
    }

    fn prepare_and_commit(&mut self, sink: &mut CsvSink) -> Checkpoint {
        assert_eq!(sink.checkpoint_id(), CheckpointId(self.next_id()));
        let files = sink.prepare().unwrap();
        let cp = checkpoint(sink.checkpoint_id().0 - 1, files);
        self.last_committed = Some(cp.clone());
        append(&mut self.unfinished, &mut self.pending);
        cp
    }

    fn finish(&mut self, cp: &Checkpoint) {
        finish_checkpoint(&self.cfg.root, cp, false).unwrap();
        append(&mut self.visible, &mut self.unfinished);
    }

    fn crash(&mut self) {
        self.sink = None;
        self.pending = empty();
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Write { table, text } => {
                let Some(sink) = self.sink.as_mut() else {
                    return;
                };
                self.scn += 1;
                let schema = &self.schemas[*table];
                let scn_text = self.scn.to_string();
                let txt = Value::Text(Cow::Borrowed(text));
                let num = Value::Number(&scn_text);
                let mut values: Vec<Option<&Value<'_>>> = vec![Some(&txt), Some(&num)];
                let mut model = vec![scn_text.clone(), text.clone(), scn_text.clone()];
                for i in 2..schema.columns.len() {
                    // Added columns alternate NULL and "not carried by the redo".
                    if i % 2 == 0 {
                        values.push(Some(&Value::Null));
                        model.push(String::new());
                    } else {
                        values.push(None);
                        model.push("?".to_string());
                    }
                }
                sink.write_row(schema, &meta(self.scn), &values).unwrap();
                self.pending[*table].push(model);
            }
            Op::ChangeSchema { table } => {
                let s = &self.schemas[*table];
                let name = format!("C{}", s.columns.len());
                self.schemas[*table] = s.with_added_column(&name, "NUMBER");
            }
            Op::Checkpoint => {
                let Some(mut sink) = self.sink.take() else {
                    return;
                };
                let cp = self.prepare_and_commit(&mut sink);
                self.finish(&cp);
                self.sink = Some(sink);
            }
            Op::PrepareThenCrash { committed, finish } => {
                let Some(mut sink) = self.sink.take() else {
                    return;
                };
                if *committed {
                    let cp = self.prepare_and_commit(&mut sink);
                    if *finish {
                        drop(sink);
                        self.finish(&cp);
                    }
                } else {
                    // Prepared, but the commit never happened.
                    sink.prepare().unwrap();
                }
                self.crash();
            }
            Op::CrashMidWrite => self.crash(),
            Op::Recover => {
                self.crash();
                let report = recover(
                    &self.cfg.root,
                    self.last_committed.as_ref(),
                    Term(self.term),
                    false,
                )
                .unwrap();
                assert_eq!(report.finished.is_some(), self.last_committed.is_some());
                append(&mut self.visible, &mut self.unfinished);
                assert!(files_ending(&self.cfg.root, ".inprogress").is_empty());
                let v = verify(&self.cfg.root).unwrap();
                assert!(v.problems.is_empty(), "{:?}", v.problems);
                self.term += 1;
                self.sink = Some(
                    CsvSink::open(
                        self.cfg.clone(),
                        Term(self.term),
                        CheckpointId(self.next_id()),
                    )
                    .unwrap(),
                );
            }
        }
    }

    fn check(&self) {
        let root = &self.cfg.root;
        for (i, (o, n)) in TABLES.iter().enumerate() {
            let dir = table_dir_name(&format!("{o}.{n}"));
            let got: Vec<Vec<String>> = table_rows(root, &dir)
                .into_iter()
                .map(|r| {
                    let mut m = vec![r[1].clone()];
                    m.extend(r[5..].iter().cloned());
                    m
                })
                .collect();
            assert_eq!(got, self.visible[i], "table {o}.{n}");
        }
        let v = verify(root).unwrap();
        assert!(v.is_ok(), "{:?}", v.problems);
        let listed_rows: usize = self.visible.iter().map(Vec::len).sum();
        assert_eq!(v.rows, listed_rows as u64);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn sink_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let mut w = World::new(dir.path());
        for op in &ops {
            w.step(op);
            w.check();
        }
        w.step(&Op::Recover);
        w.check();
        prop_assert!(files_ending(dir.path(), ".inprogress").is_empty());
        let v = verify(dir.path()).unwrap();
        prop_assert!(v.problems.is_empty(), "{:?}", v.problems);
    }
}
