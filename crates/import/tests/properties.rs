//! Property tests: every parser, fed arbitrary bytes or mutated fixtures,
//! never panics, balances its accounting (records = used + skipped +
//! quarantined, per file) and writes only rows that pass schema validation.

mod common;
use common::*;
use goodhart_import::{import, Format, ImportOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn sample(format: Format) -> (&'static str, Vec<u8>) {
    let f = fixtures();
    let (ext, p) = match format {
        Format::ClaudeCode => (
            "jsonl",
            f.join("claude-code/alice/.claude/projects/-home-alice-proj/sess-a.jsonl"),
        ),
        Format::Cursor => ("json", f.join("cursor/page-1.json")),
        Format::CursorCsv => ("csv", f.join("cursor-csv/usage-events-2026-10-05.csv")),
        Format::CursorDaily => ("json", f.join("cursor-daily/daily-2026-10-05.json")),
        Format::OpenaiUsage => ("json", f.join("openai-usage/completions-page-1.json")),
        Format::Copilot => ("ndjson", f.join("copilot/users-1-day-2026-10-05.ndjson")),
        Format::AnthropicUsage => ("json", f.join("anthropic-usage/messages-page-1.json")),
        Format::ClaudeCodeOtel => ("jsonl", f.join("claude-code-otel/logs.jsonl")),
        Format::OtelGenai => ("jsonl", f.join("otel-genai/traces.jsonl")),
        _ => unreachable!("every format has a sample"),
    };
    (ext, std::fs::read(p).unwrap())
}

fn check(format: Format, bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let (ext, _) = sample(format);
    let src = dir.path().join(format!("input.{ext}"));
    std::fs::write(&src, bytes).unwrap();
    let lake = dir.path().join("lake");
    let mut o = ImportOptions::new(format, vec![src], lake.clone());
    o.user = Some("p".into());
    let r = import(&o).unwrap();
    assert!(r.balanced(), "{:#?}", r.files);
    let written: u64 = r.totals.events.values().sum();
    let rows = rows(&lake);
    assert_eq!(rows.len() as u64, written);
    if lake.join("events").exists() {
        let v = goodhart_io::validate(&lake.join("events"), None, None).unwrap();
        assert_eq!(v.counts.rows_quarantined, 0);
        assert_eq!(v.counts.rows_read, written);
    }
    // Idempotent: a second run adds nothing.
    let again = import(&o).unwrap();
    assert!(again.totals.events.is_empty());
}

/// A mutation of `base`: overwrite, delete or duplicate a slice.
fn mutate(base: &[u8], op: u8, at: usize, len: usize, byte: u8) -> Vec<u8> {
    let mut v = base.to_vec();
    if v.is_empty() {
        return vec![byte];
    }
    let at = at % v.len();
    let end = (at + len % 64).min(v.len());
    match op % 4 {
        0 => v[at] = byte,
        1 => {
            v.drain(at..end);
        }
        2 => {
            let s: Vec<u8> = v[at..end].to_vec();
            v.splice(at..at, s);
        }
        _ => {
            for b in &mut v[at..end] {
                *b = byte;
            }
        }
    }
    v
}

const FORMATS: [Format; 9] = Format::ALL;

/// Seeded random cases (reproducible: the failing case prints its seed).
const CASES: u64 = 40;

#[test]
fn arbitrary_bytes() {
    for seed in 0..CASES {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        let f = FORMATS[r.gen_range(0..FORMATS.len())];
        let len = r.gen_range(0..400);
        // Bias towards JSON-ish and CSV-ish bytes so parsers get past the first byte.
        const ALPHABET: &[u8] =
            b"{}[]\":,\n\r 0123456789-.abcdefghijklmnopqrstuvwxyz_\"typeassistantusermessageusage";
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                if r.gen_bool(0.7) {
                    ALPHABET[r.gen_range(0..ALPHABET.len())]
                } else {
                    r.gen()
                }
            })
            .collect();
        eprintln!("seed {seed}: {f}");
        check(f, &bytes);
    }
}

#[test]
fn mutated_fixtures() {
    for seed in 0..CASES * 2 {
        let mut r = ChaCha8Rng::seed_from_u64(1000 + seed);
        let f = FORMATS[(seed as usize) % FORMATS.len()];
        let (_, mut v) = sample(f);
        for _ in 0..r.gen_range(1..6) {
            v = mutate(&v, r.gen(), r.gen(), r.gen(), r.gen());
        }
        eprintln!("seed {}: {f}", 1000 + seed);
        check(f, &v);
    }
}
