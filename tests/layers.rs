//! The import layers of the design notes (issue 11: one import direction) as data, checked
//! against the source: every `crate::…` path in a top-level module of `src/` may only name a
//! module of its own layer or of a lower one, and modules of one layer may not use each other
//! in a circle. A new top-level module must
//! be placed in [`LAYERS`] before it compiles into a passing suite.
//!
//! The check reads the source text (comments and string literals removed), so it needs no
//! compiler support and runs in milliseconds.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// Top-level modules of the library, lowest layer first. A module may import modules of its
/// own row and of the rows above it (listed earlier), never of a row below.
const LAYERS: &[&[&str]] = &[
    // Pure rules and types, settings, metric names and the recorder, fault injection.
    &["domain", "config", "observability", "fault"],
    // The durable store.
    &["persistence"],
    // The hub, topics and protocol; the JSON views and the read models they fill; discovery
    // signals derived from the log (popularity, co-purchases, views); the search index and its
    // log follower (it reads the catalog's read model).
    &["realtime", "views", "read_model", "discovery", "search"],
    // Shared services, accounts and access rules, the payment provider.
    &["context", "auth", "payments"],
    // One actor per product, cart and order; the registry.
    &["actors"],
    // Operations that span actors; product images (files, records, the product's actor).
    &["services", "media"],
    // Readers of the log that reach outside: webhook deliveries and emails (they use the
    // services' errors, the views and the accounts; only the assembly and the edges name them).
    &["webhooks", "notifications"],
    // Assembly, recovery, housekeeping.
    &["app"],
    // The edges: REST, the WebSocket handler, telemetry; the pages; the demo; and the request
    // error table that `http` renders as problem+json.
    &["http", "web", "demo", "error"],
];

/// Edges that go up a layer today, each with why it is still there. This list may only
/// shrink: an edge that no longer exists fails the test too, so it is removed when fixed.
const ALLOWED_UPWARD: &[(&str, &str, &str)] = &[
    // Empty since auth, the actors and the services answer typed errors of their own
    // (AuthError, DomainError, ServiceError) and only the edges name AppError.
];

/// The modules that may name axum: the edges (REST and WebSocket handlers, the pages) and
/// the assembly that hands their router to the server. `lib.rs` (which serves the router) and
/// `main.rs` (the binary) are crate roots above every layer and are not scanned.
const AXUM_ALLOWED: &[&str] = &["http", "app", "web"];

/// `src/` of this crate.
fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level modules of the library: `src/x.rs` and `src/x/`, minus the crate roots and
/// the binaries.
fn top_level_modules() -> BTreeSet<String> {
    let mut modules = BTreeSet::new();
    for entry in fs::read_dir(src()).expect("src/ readable") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .expect("utf-8 names")
            .to_owned();
        let is_module = if path.is_dir() {
            name != "bin"
        } else {
            path.extension().is_some_and(|e| e == "rs") && name != "lib" && name != "main"
        };
        if is_module {
            modules.insert(name);
        }
    }
    modules
}

/// Every `.rs` file under `path` (or `path` itself).
fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut files = Vec::new();
    let mut pending = vec![path.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("dir readable") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The source with comments removed and string and char literals emptied, so that only code
/// is searched (a doc link or an error message naming `crate::x` is no import).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !chars
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            // A raw string r"…" or r#"…"#: skip to the quote followed by as many hashes.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match chars.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    Some(_) => j += 1,
                }
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A char literal ('x', '\n', '\''), not a lifetime ('a).
            if next == Some('\\') {
                let mut j = i + 3;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push_str("' '");
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The top-level module names of every `crate::…` path in `code`, `use crate::{a, b::c}`
/// trees included.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(path) = rest.trim_start().strip_prefix("::") else {
            continue;
        };
        let path = path.trim_start();
        if let Some(tree) = path.strip_prefix('{') {
            // The items of the group at depth one: the first identifier of each.
            let mut depth = 0;
            let mut expect_name = true;
            for (i, c) in tree.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => expect_name = true,
                    c if expect_name && depth == 0 && (c.is_alphabetic() || c == '_') => {
                        names.insert(identifier(&tree[i..]));
                        expect_name = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = identifier(path);
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

fn identifier(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Whether `code` names the `axum` crate: a path `axum::…` (a `use` or inline), or
/// `extern crate axum`.
fn names_axum(code: &str) -> bool {
    let mut rest = code;
    while let Some(at) = rest.find("axum") {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + "axum".len()..];
        rest = after;
        let starts_word = !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        let ends_word = !after
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if !(starts_word && ends_word) {
            continue;
        }
        let extern_crate = code[..code.len() - after.len() - "axum".len()]
            .trim_end()
            .ends_with("extern crate");
        if after.trim_start().starts_with("::") || extern_crate {
            return true;
        }
    }
    false
}

/// The files of the modules outside [`AXUM_ALLOWED`] that name axum.
fn axum_outside_the_edges() -> Vec<String> {
    let mut found = Vec::new();
    for module in top_level_modules() {
        if AXUM_ALLOWED.contains(&module.as_str()) {
            continue;
        }
        let dir = src().join(&module);
        let root = if dir.is_dir() {
            dir
        } else {
            src().join(format!("{module}.rs"))
        };
        for file in rust_files(&root) {
            let text = fs::read_to_string(&file).expect("source readable");
            if names_axum(&code_only(&text)) {
                found.push(
                    file.strip_prefix(src())
                        .unwrap_or(&file)
                        .display()
                        .to_string(),
                );
            }
        }
    }
    found
}

/// Module → the modules it names, from the source.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    top_level_modules()
        .into_iter()
        .map(|module| {
            let dir = src().join(&module);
            let root = if dir.is_dir() {
                dir
            } else {
                src().join(format!("{module}.rs"))
            };
            let mut named = BTreeSet::new();
            for file in rust_files(&root) {
                let text = fs::read_to_string(&file).expect("source readable");
                named.extend(crate_paths(&code_only(&text)));
            }
            named.remove(&module);
            (module, named)
        })
        .collect()
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|row| row.contains(&module))
}

/// The upward edges of `imports` that are not allowed, and the allowed ones that are gone.
fn violations(imports: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut problems = Vec::new();
    for module in imports.keys() {
        if layer_of(module).is_none() {
            problems.push(format!("src/{module} is in no layer: add it to LAYERS"));
        }
    }
    for (module, named) in imports {
        let Some(own) = layer_of(module) else {
            continue;
        };
        for target in named {
            let Some(theirs) = layer_of(target) else {
                problems.push(format!(
                    "{module} names crate::{target}, which is not a module in LAYERS"
                ));
                continue;
            };
            let allowed = ALLOWED_UPWARD
                .iter()
                .any(|(from, to, _)| from == module && to == target);
            if theirs > own && !allowed {
                problems.push(format!(
                    "{module} (layer {own}) imports {target} (layer {theirs}), a higher layer"
                ));
            }
        }
    }
    for (from, to, _) in ALLOWED_UPWARD {
        let still_there = imports.get(*from).is_some_and(|named| named.contains(*to));
        if !still_there {
            problems.push(format!(
                "{from} no longer imports {to}: remove it from ALLOWED_UPWARD"
            ));
        }
    }
    problems
}

/// A circle among modules of one layer, if any (upward edges are reported on their own).
fn circle(imports: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        module: &str,
        imports: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == module) {
            let mut found = path[start..].to_vec();
            found.push(module.to_owned());
            return Some(found);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for target in imports.get(module).into_iter().flatten() {
            if layer_of(target) == layer_of(module)
                && let Some(found) = visit(target, imports, path, done)
            {
                return Some(found);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    imports
        .keys()
        .find_map(|module| visit(module, imports, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_imports_a_module_of_a_higher_layer() {
    let imports = imports();
    let problems = violations(&imports);
    assert!(
        problems.is_empty(),
        "layer violations (see LAYERS in tests/layers.rs):\n  {}",
        problems.join("\n  ")
    );
    if let Some(found) = circle(&imports) {
        panic!(
            "modules of one layer import each other: {}",
            found.join(" → ")
        );
    }
}

#[test]
fn nothing_below_the_edges_names_axum() {
    let found = axum_outside_the_edges();
    assert!(
        found.is_empty(),
        "only {AXUM_ALLOWED:?} may name axum (issue 11: nothing below http names axum); \
         found in src/{}",
        found.join(", src/")
    );
}

#[test]
fn the_axum_scanner_sees_paths_but_not_lookalikes_comments_or_strings() {
    let named = |text: &str| names_axum(&code_only(text));
    assert!(named("use axum::extract::ws::Utf8Bytes;"));
    assert!(named("fn f() -> axum :: http::StatusCode { todo!() }"));
    assert!(named("use {axum::Router, std::sync::Arc};"));
    assert!(named("extern crate axum;"));
    assert!(!named("// use axum::Router;"));
    assert!(!named(r#"let s = "axum::Router";"#));
    assert!(!named(
        "use crate::axum_free::thing; let axum = 1; my_axum::x();"
    ));
    assert!(!named("use problem_details::axum::Thing;"));
}

#[test]
fn the_scanner_sees_use_trees_and_inline_paths_but_not_comments_or_strings() {
    let code = code_only(
        r##"
        use crate::{
            actors::{ActorError, Shared},
            domain::ids::StoreId, error::AppError,
        };
        use crate::views;
        // use crate::commented;
        /// [`crate::doc_link`]
        let x = "crate::in_a_string";
        let y = r#"crate::in_a_raw_string"#;
        let c = '"'; let q = '\'';
        fn f<'a>(s: &'a str) { crate::fault::hit("x"); }
        let z = crate :: spaced ::thing;
        "##,
    );
    let names: Vec<String> = crate_paths(&code).into_iter().collect();
    assert_eq!(
        names,
        ["actors", "domain", "error", "fault", "spaced", "views"]
    );
}

#[test]
fn an_upward_edge_and_a_circle_are_reported() {
    let edges = |list: &[(&str, &[&str])]| -> BTreeMap<String, BTreeSet<String>> {
        list.iter()
            .map(|(m, named)| {
                (
                    (*m).to_owned(),
                    named.iter().map(|n| (*n).to_owned()).collect(),
                )
            })
            .collect()
    };
    let upward = edges(&[("persistence", &["auth"]), ("auth", &["domain"])]);
    assert!(
        violations(&upward)
            .iter()
            .any(|p| p.starts_with("persistence (layer 1) imports auth (layer 3)")),
        "{:?}",
        violations(&upward)
    );
    let circular = edges(&[("views", &["read_model"]), ("read_model", &["views"])]);
    assert!(circle(&circular).is_some());
    assert!(circle(&edges(&[("views", &["persistence"])])).is_none());
}
