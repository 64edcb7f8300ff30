//! Reading a finished output root, shared by the whole-system tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Every table directory's finished files in name (= commit) order. Fails the test on an
/// in-progress file or anything but `*.csv` in a table directory.
pub fn table_files(out: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut result = BTreeMap::new();
    for entry in fs::read_dir(out).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().to_string();
        if !entry.file_type().unwrap().is_dir() || name.starts_with('_') {
            continue;
        }
        let mut files: Vec<PathBuf> = fs::read_dir(entry.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in &files {
            let fname = f.file_name().unwrap().to_string_lossy().to_string();
            assert!(
                !fname.ends_with(".inprogress"),
                "in-progress file left behind: {}",
                f.display()
            );
            assert!(fname.ends_with(".csv"), "unexpected file {}", f.display());
        }
        result.insert(name, files);
    }
    result
}

/// Each table's files concatenated: the first file's header kept, the others' headers checked
/// equal and dropped.
pub fn table_outputs(out: &Path) -> BTreeMap<String, String> {
    let mut result = BTreeMap::new();
    for (name, files) in table_files(out) {
        let mut text = String::new();
        for f in files {
            let content = fs::read_to_string(&f).unwrap();
            let (header, body) = content.split_once('\n').unwrap();
            if text.is_empty() {
                text.push_str(header);
                text.push('\n');
            } else {
                assert!(
                    text.starts_with(&format!("{header}\n")),
                    "header changed in {}",
                    f.display()
                );
            }
            text.push_str(body);
        }
        result.insert(name, text);
    }
    result
}
