//! Billed vs estimated vs unpriced, on inputs with and without `cost_usd`
//! and with a model missing from the price table (known answers).

use goodhart_features::{features, FeatureOptions, Features};
use goodhart_schema::{hash_str, EventBatch, EventKind, Names, Presence};
use goodhart_waste::{estimate, totals, PriceBasis, PriceTable, WasteOptions, PATTERNS};

const T0: i64 = 1_716_825_600_000_000; // 2024-05-27 16:00 UTC, a Monday: no sprint

/// `n` requests of `user`/`session` on `model`, 1000 input + 100 output
/// tokens each, one minute apart; `looping`: all with one task hash;
/// `cost`: USD per row (None = no cost recorded).
fn requests(
    user: &str,
    session: &str,
    model: &str,
    n: usize,
    looping: bool,
    cost: Option<f64>,
) -> EventBatch {
    EventBatch {
        ts_us: (0..n).map(|i| T0 + i as i64 * 60_000_000).collect(),
        user: vec![hash_str(user); n],
        session: vec![hash_str(session); n],
        kind: vec![EventKind::Request; n],
        agent: vec![0; n],
        parent_agent: vec![0; n],
        model: vec![hash_str(model); n],
        input_tokens: vec![1_000; n],
        output_tokens: vec![100; n],
        cache_read_tokens: vec![0; n],
        cache_write_tokens: vec![0; n],
        task_hash: (0..n)
            .map(|i| {
                if looping {
                    hash_str(&format!("{session}-task"))
                } else {
                    hash_str(&format!("{session}-task-{i}"))
                }
            })
            .collect(),
        context_hash: vec![0; n],
        change_id: vec![0; n],
        lines: vec![0; n],
        cost_nanousd: vec![cost.map_or(0, |c| (c * 1e9).round() as i64); n],
        n: vec![],
        presence: Presence {
            task_hash: true,
            input_tokens: true,
            output_tokens: true,
            model: true,
            cost_usd: cost.is_some(),
            ..Presence::default()
        },
        names: Names {
            users: vec![(hash_str(user), user.into())],
            sessions: vec![(hash_str(session), session.into())],
            models: vec![(hash_str(model), model.into())],
        },
    }
}

fn run(batches: &[EventBatch]) -> Features {
    features(batches, &FeatureOptions::default(), None).unwrap()
}

const LOOP: usize = 2;

#[test]
fn without_cost_usd_everything_is_estimated_at_list_prices() {
    // Two honest users and one who sends one prompt 10 times.
    let f = run(&[
        requests("ann", "a1", "claude-sonnet-4-5", 10, false, None),
        requests("bob", "b1", "claude-sonnet-4-5", 10, false, None),
        requests("cat", "c1", "claude-sonnet-4-5", 10, true, None),
    ]);
    assert_eq!(PATTERNS[LOOP], "prompt-loop");
    let w = estimate(&f, &PriceTable::defaults(), &WasteOptions::default()).unwrap();
    let cat = w.users.iter().find(|u| u.user_id == "cat").unwrap();
    assert_eq!(cat.basis, PriceBasis::Estimated);
    // 9 repeats × 1100 tokens, the median loop share of the three is 0.
    assert_eq!(cat.figures.tokens[LOOP], 9 * 1100);
    // Spend at list prices: 10 × (1000 × $3 + 100 × $15) / 1M = $0.045.
    assert!((cat.figures.spend_estimated - 0.045).abs() < 1e-12);
    assert_eq!(cat.figures.spend_billed, 0.0);
    // Waste at the session's mix price: 9900 × 0.045 / 11000.
    assert!((cat.figures.usd_estimated[LOOP] - 9900.0 * 0.045 / 11000.0).abs() < 1e-12);
    assert_eq!(cat.figures.usd_billed[LOOP], 0.0);
    let t = totals(&w, Some("2026-11-30".into()));
    assert_eq!(t.sessions_by_basis.get("estimated"), Some(&3));
    assert_eq!(t.waste_usd_billed, 0.0);
    assert!(t.unpriced_models.is_empty());
    assert_eq!(t.tokens_unpriced, 0);
}

#[test]
fn with_cost_usd_the_billed_cost_is_used_and_kept_apart() {
    // cat's session is billed at $0.10 a row (not the list price); ann's
    // session has no cost recorded: estimated.
    let f = run(&[
        requests("ann", "a1", "claude-sonnet-4-5", 10, false, None),
        requests("bob", "b1", "claude-sonnet-4-5", 10, false, Some(0.01)),
        requests("cat", "c1", "claude-sonnet-4-5", 10, true, Some(0.10)),
    ]);
    let w = estimate(&f, &PriceTable::defaults(), &WasteOptions::default()).unwrap();
    let cat = w.users.iter().find(|u| u.user_id == "cat").unwrap();
    assert_eq!(cat.basis, PriceBasis::Billed);
    assert!((cat.figures.spend_billed - 1.0).abs() < 1e-9);
    assert_eq!(cat.figures.spend_estimated, 0.0);
    assert!((cat.figures.usd_billed[LOOP] - 9900.0 * 1.0 / 11000.0).abs() < 1e-9);
    assert_eq!(cat.figures.usd_estimated[LOOP], 0.0);
    let ann = w.users.iter().find(|u| u.user_id == "ann").unwrap();
    assert_eq!(ann.basis, PriceBasis::Estimated);
    assert!((ann.figures.spend_estimated - 0.045).abs() < 1e-12);
    let t = totals(&w, None);
    assert_eq!(t.sessions_by_basis.get("billed"), Some(&2));
    assert_eq!(t.sessions_by_basis.get("estimated"), Some(&1));
    assert!((t.spend_usd_billed - 1.1).abs() < 1e-9);
    assert!((t.spend_usd_estimated - 0.045).abs() < 1e-12);
    assert!((t.spend_usd - 1.145).abs() < 1e-9);
}

#[test]
fn a_user_with_billed_and_estimated_sessions_is_mixed_with_both_columns() {
    let f = run(&[
        requests("ann", "a1", "claude-sonnet-4-5", 10, false, None),
        requests("bob", "b1", "claude-sonnet-4-5", 10, false, None),
        requests("cat", "c1", "claude-sonnet-4-5", 10, true, Some(0.10)),
        requests("cat", "c2", "claude-sonnet-4-5", 10, true, None),
    ]);
    let w = estimate(&f, &PriceTable::defaults(), &WasteOptions::default()).unwrap();
    let cat = w.users.iter().find(|u| u.user_id == "cat").unwrap();
    assert_eq!(cat.basis, PriceBasis::Mixed);
    assert!(cat.figures.usd_billed[LOOP] > 0.0 && cat.figures.usd_estimated[LOOP] > 0.0);
    assert!((cat.figures.spend_billed - 1.0).abs() < 1e-9);
    assert!((cat.figures.spend_estimated - 0.045).abs() < 1e-12);
}

#[test]
fn a_model_missing_from_the_price_table_is_flagged_not_priced_at_zero() {
    let f = run(&[
        requests("ann", "a1", "claude-sonnet-4-5", 10, false, None),
        requests("bob", "b1", "claude-sonnet-4-5", 10, false, None),
        requests("cat", "c1", "acme-llm-7", 10, true, None),
    ]);
    let w = estimate(&f, &PriceTable::defaults(), &WasteOptions::default()).unwrap();
    let cat = w.users.iter().find(|u| u.user_id == "cat").unwrap();
    assert_eq!(cat.basis, PriceBasis::Unpriced);
    // The waste is found in tokens, and all of it is unpriced.
    assert_eq!(cat.figures.tokens[LOOP], 9 * 1100);
    assert_eq!(cat.figures.unpriced_tokens, 9 * 1100);
    assert_eq!(cat.figures.waste_usd(), 0.0);
    assert_eq!(cat.figures.spend_unpriced_tokens, 11_000);
    let t = totals(&w, None);
    assert_eq!(t.unpriced_models.get("acme-llm-7"), Some(&11_000));
    assert_eq!(t.tokens_unpriced, 11_000);
    assert_eq!(t.waste_tokens_unpriced, 9 * 1100);
    assert_eq!(t.sessions_by_basis.get("unpriced"), Some(&1));
    // An override in goodhart.toml prices it.
    let table = PriceTable::from_section(&goodhart_waste::PricesSection {
        models: vec![goodhart_waste::PriceRule {
            model: "acme-*".into(),
            input: 2.0,
            output: 10.0,
            cache_read: 0.2,
            cache_write: 2.5,
        }],
        defaults: true,
    })
    .unwrap();
    let w = estimate(&f, &table, &WasteOptions::default()).unwrap();
    let cat = w.users.iter().find(|u| u.user_id == "cat").unwrap();
    assert_eq!(cat.basis, PriceBasis::Estimated);
    assert!((cat.figures.spend_estimated - 10.0 * (2000.0 + 1000.0) / 1e6).abs() < 1e-12);
    assert!(totals(&w, None).unpriced_models.is_empty());
    // The same model with a billed cost needs no price.
    let f = run(&[
        requests("ann", "a1", "claude-sonnet-4-5", 10, false, None),
        requests("bob", "b1", "claude-sonnet-4-5", 10, false, None),
        requests("cat", "c1", "acme-llm-7", 10, true, Some(0.05)),
    ]);
    let w = estimate(&f, &PriceTable::defaults(), &WasteOptions::default()).unwrap();
    let cat = w.users.iter().find(|u| u.user_id == "cat").unwrap();
    assert_eq!(cat.basis, PriceBasis::Billed);
    assert!((cat.figures.usd_billed[LOOP] - 9900.0 * 0.5 / 11000.0).abs() < 1e-9);
    assert!(totals(&w, None).unpriced_models.is_empty());
}
