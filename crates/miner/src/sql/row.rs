//! [`parse_row`]: a statement parsed straight into a table's row image, each value into its
//! column's slot. The grammar, the values and the errors are the parser's own (one grammar
//! serves both); what differs is where values go. Column names are matched against the table's
//! names where the statement names them, so nothing is looked up twice: an INSERT naming every
//! column in table order is recognised by comparing its column list whole, and each SET or
//! WHERE name is compared first with the column after the last one found.

use super::scan::Scanner;
use super::{relabel, statement, DmlKind, ParseError, Sink, UnknownColumn};
use crate::schema::TableSchema;
use crate::value::Value;

/// A row image: `values[i]` is the value of the schema's column `i`, `None` when the statement
/// does not carry it. Same content as [`super::Statement::row`] gives.
#[derive(Debug, PartialEq, Eq)]
pub struct Row<'a> {
    pub kind: DmlKind,
    pub values: Vec<Option<Value<'a>>>,
}

/// Why [`parse_row`] gave no row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowError<'a> {
    Parse(ParseError),
    /// The statement parsed, but names a column the schema does not have (the first one, in
    /// the order [`super::Statement::row`] reports it).
    UnknownColumn(UnknownColumn<'a>),
}

impl From<ParseError> for RowError<'_> {
    fn from(e: ParseError) -> Self {
        RowError::Parse(e)
    }
}

/// The vectors rows are built in, reused from one row to the next ([`Row::recycle`]).
#[derive(Debug, Default)]
pub struct RowBuffers {
    slots: Vec<Option<Value<'static>>>,
    /// An INSERT's column `i` goes to slot `map[i]` (`usize::MAX`: not in the schema).
    map: Vec<usize>,
    /// UPDATE: the columns SET gave a value, which WHERE does not overwrite.
    from_set: Vec<bool>,
}

impl Row<'_> {
    /// Gives the row's vector back for the next [`parse_row`].
    pub fn recycle(self, buffers: &mut RowBuffers) {
        buffers.slots = relabel(self.values);
    }
}

/// Parses one SQL_REDO statement into `schema`'s row image: INSERT values; UPDATE WHERE values
/// overlaid by SET values; DELETE WHERE values. The same as [`super::parse_reusing`] followed by
/// [`super::Statement::row`] (property-tested), in one pass.
pub fn parse_row<'a>(
    sql: &'a str,
    schema: &TableSchema,
    buffers: &mut RowBuffers,
) -> Result<Row<'a>, RowError<'a>> {
    let mut slots: Vec<Option<Value<'a>>> = relabel(std::mem::take(&mut buffers.slots));
    slots.resize(schema.columns.len(), None);
    let mut sink = Slots {
        schema,
        slots,
        map: std::mem::take(&mut buffers.map),
        from_set: std::mem::take(&mut buffers.from_set),
        identity: false,
        next: 0,
        in_set: false,
        spare: Value::Null,
        unknown_set: None,
        unknown_where: None,
    };
    let parsed = statement(sql, &mut sink);
    let Slots {
        slots,
        mut map,
        mut from_set,
        unknown_set,
        unknown_where,
        ..
    } = sink;
    map.clear();
    from_set.clear();
    buffers.map = map;
    buffers.from_set = from_set;
    let kind = match parsed {
        Ok((kind, _, _)) => kind,
        Err(e) => {
            buffers.slots = relabel(slots);
            return Err(e.into());
        }
    };
    // `Statement::row` lays out WHERE before SET, so it meets an unknown WHERE column first.
    if let Some(at) = unknown_where.or(unknown_set) {
        buffers.slots = relabel(slots);
        let name = quoted_name(sql, at).unwrap_or_default();
        return Err(RowError::UnknownColumn(UnknownColumn(name)));
    }
    Ok(Row {
        kind,
        values: slots,
    })
}

/// The name in the `"quoted"` name at byte `at`.
fn quoted_name(sql: &str, at: usize) -> Option<&str> {
    let rest = sql.get(at + 1..)?;
    rest.get(..rest.find('"')?)
}

/// The [`Sink`] of [`parse_row`].
struct Slots<'s, 'a> {
    schema: &'s TableSchema,
    slots: Vec<Option<Value<'a>>>,
    map: Vec<usize>,
    from_set: Vec<bool>,
    /// The INSERT names every column in order: value `i` goes to slot `i`.
    identity: bool,
    /// Where to look for the next name first: one past the last column found.
    next: usize,
    in_set: bool,
    /// Where the value of a column that goes nowhere is parsed (unknown, or shadowed by SET).
    spare: Value<'a>,
    /// Byte offset of the first unknown column's quoted name, in SET and in WHERE.
    unknown_set: Option<usize>,
    unknown_where: Option<usize>,
}

impl<'a> Slots<'_, 'a> {
    /// The column of the quoted name at the scanner (consumed), or `None` for a name the schema
    /// does not have.
    #[inline(always)]
    fn column(&mut self, s: &mut Scanner<'a>) -> Result<Option<usize>, ParseError> {
        s.skip_ws();
        let hint = self.next;
        let found = match self.schema.columns.get(hint) {
            Some(c)
                if self
                    .schema
                    .quoted_at(hint, s.b.get(s.pos..).unwrap_or_default()) =>
            {
                s.pos += c.name.len() + 2;
                Some(hint)
            }
            _ => {
                let name = s.ident()?;
                self.schema.position_hinted(name, hint)
            }
        };
        if let Some(i) = found {
            self.next = i + 1;
        }
        Ok(found)
    }

    /// The slot of column `i`, holding `NULL` for the value to be written into.
    #[inline(always)]
    fn slot(&mut self, i: usize) -> &mut Value<'a> {
        let Some(slot) = self.slots.get_mut(i) else {
            return &mut self.spare;
        };
        // A slot already holding a value (a column named twice) keeps it until the parser
        // overwrites it: every value is written whole into its slot.
        if slot.is_none() {
            // `None` owns nothing: no drop glue to call.
            std::mem::forget(slot.replace(Value::Null));
        }
        match slot {
            Some(v) => v,
            None => &mut self.spare,
        }
    }
}

impl<'a> Sink<'a> for Slots<'_, 'a> {
    fn columns(&mut self, s: &mut Scanner<'a>) -> Result<usize, ParseError> {
        s.skip_ws();
        if let Some(list) = self.schema.insert_list() {
            let end = s.pos + list.len();
            if s.b.get(s.pos..end) == Some(list) && s.b.get(end) == Some(&b')') {
                s.pos = end;
                self.identity = true;
                return Ok(self.schema.columns.len());
            }
        }
        loop {
            s.skip_ws();
            let at = s.pos;
            match self.column(s)? {
                Some(i) => self.map.push(i),
                None => {
                    self.unknown_set.get_or_insert(at);
                    self.map.push(usize::MAX);
                }
            }
            if !s.try_byte(b',') {
                return Ok(self.map.len());
            }
        }
    }

    #[inline(always)]
    fn value(&mut self, i: usize) -> Option<&mut Value<'a>> {
        let column = if self.identity { i } else { *self.map.get(i)? };
        Some(self.slot(column))
    }

    #[inline(always)]
    fn named(&mut self, s: &mut Scanner<'a>, set: bool) -> Result<&mut Value<'a>, ParseError> {
        if set && !self.in_set {
            self.in_set = true;
            self.from_set.resize(self.slots.len(), false);
        }
        s.skip_ws();
        let at = s.pos;
        let Some(i) = self.column(s)? else {
            let first = if set {
                &mut self.unknown_set
            } else {
                &mut self.unknown_where
            };
            first.get_or_insert(at);
            return Ok(&mut self.spare);
        };
        if set {
            if let Some(f) = self.from_set.get_mut(i) {
                *f = true;
            }
        } else if self.from_set.get(i) == Some(&true) {
            // SET's value wins: parse this one aside.
            return Ok(&mut self.spare);
        }
        Ok(self.slot(i))
    }

    #[inline(always)]
    fn start_where(&mut self) {
        self.next = 0;
    }

    /// The table's own name is compared whole (the row's owner and table are the schema's;
    /// the statement's names are only checked for syntax).
    #[inline(always)]
    fn table(&mut self, s: &mut Scanner<'a>) -> Result<(&'a str, &'a str), ParseError> {
        s.skip_ws();
        if let Some(quoted) = self.schema.quoted_table() {
            if s.try_exact(quoted) {
                return Ok(("", ""));
            }
        }
        super::table_name(s)
    }
}
