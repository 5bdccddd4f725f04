//! Embeds `web/` and `dashboards/` into the binary (SOC networks are often air-gapped: the wall
//! must not need anything but the one executable).

use std::fmt::Write as _;
use std::path::Path;

fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            walk(&p, base, out);
        } else if let Ok(rel) = p.strip_prefix(base) {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') || name.ends_with('~') {
                continue;
            }
            out.push((
                rel.to_string_lossy().replace('\\', "/"),
                p.canonicalize().unwrap().display().to_string(),
            ));
        }
    }
}

fn main() {
    // Read at run time, not with env!(): a build script compiled for another checkout sharing
    // the target directory (a copied target/, a second worktree) would otherwise embed that
    // checkout's web/ and dashboards/.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest);
    let mut code = String::new();
    for (name, dir) in [("WEB_ASSETS", "web"), ("DASHBOARDS", "dashboards")] {
        let base = root.join(dir);
        println!("cargo:rerun-if-changed={}", base.display());
        let mut files = Vec::new();
        walk(&base, &base, &mut files);
        for (_, abs) in &files {
            println!("cargo:rerun-if-changed={abs}");
        }
        writeln!(code, "pub static {name}: &[(&str, &[u8])] = &[").unwrap();
        for (rel, abs) in files {
            writeln!(code, "    ({rel:?}, include_bytes!({abs:?})),").unwrap();
        }
        writeln!(code, "];").unwrap();
    }
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("embedded.rs");
    std::fs::write(out, code).unwrap();
}
