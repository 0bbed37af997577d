//! Replays every file of `fuzz/corpus/<target>/` through its target, on the stable toolchain:
//! the seed inputs, what fuzzing added (after `cargo fuzz cmin`) and every input that once
//! made a target fail.

use std::path::{Path, PathBuf};

use cairn_fuzz_targets::alloc::CountingAllocator;
use cairn_fuzz_targets::TARGETS;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn replay(name: &str) {
    let target = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no target {name}"))
        .1;
    let dir = fuzz_dir().join("corpus").join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    for f in &files {
        let data = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        if let Err(panic) = std::panic::catch_unwind(|| target(&data)) {
            let msg = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("");
            panic!("{name} fails on {}: {msg}", f.display());
        }
    }
}

#[test]
fn log_group() {
    replay("log_group");
}

#[test]
fn decompress() {
    replay("decompress");
}

#[test]
fn lz4_join() {
    replay("lz4_join");
}

#[test]
fn cursor() {
    replay("cursor");
}

#[test]
fn sls_signature() {
    replay("sls_signature");
}

#[test]
fn digest() {
    replay("digest");
}

#[test]
fn atlas_body() {
    replay("atlas_body");
}

#[test]
fn tracking_body() {
    replay("tracking_body");
}

/// Every fuzz binary is a target with a replay test above, and every target has a binary.
#[test]
fn every_target_has_a_fuzz_binary() {
    let mut binaries: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .expect("fuzz/fuzz_targets")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    binaries.sort();
    let mut names: Vec<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    names.sort();
    assert_eq!(binaries, names);
    let this = std::fs::read_to_string(file!()).or_else(|_| {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus.rs"))
    });
    let this = this.expect("this file");
    for n in &names {
        assert!(
            this.contains(&format!("replay(\"{n}\")")),
            "no replay test for {n}"
        );
    }
}
