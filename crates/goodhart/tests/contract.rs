//! The contract between stages: every column the detectors read exists in
//! the feature stage's output schema, so renaming a feature cannot silently
//! turn a detector into "not evaluated".

use goodhart::detect::ScoreOptions;
use goodhart::features::{session_schema, user_schema};

fn missing(
    read: &std::collections::BTreeSet<String>,
    schema: &arrow::datatypes::Schema,
) -> Vec<String> {
    read.iter()
        .filter(|c| schema.field_with_name(c).is_err())
        .cloned()
        .collect()
}

#[test]
fn every_column_a_detector_reads_is_in_the_feature_schema() {
    let read = ScoreOptions::default().columns_read();
    // The default patterns read many columns of both tables.
    assert!(read.user.len() > 10, "{:?}", read.user);
    assert!(read.session.len() > 3, "{:?}", read.session);
    assert_eq!(missing(&read.user, &user_schema()), Vec::<String>::new());
    assert_eq!(
        missing(&read.session, &session_schema()),
        Vec::<String>::new()
    );
}

#[test]
fn a_renamed_feature_is_caught() {
    let mut opts = ScoreOptions::default();
    opts.patterns[0].user_features[0].column = "renamed_feature".into();
    let read = opts.columns_read();
    assert_eq!(missing(&read.user, &user_schema()), ["renamed_feature"]);
}

#[test]
fn every_feature_column_is_documented() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/features.md"
    ))
    .expect("docs/features.md");
    // Columns are documented in the first cell of the tables' rows, several
    // sharing a row as `a, b, c`.
    let documented: std::collections::BTreeSet<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next())
        .flat_map(|cell| cell.split(','))
        .map(|c| c.trim().trim_matches('`'))
        .collect();
    let undocumented: Vec<String> = user_schema()
        .fields()
        .iter()
        .chain(session_schema().fields().iter())
        .map(|f| f.name().clone())
        .filter(|n| !documented.contains(n.as_str()))
        .collect();
    assert_eq!(
        undocumented,
        Vec::<String>::new(),
        "add them to docs/features.md"
    );
}

#[test]
fn the_readme_embedding_example_is_the_crate_doc_test() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let section = &readme[readme.find("## Embedding the library").unwrap()..];
    let start = section.find("```rust\n").unwrap() + "```rust\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let lib = std::fs::read_to_string(format!("{root}/crates/goodhart/src/lib.rs")).unwrap();
    // The doc-test's visible lines (hidden `# ` set-up lines left out).
    let doc: String = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .skip_while(|l| !l.starts_with("## Example: the pipeline"))
        .skip_while(|l| *l != "```")
        .skip(1)
        .take_while(|l| *l != "```")
        .filter(|l| !l.starts_with("# "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(block, doc);
}
