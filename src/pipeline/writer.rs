//! The writer side: committed transactions into the CSV sink, and the two-phase checkpoint
//! (prepare → commit in the store → finish) at each barrier from the miner.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::Receiver;
use redoflow_checkpoint::{Checkpoint, CheckpointId, CheckpointStore, Offset, Scn, Term};
use redoflow_miner::row::Name;
use redoflow_miner::sql::{self, ParseError, RowError, UnknownColumn};
use redoflow_miner::txn::{Change, ChangeOp, CommittedTxn, Unwritable};
use redoflow_miner::{TableId, TableSchema};
use redoflow_sink_csv::{self as sink, CsvSink, RejectedRow, RowMeta, RowOp};

use super::progress::{CheckpointTiming, Progress, StageTimes, WriteTally};
use super::{LineRef, Msg, PipelineError, PipelineOptions};
use crate::config::OnParseError;
use crate::failpoint;
use crate::stop::StopToken;

/// Whether `change` carries the very names of `last` (a source shares one allocation per
/// table, so the same pointers mean the same table): a check without comparing strings. Never
/// for empty names, which take the table from the statement.
pub(super) fn same_names(last: &Option<(Name, Name)>, change: &Change) -> bool {
    last.as_ref().is_some_and(|(o, t)| {
        !o.is_empty()
            && !t.is_empty()
            && Arc::ptr_eq(o, &change.owner)
            && Arc::ptr_eq(t, &change.table)
    })
}

/// The change's table: SEG_OWNER/TABLE_NAME, or for exports without them the names in the
/// statement.
pub(super) fn table_names(change: &Change) -> (&str, &str) {
    if change.owner.is_empty() || change.table.is_empty() {
        if let Some(names) = table_of(&change.sql_redo) {
            return names;
        }
    }
    (&change.owner, &change.table)
}

/// `"OWNER"."TABLE"` named by a DML statement, for exports without SEG_OWNER/TABLE_NAME.
fn table_of(sql: &str) -> Option<(&str, &str)> {
    let start = sql.find('"')? + 1;
    let rest = &sql[start..];
    let owner_end = rest.find('"')?;
    let after = rest.get(owner_end + 1..)?.strip_prefix(".\"")?;
    let table_end = after.find('"')?;
    Some((&rest[..owner_end], &after[..table_end]))
}

/// The writer side: owns the CSV sink and runs checkpoints.
pub(super) struct Writer<'p> {
    sink: CsvSink,
    opts: PipelineOptions,
    term: Term,
    stop: StopToken,
    schemas: HashMap<String, HashMap<String, Arc<TableSchema>>>,
    /// The schema of the previous change (most changes repeat the table); cleared whenever
    /// `schemas` changes.
    last_schema: Option<Arc<TableSchema>>,
    /// The source's shared names of `last_schema`'s table: a change carrying the same
    /// allocations is of that table, found without comparing strings.
    last_names: Option<(Name, Name)>,
    /// Tables the source has no definition of: their columns are derived from their
    /// statements (listed in the run's summary).
    pub(super) derived: BTreeSet<TableId>,
    /// Tables with a definition from the source and a DDL since: a column their definition
    /// lacks is taken as added by that DDL.
    altered: HashSet<TableId>,
    pub(super) next_id: CheckpointId,
    pub(super) checkpoints: u64,
    pub(super) last_offset: Option<Offset>,
    progress: &'p Progress,
    /// Changes written by table and operation since the last batch.
    tally: WriteTally,
    /// Kept between changes so writing a row allocates nothing.
    parse_buffers: sql::Buffers,
    row_buffers: sql::RowBuffers,
}

impl<'p> Writer<'p> {
    pub(super) fn new(
        opts: &PipelineOptions,
        term: Term,
        stop: &StopToken,
        next_id: CheckpointId,
        last_offset: Option<Offset>,
        progress: &'p Progress,
    ) -> Result<Self, PipelineError> {
        Ok(Writer {
            sink: CsvSink::open(opts.sink.clone(), term, next_id)?,
            opts: opts.clone(),
            term,
            stop: stop.clone(),
            schemas: HashMap::new(),
            last_schema: None,
            last_names: None,
            derived: BTreeSet::new(),
            altered: HashSet::new(),
            next_id,
            checkpoints: 0,
            last_offset,
            progress,
            tally: WriteTally::default(),
            parse_buffers: sql::Buffers::default(),
            row_buffers: sql::RowBuffers::default(),
        })
    }

    pub(super) fn run(
        &mut self,
        rx: &Receiver<Msg>,
        store: &mut dyn CheckpointStore,
    ) -> Result<(), PipelineError> {
        let mut dirty = false;
        for msg in rx.iter() {
            self.handle(msg, store, &mut dirty)?;
        }
        Ok(())
    }

    /// One message from the miner. `dirty`: rows were written since the last checkpoint (a
    /// checkpoint with no rows and an unchanged offset is not worth a commit).
    pub(super) fn handle(
        &mut self,
        msg: Msg,
        store: &mut dyn CheckpointStore,
        dirty: &mut bool,
    ) -> Result<(), PipelineError> {
        match msg {
            Msg::Schema(s) => self.set_schema(Arc::new(s)),
            Msg::Txns(txns) => {
                let started = Instant::now();
                // Counted once per batch, not with two atomic adds (each a full barrier on
                // x86) per transaction.
                let (mut written, mut changes) = (0u64, 0u64);
                let mut result = Ok(());
                for txn in &txns {
                    match self.write_txn(txn) {
                        Ok(rows) => {
                            written += 1;
                            changes += rows;
                        }
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                self.progress
                    .transactions
                    .fetch_add(written, Ordering::Relaxed);
                self.progress
                    .changes_written
                    .fetch_add(changes, Ordering::Relaxed);
                self.tally.flush(&self.progress.written);
                StageTimes::add(&self.progress.stages.write_ns, started.elapsed());
                result?;
                *dirty = true;
            }
            Msg::Checkpoint(offset) => {
                if *dirty || self.last_offset.as_ref() != Some(&offset) {
                    let started = Instant::now();
                    let done = self.checkpoint(offset, store);
                    StageTimes::add(&self.progress.stages.checkpoint_ns, started.elapsed());
                    done?;
                }
                *dirty = false;
            }
        }
        Ok(())
    }

    /// Writes a committed transaction; returns the rows written (DDL, rejected rows and
    /// unknown operations are not rows of the output).
    fn write_txn(&mut self, txn: &CommittedTxn) -> Result<u64, PipelineError> {
        let mut rows = 0u64;
        // Read the first byte of each statement up front: the loads miss the nearest caches
        // (the text was generated a while ago) and, issued together, they overlap instead of
        // stalling one parse each.
        if !txn.is_spilled() {
            for c in &txn.changes {
                std::hint::black_box(c.sql_redo.as_bytes().first().copied());
            }
        }
        // A spilled transaction's changes are read back from disk here, in order.
        for change in txn.iter_changes() {
            let change = change?;
            let change: &Change = &change;
            // The operation, and its index in `progress::OPS`.
            let (op, slot) = match change.op {
                ChangeOp::Insert => (RowOp::Insert, 0),
                ChangeOp::Update => (RowOp::Update, 1),
                ChangeOp::Delete => (RowOp::Delete, 2),
                ChangeOp::Ddl => {
                    let (owner, table) = table_names(change);
                    self.on_ddl(owner, table, &change.sql_redo, change.scn);
                    continue;
                }
                ChangeOp::Unknown(code) => {
                    self.unknown_operation(txn, change, code)?;
                    continue;
                }
                ChangeOp::Undecodable | ChangeOp::Unsupported => {
                    let dead_letter = self.opts.on_parse_error == OnParseError::DeadLetter;
                    match change.unwritable(txn.xid, dead_letter) {
                        Some(Unwritable::DeadLetter(reason)) => {
                            self.dead_letter(txn, change, table_names(change), reason)?
                        }
                        Some(Unwritable::Stop(e)) => return Err(e.into()),
                        Some(Unwritable::Skip) | None => {}
                    }
                    continue;
                }
            };
            let meta = RowMeta {
                op,
                scn: change.scn,
                commit_scn: txn.commit_scn,
                commit_ts: txn.commit_ts,
                xid: txn.xid,
            };
            // The schema is taken out of `last_schema` and put back after the row: no reference
            // count changes per change.
            let mut schema = match self.last_schema.take() {
                Some(s) if same_names(&self.last_names, change) => s,
                last => {
                    self.last_schema = last;
                    let (owner, table) = table_names(change);
                    let s = match self.known_schema(owner, table) {
                        Some(s) => s,
                        None => match self.schema_from_statement(owner, table, &change.sql_redo) {
                            Ok(s) => s,
                            Err(e) => {
                                self.parse_failed(txn, change, (owner, table), e)?;
                                continue;
                            }
                        },
                    };
                    self.last_names = Some((change.owner.clone(), change.table.clone()));
                    self.tally.table(&s);
                    s
                }
            };
            // A statement in the exact layout LogMiner prints goes straight to its CSV line;
            // anything else, and every statement with an error, takes the parser below.
            if self
                .sink
                .write_statement(&schema, &meta, &change.sql_redo)?
            {
                self.last_schema = Some(schema);
                rows += 1;
                self.tally.count(slot);
                continue;
            }
            // Parsed straight into the row image, in the schema's column order.
            loop {
                match sql::parse_row(&change.sql_redo, &schema, &mut self.row_buffers) {
                    Ok(row) => {
                        self.sink.write_row(&schema, &meta, &row.values)?;
                        row.recycle(&mut self.row_buffers);
                        self.last_schema = Some(schema);
                        rows += 1;
                        self.tally.count(slot);
                        break;
                    }
                    Err(RowError::UnknownColumn(UnknownColumn(name))) => {
                        // A table whose columns are derived from its statements, or one altered
                        // by a DDL since its definition was read, takes the new column at its
                        // end (in a new file). Anywhere else the definition is incomplete: the
                        // column's place is unknown, and guessing it would reorder the header.
                        if self.derived.contains(&schema.id) || self.altered.contains(&schema.id) {
                            tracing::warn!(table = %schema.id, column = name, scn = %change.scn, "column not in the table definition; adding it");
                            let evolved = Arc::new(schema.with_added_column(name, "UNKNOWN"));
                            self.set_schema(evolved.clone());
                            schema = evolved;
                            continue;
                        }
                        let column = name.to_string();
                        self.last_schema = Some(schema);
                        self.column_missing(txn, change, table_names(change), &column)?;
                        break;
                    }
                    Err(RowError::Parse(e)) => {
                        self.last_schema = Some(schema);
                        self.parse_failed(txn, change, table_names(change), e)?;
                        break;
                    }
                }
            }
        }
        Ok(rows)
    }

    /// The table's schema, if the source knows the table.
    fn known_schema(&mut self, owner: &str, table: &str) -> Option<Arc<TableSchema>> {
        if let Some(s) = &self.last_schema {
            if s.id.owner == owner && s.id.name == table {
                return Some(s.clone());
            }
        }
        let s = self
            .schemas
            .get(owner)
            .and_then(|t| t.get(table))
            .cloned()?;
        self.last_schema = Some(s.clone());
        Some(s)
    }

    /// For a table the source does not know, a schema built from the columns its first
    /// statement names (in statement order); kept for the table's next changes.
    fn schema_from_statement(
        &mut self,
        owner: &str,
        table: &str,
        sql_redo: &str,
    ) -> Result<Arc<TableSchema>, ParseError> {
        let stmt = sql::parse_reusing(sql_redo, &mut self.parse_buffers)?;
        tracing::warn!(
            owner,
            table,
            "table not in the columns definition; taking its columns from its first statement"
        );
        let mut names: Vec<&str> = Vec::new();
        for &(name, _) in stmt.values.iter().chain(stmt.conditions.iter()) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let schema = TableSchema::from_names(TableId::new(owner, table), names, "UNKNOWN");
        self.derived.insert(schema.id.clone());
        stmt.recycle(&mut self.parse_buffers);
        let schema = Arc::new(schema);
        self.set_schema(schema.clone());
        Ok(schema)
    }

    fn set_schema(&mut self, schema: Arc<TableSchema>) {
        self.last_schema = None;
        self.schemas
            .entry(schema.id.owner.clone())
            .or_default()
            .insert(schema.id.name.clone(), schema);
    }

    fn on_ddl(&mut self, owner: &str, table: &str, sql: &str, scn: Scn) {
        tracing::info!(owner, table, %scn, ddl = %clip(sql, 1000), "DDL");
        // Roll the table's file: rows after a DDL never share a file with rows before it.
        if let Some(s) = self.schemas.get(owner).and_then(|t| t.get(table)) {
            let mut next = (**s).clone();
            next.version += 1;
            self.altered.insert(next.id.clone());
            self.set_schema(Arc::new(next));
        }
    }

    fn parse_failed(
        &mut self,
        txn: &CommittedTxn,
        change: &Change,
        (owner, table): (&str, &str),
        e: ParseError,
    ) -> Result<(), PipelineError> {
        self.progress.parse_errors.fetch_add(1, Ordering::Relaxed);
        match self.opts.on_parse_error {
            OnParseError::Stop => Err(PipelineError::Parse {
                scn: change.scn,
                xid: txn.xid,
                table: format!("{owner}.{table}"),
                line: LineRef(change.line),
                position: e.pos,
                kind: format!("{:?}", e.kind),
                snippet: snippet(&change.sql_redo, e.pos),
            }),
            OnParseError::DeadLetter => {
                let message = format!("{:?} at position {}", e.kind, e.pos);
                self.dead_letter(txn, change, (owner, table), &message)
            }
        }
    }

    /// Writes the raw change to `_rejected/` (committed with the next checkpoint) with why it
    /// could not be written as a row, and counts it.
    fn dead_letter(
        &mut self,
        txn: &CommittedTxn,
        change: &Change,
        (owner, table): (&str, &str),
        message: &str,
    ) -> Result<(), PipelineError> {
        let table = format!("{owner}.{table}");
        tracing::warn!(scn = %change.scn, xid = %txn.xid, %table, line = change.line, error = %message, "change rejected to _rejected/");
        self.sink.write_rejected(&RejectedRow {
            scn: change.scn,
            xid: txn.xid,
            table: &table,
            line: change.line,
            error: message,
            sql_redo: &change.sql_redo,
        })?;
        self.progress.rejected.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// A statement naming a column its table's definition (from the source: the columns file,
    /// the dictionary) lacks, with no DDL to explain it: stop, or dead-letter the row.
    fn column_missing(
        &mut self,
        txn: &CommittedTxn,
        change: &Change,
        (owner, table): (&str, &str),
        column: &str,
    ) -> Result<(), PipelineError> {
        match self.opts.on_parse_error {
            OnParseError::Stop => Err(PipelineError::ColumnMissing {
                column: column.to_string(),
                scn: change.scn,
                xid: txn.xid,
                table: format!("{owner}.{table}"),
                line: LineRef(change.line),
            }),
            OnParseError::DeadLetter => {
                let message = format!("column {column:?} is not in the table's definition");
                self.dead_letter(txn, change, (owner, table), &message)
            }
        }
    }

    /// A committed row on a table with an OPERATION_CODE the engine does not know: it may
    /// carry data, so it is handled like a SQL_REDO that cannot be parsed (stop, or dead-letter
    /// and count), never dropped.
    fn unknown_operation(
        &mut self,
        txn: &CommittedTxn,
        change: &Change,
        code: u16,
    ) -> Result<(), PipelineError> {
        let (owner, table) = table_names(change);
        match self.opts.on_parse_error {
            OnParseError::Stop => Err(PipelineError::UnknownOperation {
                code,
                scn: change.scn,
                xid: txn.xid,
                table: format!("{owner}.{table}"),
                line: LineRef(change.line),
                sql_redo: clip(&change.sql_redo, SNIPPET_CHARS),
            }),
            OnParseError::DeadLetter => {
                let message = format!("unknown OPERATION_CODE {code}");
                self.dead_letter(txn, change, (owner, table), &message)
            }
        }
    }

    /// The two-phase checkpoint: make the files durable, commit the checkpoint listing them,
    /// then give them their final names. An abort between the steps stops before the next one:
    /// whatever was committed is finished by the next leader's (or run's) recovery.
    fn checkpoint(
        &mut self,
        offset: Offset,
        store: &mut dyn CheckpointStore,
    ) -> Result<(), PipelineError> {
        let _span = tracing::info_span!("checkpoint", id = %self.next_id).entered();
        let started = Instant::now();
        if self.stop.is_aborted() {
            return Err(PipelineError::Aborted);
        }
        let files = self.sink.prepare()?;
        failpoint::hit("after-prepare", &self.stop);
        let checkpoint = Checkpoint {
            id: self.next_id,
            term: self.term,
            offset,
            files,
            created_at_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        };
        if self.stop.is_aborted() {
            return Err(PipelineError::Aborted);
        }
        store.commit(&checkpoint)?;
        failpoint::hit("after-commit", &self.stop);
        self.next_id = self.next_id.next();
        self.checkpoints += 1;
        let p = self.progress;
        p.checkpoints.fetch_add(1, Ordering::Relaxed);
        Progress::mark_first(&p.first_checkpoint_unix_ms);
        p.last_checkpoint_id
            .store(checkpoint.id.0, Ordering::Relaxed);
        p.resume_scn
            .store(checkpoint.offset.resume_scn.0, Ordering::Relaxed);
        // Committed: the rename is owed, but not by a run that was aborted meanwhile (a node
        // that lost leadership renames nothing; the new leader finishes this checkpoint).
        if self.stop.is_aborted() {
            return Err(PipelineError::Aborted);
        }
        sink::finish_checkpoint(&self.opts.sink.root, &checkpoint, self.opts.sink.fsync)?;
        p.checkpoint_committed(CheckpointTiming {
            id: checkpoint.id.0,
            term: checkpoint.term.0,
            created_at_ms: checkpoint.created_at_ms,
            duration: started.elapsed(),
            files: checkpoint.files.len() as u64,
            rows: checkpoint.files.iter().map(|f| f.rows).sum(),
        });
        tracing::info!(files = checkpoint.files.len(), resume_scn = %checkpoint.offset.resume_scn, "checkpoint committed");
        self.last_offset = Some(checkpoint.offset);
        Ok(())
    }
}

/// How much of a value an error message quotes: a statement can be megabytes long.
pub(crate) const SNIPPET_CHARS: usize = 80;

/// The start of `text`, at most `max` bytes (cut at a character boundary, `...` appended when
/// cut), on one line.
pub(crate) fn clip(text: &str, max: usize) -> String {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let more = if end < text.len() { "..." } else { "" };
    format!("{}{more}", text[..end].replace(['\n', '\r'], " "))
}

/// Up to 40 characters either side of `pos`, on one line, with a marker at the position.
fn snippet(sql: &str, pos: usize) -> String {
    let pos = pos.min(sql.len());
    let mut start = pos.saturating_sub(40);
    while !sql.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (pos + 40).min(sql.len());
    while !sql.is_char_boundary(end) {
        end += 1;
    }
    let mut p = pos;
    while !sql.is_char_boundary(p) {
        p -= 1;
    }
    let flat = |s: &str| s.replace(['\n', '\r'], " ");
    format!("{}>>>{}", flat(&sql[start..p]), flat(&sql[p..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_of_reads_the_quoted_names() {
        assert_eq!(
            table_of("insert into \"HR\".\"MY TAB\"(\"A\") values (1)"),
            Some(("HR", "MY TAB"))
        );
        assert_eq!(
            table_of("delete from \"a.b\".\"c\" where \"X\" = 1"),
            Some(("a.b", "c"))
        );
        assert_eq!(table_of("commit"), None);
        assert_eq!(table_of("insert into \"HR\""), None);
    }

    #[test]
    fn snippet_marks_the_position_on_one_line() {
        let s = snippet("insert into \"A\".\"B\"(\"C\") values ('x\ny' oops", 40);
        assert!(s.contains(">>>"), "{s}");
        assert!(!s.contains('\n'));
        assert_eq!(snippet("é", 1), ">>>é");
    }

    #[test]
    fn clip_keeps_the_start_on_one_line() {
        assert_eq!(clip("abc", 10), "abc");
        assert_eq!(clip("a\nbcdef", 3), "a b...");
        assert_eq!(clip("ééé", 3), "é...");
        assert_eq!(
            clip(&"x".repeat(1 << 20), SNIPPET_CHARS).len(),
            SNIPPET_CHARS + 3
        );
    }
}
