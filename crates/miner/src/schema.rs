//! Table definitions (ALL_TAB_COLUMNS) that give each table's CSV columns their order.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// `OWNER.TABLE`, both parts exactly as Oracle stores them (case kept).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableId {
    pub owner: String,
    pub name: String,
}

impl TableId {
    pub fn new(owner: impl Into<String>, name: impl Into<String>) -> Self {
        TableId {
            owner: owner.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.owner, self.name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// `DATA_TYPE` as ALL_TAB_COLUMNS prints it (`NUMBER`, `VARCHAR2`, `TIMESTAMP(6)`, ...).
    pub data_type: String,
    pub column_id: u32,
}

/// A table's columns in COLUMN_ID order. `version` increases each time the columns change, so a
/// writer can tell that a new file (with a new header) is needed. Build it with
/// [`TableSchema::new`] (or [`TableSchema::with_added_column`]): the lookups it keeps are derived
/// from `id` and `columns` there, so those fields are for reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSchema {
    pub id: TableId,
    pub columns: Vec<Column>,
    pub version: u32,
    index: HashMap<String, usize>,
    /// Hash of the column names and types, so a writer can tell "same columns" per row
    /// without comparing the lists.
    fingerprint: u64,
    /// `"C1","C2",...` as an INSERT's column list prints the columns, when no name contains a
    /// `"` (which would make the quoting ambiguous); the SQL parser compares it whole.
    insert_list: Option<String>,
    /// `"OWNER"."TABLE"` as statements name the table (`None` if a part contains `"`).
    quoted_table: Option<String>,
}

/// Up to this many columns a name is found by comparing, beyond by the hash index.
const LINEAR_SEARCH_COLUMNS: usize = 16;

/// `a == b`, compared in at most two overlapping 8-byte words for names up to 16 bytes (most
/// column names): a general slice compare calls `memcmp`, which costs more than the compare
/// at the rate the writer matches names (15 per change).
#[inline(always)]
fn same_name(a: &str, b: &str) -> bool {
    same_bytes(a.as_bytes(), b.as_bytes())
}

/// [`same_name`] on bytes.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| -> u64 {
        s.get(at..at + 8)
            .and_then(|w| w.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    };
    let half = |s: &[u8], at: usize| -> u32 {
        s.get(at..at + 4)
            .and_then(|w| w.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    };
    match n {
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        _ => a == b,
    }
}

impl TableSchema {
    /// Sorts `columns` by COLUMN_ID.
    pub fn new(id: TableId, mut columns: Vec<Column>) -> Self {
        columns.sort_by_key(|c| c.column_id);
        let index = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
        let fingerprint = {
            use std::hash::{Hash, Hasher};
            // DefaultHasher::new() has fixed keys: the same columns give the same value.
            let mut h = std::collections::hash_map::DefaultHasher::new();
            for c in &columns {
                (&c.name, &c.data_type).hash(&mut h);
            }
            h.finish()
        };
        let insert_list = columns.iter().all(|c| !c.name.contains('"')).then(|| {
            let quoted: Vec<String> = columns.iter().map(|c| format!("\"{}\"", c.name)).collect();
            quoted.join(",")
        });
        let quoted_table = (!id.owner.contains('"') && !id.name.contains('"'))
            .then(|| format!("\"{}\".\"{}\"", id.owner, id.name));
        TableSchema {
            id,
            columns,
            version: 1,
            index,
            fingerprint,
            insert_list,
            quoted_table,
        }
    }

    /// `"C1","C2",...`: the column list of an INSERT naming every column in order (`None` when a
    /// name contains `"`).
    pub fn insert_list(&self) -> Option<&[u8]> {
        self.insert_list.as_deref().map(str::as_bytes)
    }

    /// `"OWNER"."TABLE"`, as statements name the table (`None` when a part contains `"`).
    pub fn quoted_table(&self) -> Option<&[u8]> {
        self.quoted_table.as_deref().map(str::as_bytes)
    }

    /// True if `text` starts with column `i`'s name in double quotes, `"NAME"` (never for a
    /// name that contains `"`: a quoted name ends at the first `"`).
    #[inline(always)]
    pub fn quoted_at(&self, i: usize, text: &[u8]) -> bool {
        let Some(c) = self.columns.get(i) else {
            return false;
        };
        let n = c.name.len();
        self.insert_list.is_some()
            && text.first() == Some(&b'"')
            && text.get(n + 1) == Some(&b'"')
            && text
                .get(1..n + 1)
                .is_some_and(|name| same_bytes(name, c.name.as_bytes()))
    }

    /// A schema of `names` in this order (COLUMN_ID 1, 2, ...), each of type `data_type`: for a
    /// table known only by its column names.
    pub fn from_names<'n>(
        id: TableId,
        names: impl IntoIterator<Item = &'n str>,
        data_type: &str,
    ) -> TableSchema {
        let columns = names
            .into_iter()
            .zip(1..)
            .map(|(name, column_id)| Column {
                name: name.to_string(),
                data_type: data_type.to_string(),
                column_id,
            })
            .collect();
        TableSchema::new(id, columns)
    }

    /// Equal for equal column lists (names and types, in order).
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Position of a column in CSV order, trying `hint` first (statements usually name the
    /// columns in table order, so the caller passes one past the last column found) and then
    /// the columns after it: a few short compares beat hashing the name.
    #[inline]
    pub fn position_hinted(&self, column: &str, hint: usize) -> Option<usize> {
        if let Some(c) = self.columns.get(hint) {
            if same_name(&c.name, column) {
                return Some(hint);
            }
        }
        if self.columns.len() > LINEAR_SEARCH_COLUMNS {
            return self.position(column);
        }
        let after = self.columns.get(hint + 1..).unwrap_or_default();
        if let Some(i) = after.iter().position(|c| same_name(&c.name, column)) {
            return Some(hint + 1 + i);
        }
        let before = self.columns.get(..hint).unwrap_or(&self.columns);
        before.iter().position(|c| same_name(&c.name, column))
    }

    /// Position of a column in CSV order.
    pub fn position(&self, column: &str) -> Option<usize> {
        self.index.get(column).copied()
    }

    /// A new version of this schema with `column` appended at the end.
    pub fn with_added_column(&self, name: &str, data_type: &str) -> TableSchema {
        let mut columns = self.columns.clone();
        let column_id = columns.last().map_or(1, |c| c.column_id + 1);
        columns.push(Column {
            name: name.to_string(),
            data_type: data_type.to_string(),
            column_id,
        });
        let mut s = TableSchema::new(self.id.clone(), columns);
        s.version = self.version + 1;
        s
    }
}

/// The known tables, shared read-only with the writer through `Arc`.
#[derive(Clone, Debug, Default)]
pub struct SchemaCatalog {
    tables: HashMap<TableId, Arc<TableSchema>>,
}

impl SchemaCatalog {
    pub fn get(&self, owner: &str, name: &str) -> Option<&Arc<TableSchema>> {
        // Build the key without allocating in the common case would need a borrowed key type;
        // lookups happen once per table per transaction at most, so keep it simple.
        self.tables.get(&TableId::new(owner, name))
    }

    pub fn insert(&mut self, schema: TableSchema) -> Arc<TableSchema> {
        let schema = Arc::new(schema);
        self.tables.insert(schema.id.clone(), schema.clone());
        schema
    }

    pub fn len(&self) -> usize {
        self.tables.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    pub fn tables(&self) -> impl Iterator<Item = &Arc<TableSchema>> {
        self.tables.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_exactly_at_every_length() {
        for n in 0..40 {
            let a: String = (0..n).map(|i| char::from(b'A' + (i % 26) as u8)).collect();
            assert!(same_name(&a, &a.clone()), "{a}");
            for i in 0..n {
                let mut b = a.clone().into_bytes();
                b[i] = b'_';
                let b = String::from_utf8(b).unwrap();
                assert!(!same_name(&a, &b), "{a} vs {b}");
            }
            assert!(!same_name(&a, &format!("{a}X")));
        }
    }

    #[test]
    fn hinted_positions_find_every_column_from_any_hint() {
        let names = ["ID", "NAME", "A_LONGER_NAME", "X", "NAME2"];
        let s = TableSchema::from_names(TableId::new("O", "T"), names, "VARCHAR2");
        let cols = s.columns.clone();
        assert_eq!(
            cols.iter().map(|c| c.column_id).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        for hint in 0..8 {
            for (i, c) in cols.iter().enumerate() {
                assert_eq!(
                    s.position_hinted(&c.name, hint),
                    Some(i),
                    "{} from {hint}",
                    c.name
                );
            }
            assert_eq!(s.position_hinted("NAME3", hint), None);
        }
    }
}
