//! Human- and machine-readable description of schema v1.1 (`goodhart schema`).

use crate::check::{ColumnSpec, EVENT_COLUMNS, ROSTER_COLUMNS};
use crate::normalize::QuarantineReason;
use crate::SCHEMA_VERSION;
use std::fmt::Write as _;

fn table(s: &mut String, cols: &[ColumnSpec]) {
    s.push_str("| column | required | accepted types | meaning |\n");
    s.push_str("|---|---|---|---|\n");
    for c in cols {
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} |",
            c.name,
            if c.required { "yes" } else { "no" },
            c.kind.expected(),
            c.description
        );
    }
}

/// Markdown description of the events and roster tables of schema v1.1, and of
/// the quarantine reasons (for the `goodhart schema` command).
///
/// ```
/// let d = goodhart_schema::describe_schema();
/// assert!(d.contains("| `input_tokens` | no | an integer type"));
/// assert!(d.contains("null_user_id"));
/// ```
pub fn describe_schema() -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# goodhart input schema v{SCHEMA_VERSION}\n");
    s.push_str(
        "## Events (`*.parquet`, one row per event)\n\n\
         A file or a directory read recursively (hive partitions such as \
         `date=YYYY-MM-DD/` allowed; `date` partitions are UTC dates). Missing \
         optional columns read as null; unknown columns are ignored. Every billed \
         token sits on exactly one row; token buckets never overlap.\n\n",
    );
    table(&mut s, &EVENT_COLUMNS);
    s.push_str("\n## Roster (`users.parquet`, optional)\n\n");
    table(&mut s, &ROSTER_COLUMNS);
    s.push_str(
        "\n## Quarantine reasons\n\nRows failing a check are set aside (never silently \
         dropped) with the first failing reason in this order:\n\n",
    );
    for r in QuarantineReason::ALL {
        let _ = writeln!(s, "1. `{}`: {}", r.as_str(), r.description());
    }
    s
}

/// The same description as [`describe_schema`], as JSON:
/// `{"version", "events": [column...], "roster": [column...], "quarantine_reasons": [...]}`
/// where a column is `{"name", "required", "kind", "description", "accepted_types"}`.
///
/// ```
/// let j = goodhart_schema::schema_json();
/// assert_eq!(j["events"][0]["name"], "ts");
/// assert_eq!(j["events"][0]["required"], true);
/// ```
pub fn schema_json() -> serde_json::Value {
    let cols = |cs: &[ColumnSpec]| {
        cs.iter()
            .map(|c| {
                serde_json::json!({
                    "name": c.name,
                    "required": c.required,
                    "kind": c.kind,
                    "description": c.description,
                    "accepted_types": c.kind.expected(),
                })
            })
            .collect::<Vec<_>>()
    };
    serde_json::json!({
        "version": SCHEMA_VERSION,
        "events": cols(&EVENT_COLUMNS),
        "roster": cols(&ROSTER_COLUMNS),
        "quarantine_reasons": QuarantineReason::ALL
            .iter()
            .map(|r| serde_json::json!({"reason": r.as_str(), "description": r.description()}))
            .collect::<Vec<_>>(),
    })
}
