//! SQL_REDO parser (SPEC.md §3). STUB: interface only, being implemented.

use crate::schema::TableSchema;
use crate::value::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmlKind {
    Insert,
    Update,
    Delete,
}

/// A parsed INSERT/UPDATE/DELETE. All names and values borrow from the SQL_REDO text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement<'a> {
    pub kind: DmlKind,
    pub owner: &'a str,
    pub table: &'a str,
    /// INSERT: the column list zipped with VALUES; UPDATE: the SET pairs; DELETE: empty.
    pub values: Vec<(&'a str, Value<'a>)>,
    /// UPDATE/DELETE: the WHERE pairs (`"C" IS NULL` gives `Value::Null`); the `ROWID = '...'`
    /// condition is dropped. INSERT: empty.
    pub conditions: Vec<(&'a str, Value<'a>)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    UnexpectedEnd,
    Expected(&'static str),
    UnterminatedString,
    UnterminatedIdentifier,
    BadValue,
    BadDate,
    BadHex,
    BadUnistr,
    ColumnCountMismatch,
    TrailingInput,
}

/// Small, `Copy` parse error: what went wrong and the byte offset in the statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub kind: ParseErrorKind,
    pub pos: usize,
}

/// A column named by the statement that the schema does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownColumn<'a>(pub &'a str);

pub fn parse(sql: &str) -> Result<Statement<'_>, ParseError> {
    let _ = sql;
    todo!("parser")
}

impl<'a> Statement<'a> {
    /// The row image in the schema's column order: INSERT values; UPDATE WHERE values overlaid by
    /// SET values; DELETE WHERE values. `None` = the redo does not carry that column.
    pub fn row<'s>(
        &'s self,
        schema: &TableSchema,
        out: &mut Vec<Option<&'s Value<'a>>>,
    ) -> Result<(), UnknownColumn<'a>> {
        let _ = (schema, out);
        todo!("row")
    }
}
