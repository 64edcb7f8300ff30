//! Names of directories and files under the output root.
//!
//! ```text
//! <root>/HR.EMP/.0000000007-000000-t3.csv.inprogress   being written (checkpoint 7, term 3)
//! <root>/HR.EMP/0000000007-000000.csv                  finished after checkpoint 7 committed
//! <root>/_rejected/...                                 dead-letter rows, same naming
//! <root>/_checkpoints/0000000007.json                  manifest of checkpoint 7
//! ```
//! Final names sort in commit order (checkpoint id, then sequence within the checkpoint). Names
//! starting with `_` are reserved for the sink's own directories, so a table name that starts
//! with `_` (or `.`) is percent-encoded.

use std::fmt::Write;

use redoflow_checkpoint::{CheckpointId, Term};

/// Directory of dead-letter rows, also the `table` of their [`redoflow_checkpoint::FileCommit`]s.
pub const REJECTED_DIR: &str = "_rejected";
/// Directory of checkpoint manifests.
pub const CHECKPOINTS_DIR: &str = "_checkpoints";
/// Suffix of files being written.
pub const INPROGRESS_SUFFIX: &str = ".inprogress";
/// Suffix of manifest temp files.
pub(crate) const MANIFEST_TMP_SUFFIX: &str = ".json.tmp";

/// Directory name of a table: its `OWNER.TABLE` form with `/`, `\`, `%`, NUL, control characters
/// and a leading `.` or `_` percent-encoded (`%2F`), so every table gets one safe, distinct
/// directory that cannot collide with the reserved `_` names or hide as a dot-file.
pub fn table_dir_name(table: &str) -> String {
    let mut out = String::with_capacity(table.len());
    for (i, c) in table.char_indices() {
        let encode = matches!(c, '/' | '\\' | '%' | '\0')
            || c.is_control()
            || (i == 0 && (c == '.' || c == '_'));
        if encode {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `{checkpoint:010}-{seq:06}.csv`
pub fn final_file_name(checkpoint_id: CheckpointId, seq: u32) -> String {
    format!("{:010}-{seq:06}.csv", checkpoint_id.0)
}

/// The checkpoint id of a finished file name (`{checkpoint:010}-{seq:06}.csv`).
pub fn checkpoint_of_final(name: &str) -> Option<CheckpointId> {
    let (id, seq) = name.strip_suffix(".csv")?.split_once('-')?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(id, 10) || !digits(seq, 6) {
        return None;
    }
    id.parse().ok().map(CheckpointId)
}

/// `.{checkpoint:010}-{seq:06}-t{term}.csv.inprogress`
pub fn inprogress_file_name(checkpoint_id: CheckpointId, seq: u32, term: Term) -> String {
    format!(
        ".{:010}-{seq:06}-t{term}.csv{INPROGRESS_SUFFIX}",
        checkpoint_id.0
    )
}

/// The leader term in an in-progress file name (`.<id>-<seq>-t<term>.csv.inprogress`), or in a
/// manifest temp name (`.<id>-t<term>.json.tmp`); `None` for any other name.
pub fn term_of_unfinished(name: &str) -> Option<Term> {
    let stem = name
        .strip_suffix(".csv.inprogress")
        .or_else(|| name.strip_suffix(MANIFEST_TMP_SUFFIX))?;
    let (_, term) = stem.strip_prefix('.')?.rsplit_once("-t")?;
    if term.is_empty() || !term.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    term.parse().ok().map(Term)
}

/// `{id:010}.json`
pub fn manifest_file_name(checkpoint_id: CheckpointId) -> String {
    format!("{:010}.json", checkpoint_id.0)
}

/// `.{id:010}-t{term}.json.tmp`: the term keeps two nodes finishing the same checkpoint (a
/// new leader and a deposed one that has not noticed yet) from sharing one temp file.
pub(crate) fn manifest_tmp_name(checkpoint_id: CheckpointId, term: Term) -> String {
    format!(".{:010}-t{term}{MANIFEST_TMP_SUFFIX}", checkpoint_id.0)
}

/// The checkpoint id of a manifest file name, if it is one.
pub(crate) fn parse_manifest_name(name: &str) -> Option<CheckpointId> {
    let digits = name.strip_suffix(".json")?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(CheckpointId)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_dirs_are_encoded() {
        assert_eq!(table_dir_name("HR.EMP"), "HR.EMP");
        assert_eq!(table_dir_name("HR.A/B"), "HR.A%2FB");
        assert_eq!(table_dir_name("HR.A\\B%"), "HR.A%5CB%25");
        assert_eq!(table_dir_name("_X.T"), "%5FX.T");
        assert_eq!(table_dir_name(".T"), "%2ET");
        assert_eq!(table_dir_name("A._T"), "A._T");
        assert_eq!(table_dir_name("A.\u{0}\n"), "A.%00%0A");
        assert_eq!(table_dir_name("ÄÖ.ß"), "ÄÖ.ß");
    }

    #[test]
    fn file_names_sort_in_commit_order() {
        let id = CheckpointId;
        assert_eq!(final_file_name(id(7), 0), "0000000007-000000.csv");
        assert_eq!(
            inprogress_file_name(id(7), 12, Term(3)),
            ".0000000007-000012-t3.csv.inprogress"
        );
        assert!(final_file_name(id(9), 999) < final_file_name(id(10), 0));
        assert_eq!(parse_manifest_name("0000000042.json"), Some(id(42)));
        assert_eq!(
            parse_manifest_name(&manifest_tmp_name(id(42), Term(1))),
            None
        );
    }

    #[test]
    fn the_term_of_unfinished_files_is_read_back() {
        let name = inprogress_file_name(CheckpointId(7), 12, Term(31));
        assert_eq!(term_of_unfinished(&name), Some(Term(31)));
        let tmp = manifest_tmp_name(CheckpointId(7), Term(4));
        assert_eq!(tmp, ".0000000007-t4.json.tmp");
        assert_eq!(term_of_unfinished(&tmp), Some(Term(4)));
        assert_eq!(term_of_unfinished("0000000007-000012.csv"), None);
        assert_eq!(
            term_of_unfinished(".0000000007-000012-tx.csv.inprogress"),
            None
        );
        assert_eq!(term_of_unfinished(".0000000007.json.tmp"), None);
    }
}
