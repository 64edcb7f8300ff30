//! Replay source over SQLcl CSV exports (SPEC.md §10). STUB: interface only, being implemented.

use std::path::Path;

use redoflow_checkpoint::Scn;

use crate::row::RedoRow;
use crate::schema::{SchemaCatalog, TableSchema};
use crate::source::{LogSource, SourceError};

#[derive(Debug)]
pub struct ReplaySource {
    _private: (),
}

impl ReplaySource {
    pub fn open(contents: &Path, columns: Option<&Path>) -> Result<Self, SourceError> {
        let _ = (contents, columns);
        todo!()
    }
    pub fn catalog(&self) -> &SchemaCatalog {
        todo!()
    }
}

impl LogSource for ReplaySource {
    fn current_scn(&mut self) -> Result<Scn, SourceError> {
        todo!()
    }
    fn start_session(&mut self, resume_scn: Scn) -> Result<(), SourceError> {
        let _ = resume_scn;
        todo!()
    }
    fn fetch(
        &mut self,
        read_scn: Scn,
        end_scn: Scn,
        out: &mut Vec<RedoRow>,
    ) -> Result<(), SourceError> {
        let _ = (read_scn, end_scn, out);
        todo!()
    }
    fn table_schema(
        &mut self,
        owner: &str,
        table: &str,
    ) -> Result<Option<TableSchema>, SourceError> {
        let _ = (owner, table);
        todo!()
    }
    fn is_finished(&self) -> bool {
        todo!()
    }
}
