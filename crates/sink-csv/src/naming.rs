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
pub fn final_file_name(checkpoint_id: u64, seq: u32) -> String {
    format!("{checkpoint_id:010}-{seq:06}.csv")
}

/// `.{checkpoint:010}-{seq:06}-t{term}.csv.inprogress`
pub fn inprogress_file_name(checkpoint_id: u64, seq: u32, term: u64) -> String {
    format!(".{checkpoint_id:010}-{seq:06}-t{term}.csv{INPROGRESS_SUFFIX}")
}

/// `{id:010}.json`
pub fn manifest_file_name(checkpoint_id: u64) -> String {
    format!("{checkpoint_id:010}.json")
}

pub(crate) fn manifest_tmp_name(checkpoint_id: u64) -> String {
    format!(".{checkpoint_id:010}{MANIFEST_TMP_SUFFIX}")
}

/// The checkpoint id of a manifest file name, if it is one.
pub(crate) fn parse_manifest_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".json")?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
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
        assert_eq!(final_file_name(7, 0), "0000000007-000000.csv");
        assert_eq!(
            inprogress_file_name(7, 12, 3),
            ".0000000007-000012-t3.csv.inprogress"
        );
        assert!(final_file_name(9, 999) < final_file_name(10, 0));
        assert_eq!(parse_manifest_name("0000000042.json"), Some(42));
        assert_eq!(parse_manifest_name(".0000000042.json.tmp"), None);
    }
}
