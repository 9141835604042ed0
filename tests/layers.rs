//! The layering of the crate, checked on its sources: imports go one way,
//! core ← sys ← session ← report/tui ← cmd ← cli ← main, and only `cli` knows clap. A lower
//! layer that reaches into a higher one fails here (and in `scripts/dev.sh lint`).

use std::path::{Path, PathBuf};

/// The layer of each top-level module, lowest first; `report` and `tui` share one.
const LAYERS: [(&str, u8); 8] = [
    ("error", 0),
    ("core", 0),
    ("sys", 1),
    ("session", 2),
    ("report", 3),
    ("tui", 3),
    ("cmd", 4),
    ("cli", 5),
];

fn rank(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading src").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a file names through `crate::` (also inside `use crate::{…}` groups).
fn imports(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name: String =
                    part.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                found.push(name);
            }
        } else {
            found.push(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
    }
    found
}

/// Violations: (file, what it imports) where the import is of a higher layer.
fn violations(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    let mut bad = Vec::new();
    for file in files {
        let rel = file.strip_prefix(root).unwrap_or(&file);
        let top = rel
            .components()
            .nth(1)
            .and_then(|c| c.as_os_str().to_str())
            .map(|s| s.trim_end_matches(".rs").to_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&file).expect("reading a source file");
        if top != "cli" && (text.contains("use clap") || text.contains("clap::")) {
            bad.push(format!("{}: uses clap (only cli may)", rel.display()));
        }
        let Some(own) = rank(&top) else { continue };
        for module in imports(&text) {
            if let Some(other) = rank(&module)
                && other > own
            {
                bad.push(format!("{}: imports crate::{module} (a higher layer)", rel.display()));
            }
        }
    }
    bad.sort();
    bad.dedup();
    bad
}

#[test]
fn imports_go_one_way() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bad = violations(root);
    assert!(bad.is_empty(), "layering violations:\n{}", bad.join("\n"));
}

#[test]
fn the_check_catches_an_upward_import() {
    assert_eq!(
        imports("use crate::cmd::ping;\nuse crate::{core, tui::Feed};"),
        ["cmd", "core", "tui"]
    );
    let dir = std::env::temp_dir().join(format!("vtrace-layers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src/core")).expect("temp src");
    std::fs::write(dir.join("src/core/bad.rs"), "use crate::session::live::Live;\n")
        .expect("write");
    std::fs::write(dir.join("src/core/clappy.rs"), "use clap::Args;\n").expect("write");
    let bad = violations(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        bad,
        [
            "src/core/bad.rs: imports crate::session (a higher layer)",
            "src/core/clappy.rs: uses clap (only cli may)"
        ]
    );
}
