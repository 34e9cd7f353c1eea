//! The weekly ledger (week × team × pattern), organisation totals and the
//! Arrow tables written by the scan.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, RecordBatch, StringArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::NaiveDate;
use goodhart_core::WeeklyWaste;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::estimate::{pattern_column, WasteEstimate, WasteFigures, PATTERNS};
use crate::WasteError;

/// Team name used for users without a roster team.
pub const NO_TEAM: &str = "(no team)";

/// One ledger row: one pattern's waste in one team in one week
/// ([`WeeklyWaste`], whose fields read through), with what only the scan's
/// view of the week has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerRow {
    /// The week's figures.
    #[serde(flatten)]
    pub figures: WeeklyWaste,
    /// Days of the week inside the scan's window (7 = complete week).
    pub days_covered: u32,
    /// Waste USD / spend USD (null when no spend).
    pub share_of_spend: Option<f64>,
}

impl std::ops::Deref for LedgerRow {
    type Target = WeeklyWaste;

    fn deref(&self) -> &WeeklyWaste {
        &self.figures
    }
}

/// Builds the ledger of the window `[first, last]` (days inclusive): one row
/// per week × team × pattern with any session of the team that week; teams
/// of fewer than `min_group_size` people are suppressed.
pub fn ledger(
    est: &WasteEstimate,
    first: NaiveDate,
    last: NaiveDate,
    min_group_size: usize,
) -> Vec<LedgerRow> {
    let team_of: BTreeMap<&str, &str> = est
        .users
        .iter()
        .map(|u| (u.user_id.as_str(), u.team.as_deref().unwrap_or(NO_TEAM)))
        .collect();
    let mut team_size: BTreeMap<&str, u64> = BTreeMap::new();
    for t in team_of.values() {
        *team_size.entry(t).or_default() += 1;
    }
    // (week, team) → spend and per pattern figures / users.
    #[derive(Default)]
    struct Cell<'a> {
        fig: WasteFigures,
        users: [BTreeSet<&'a str>; 6],
    }
    let mut cells: BTreeMap<(NaiveDate, &str), Cell<'_>> = BTreeMap::new();
    for s in &est.sessions {
        let team = team_of.get(s.user_id.as_str()).copied().unwrap_or(NO_TEAM);
        let c = cells.entry((s.week, team)).or_default();
        c.fig.add(&s.figures);
        for p in 0..PATTERNS.len() {
            if s.figures.tokens[p] > 0 {
                c.users[p].insert(s.user_id.as_str());
            }
        }
    }
    let mut rows = Vec::new();
    for ((week, team), c) in cells {
        let days_covered = (0..7)
            .filter(|d| {
                let day = week + chrono::Days::new(*d);
                day >= first && day <= last
            })
            .count() as u32;
        let team_users = team_size.get(team).copied().unwrap_or(0);
        let suppressed = (team_users as usize) < min_group_size;
        let spend = c.fig.spend_usd();
        for (p, name) in PATTERNS.iter().enumerate() {
            let usd = c.fig.pattern_usd(p);
            rows.push(LedgerRow {
                figures: WeeklyWaste {
                    week,
                    team: team.to_string(),
                    pattern: name.to_string(),
                    team_users,
                    suppressed,
                    waste_tokens: (!suppressed).then_some(c.fig.tokens[p]),
                    waste_usd_billed: (!suppressed).then_some(c.fig.usd_billed[p]),
                    waste_usd_estimated: (!suppressed).then_some(c.fig.usd_estimated[p]),
                    users_involved: (!suppressed).then_some(c.users[p].len() as u64),
                    spend_usd: (!suppressed).then_some(spend),
                },
                days_covered,
                share_of_spend: (!suppressed && spend > 0.0).then(|| usd / spend),
            });
        }
    }
    rows
}

/// The schema of `waste.parquet` (and of `goodhart ledger --format csv`).
pub fn ledger_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("week", DataType::Date32, false),
        Field::new("team", DataType::Utf8, false),
        Field::new("pattern", DataType::Utf8, false),
        Field::new("days_covered", DataType::UInt64, false),
        Field::new("team_users", DataType::UInt64, false),
        Field::new("suppressed", DataType::Boolean, false),
        Field::new("waste_tokens", DataType::UInt64, true),
        Field::new("waste_usd", DataType::Float64, true),
        Field::new("waste_usd_billed", DataType::Float64, true),
        Field::new("waste_usd_estimated", DataType::Float64, true),
        Field::new("users_involved", DataType::UInt64, true),
        Field::new("spend_usd", DataType::Float64, true),
        Field::new("share_of_spend", DataType::Float64, true),
    ]))
}

fn days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

/// The ledger rows as one Arrow batch ([`ledger_schema`]).
pub fn ledger_batch(rows: &[LedgerRow]) -> Result<RecordBatch, WasteError> {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Date32Array::from_iter_values(
            rows.iter().map(|r| days(r.week)),
        )),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.team))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.pattern),
        )),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|r| u64::from(r.days_covered)),
        )),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|r| r.team_users),
        )),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.suppressed)),
        )),
        Arc::new(UInt64Array::from_iter(rows.iter().map(|r| r.waste_tokens))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.waste_usd()))),
        Arc::new(Float64Array::from_iter(
            rows.iter().map(|r| r.waste_usd_billed),
        )),
        Arc::new(Float64Array::from_iter(
            rows.iter().map(|r| r.waste_usd_estimated),
        )),
        Arc::new(UInt64Array::from_iter(
            rows.iter().map(|r| r.users_involved),
        )),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.spend_usd))),
        Arc::new(Float64Array::from_iter(
            rows.iter().map(|r| r.share_of_spend),
        )),
    ];
    Ok(RecordBatch::try_new(ledger_schema(), cols)?)
}

/// The organisation's totals (`summary.json` → `waste`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    /// Waste tokens.
    pub waste_tokens: u64,
    /// Waste USD (billed + estimated).
    pub waste_usd: f64,
    /// Of which from billed `cost_usd`.
    pub waste_usd_billed: f64,
    /// Of which estimated at list prices.
    pub waste_usd_estimated: f64,
    /// Waste tokens that could not be priced.
    pub waste_tokens_unpriced: u64,
    /// Total spend USD (billed + estimated).
    pub spend_usd: f64,
    /// Of which billed.
    pub spend_usd_billed: f64,
    /// Of which estimated.
    pub spend_usd_estimated: f64,
    /// Tokens that could not be priced at all.
    pub tokens_unpriced: u64,
    /// Total tokens.
    pub total_tokens: u64,
    /// waste_usd / spend_usd (null without spend).
    pub share_of_spend: Option<f64>,
    /// Per pattern: tokens and USD.
    pub by_pattern: BTreeMap<String, PatternTotal>,
    /// Sessions per price basis (`billed`, `estimated`, `unpriced`).
    pub sessions_by_basis: BTreeMap<String, u64>,
    /// Models neither billed nor in the price table, with their tokens
    /// (`(none)` = rows without a model).
    pub unpriced_models: BTreeMap<String, u64>,
    /// Date of the shipped default prices, when used.
    pub price_table_date: Option<String>,
}

/// One pattern's organisation total.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatternTotal {
    /// Waste tokens.
    pub tokens: u64,
    /// Waste USD (billed + estimated).
    pub usd: f64,
}

/// Organisation totals of an estimate.
pub fn totals(est: &WasteEstimate, price_table_date: Option<String>) -> Totals {
    let mut f = WasteFigures::default();
    let mut basis: BTreeMap<String, u64> = BTreeMap::new();
    for s in &est.sessions {
        f.add(&s.figures);
        *basis.entry(s.basis.as_str().to_string()).or_default() += 1;
    }
    let spend = f.spend_usd();
    Totals {
        waste_tokens: f.waste_tokens(),
        waste_usd: f.waste_usd(),
        waste_usd_billed: f.usd_billed.iter().sum(),
        waste_usd_estimated: f.usd_estimated.iter().sum(),
        waste_tokens_unpriced: f.unpriced_tokens,
        spend_usd: spend,
        spend_usd_billed: f.spend_billed,
        spend_usd_estimated: f.spend_estimated,
        tokens_unpriced: f.spend_unpriced_tokens,
        total_tokens: f.total_tokens,
        share_of_spend: (spend > 0.0).then(|| f.waste_usd() / spend),
        by_pattern: PATTERNS
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (
                    p.to_string(),
                    PatternTotal {
                        tokens: f.tokens[i],
                        usd: f.pattern_usd(i),
                    },
                )
            })
            .collect(),
        sessions_by_basis: basis,
        unpriced_models: est.unpriced_models.clone(),
        price_table_date,
    }
}

/// The waste columns appended to a score table: `waste_tokens`,
/// `waste_usd`, `waste_usd_billed`, `waste_usd_estimated`,
/// `waste_tokens_unpriced`, `spend_usd`, `price_basis`, then per pattern
/// `waste_tokens_<p>` and `waste_usd_<p>`.
fn waste_columns(figs: &[(&WasteFigures, &str)]) -> Vec<(Field, ArrayRef)> {
    let u = |name: &str, v: Vec<u64>| -> (Field, ArrayRef) {
        (
            Field::new(name, DataType::UInt64, false),
            Arc::new(UInt64Array::from(v)) as ArrayRef,
        )
    };
    let f = |name: &str, v: Vec<f64>| -> (Field, ArrayRef) {
        (
            Field::new(name, DataType::Float64, false),
            Arc::new(Float64Array::from(v)) as ArrayRef,
        )
    };
    let mut cols = vec![
        u(
            "waste_tokens",
            figs.iter().map(|x| x.0.waste_tokens()).collect(),
        ),
        f("waste_usd", figs.iter().map(|x| x.0.waste_usd()).collect()),
        f(
            "waste_usd_billed",
            figs.iter().map(|x| x.0.usd_billed.iter().sum()).collect(),
        ),
        f(
            "waste_usd_estimated",
            figs.iter()
                .map(|x| x.0.usd_estimated.iter().sum())
                .collect(),
        ),
        u(
            "waste_tokens_unpriced",
            figs.iter().map(|x| x.0.unpriced_tokens).collect(),
        ),
        f("spend_usd", figs.iter().map(|x| x.0.spend_usd()).collect()),
        (
            Field::new("price_basis", DataType::Utf8, false),
            Arc::new(StringArray::from_iter_values(figs.iter().map(|x| x.1))) as ArrayRef,
        ),
    ];
    for (i, p) in PATTERNS.iter().enumerate() {
        let c = pattern_column(p);
        cols.push(u(
            &format!("waste_tokens_{c}"),
            figs.iter().map(|x| x.0.tokens[i]).collect(),
        ));
        cols.push(f(
            &format!("waste_usd_{c}"),
            figs.iter().map(|x| x.0.pattern_usd(i)).collect(),
        ));
    }
    cols
}

/// Names of the columns [`with_user_columns`] / [`with_session_columns`] add.
pub fn waste_column_names() -> Vec<String> {
    waste_columns(&[])
        .into_iter()
        .map(|(f, _)| f.name().clone())
        .collect()
}

fn replace_columns(
    batch: &RecordBatch,
    cols: Vec<(Field, ArrayRef)>,
) -> Result<RecordBatch, WasteError> {
    let names: BTreeSet<String> = cols.iter().map(|(f, _)| f.name().clone()).collect();
    let schema = batch.schema();
    let mut fields: Vec<Field> = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (f, a) in schema.fields().iter().zip(batch.columns()) {
        if !names.contains(f.name()) {
            fields.push(f.as_ref().clone());
            arrays.push(a.clone());
        }
    }
    for (f, a) in cols {
        fields.push(f);
        arrays.push(a);
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// The key column `name` as strings (cast if needed), read in place rather
/// than copied into a `String` per row.
fn key_col(batch: &RecordBatch, name: &str) -> Result<StringArray, WasteError> {
    let a = batch
        .column_by_name(name)
        .ok_or_else(|| WasteError::MissingColumn(name.into()))?;
    let s = arrow::compute::cast(a, &DataType::Utf8)?;
    s.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| WasteError::MissingColumn(name.into()))
}

/// Row `i` of a key column; a null key reads as "".
fn key(s: &StringArray, i: usize) -> &str {
    if s.is_valid(i) {
        s.value(i)
    } else {
        ""
    }
}

/// `batch` (a user table keyed by `user_id`, any row order) with the waste
/// columns (an existing `waste_tokens` is replaced by the ledger's).
pub fn with_user_columns(
    batch: &RecordBatch,
    est: &WasteEstimate,
) -> Result<RecordBatch, WasteError> {
    // A hash map (the last row of a key wins, as with the ordered map it
    // replaced): only looked up, never iterated, so its order is irrelevant.
    let by: FxHashMap<&str, &crate::UserWaste> =
        est.users.iter().map(|u| (u.user_id.as_str(), u)).collect();
    let empty = WasteFigures::default();
    let keys = key_col(batch, "user_id")?;
    let figs: Vec<(&WasteFigures, &str)> = (0..keys.len())
        .map(|i| match by.get(key(&keys, i)) {
            Some(u) => (&u.figures, u.basis.as_str()),
            None => (&empty, "unpriced"),
        })
        .collect();
    replace_columns(batch, waste_columns(&figs))
}

/// `batch` (a session table keyed by `user_id`, `session_id`, any row
/// order) with the waste columns.
pub fn with_session_columns(
    batch: &RecordBatch,
    est: &WasteEstimate,
) -> Result<RecordBatch, WasteError> {
    // As in `with_user_columns`: a hash map, last row of a key wins.
    let by: FxHashMap<(&str, &str), &crate::SessionWaste> = est
        .sessions
        .iter()
        .map(|s| ((s.user_id.as_str(), s.session_id.as_str()), s))
        .collect();
    let empty = WasteFigures::default();
    let users = key_col(batch, "user_id")?;
    let sessions = key_col(batch, "session_id")?;
    let figs: Vec<(&WasteFigures, &str)> = (0..users.len())
        .map(|i| match by.get(&(key(&users, i), key(&sessions, i))) {
            Some(x) => (&x.figures, x.basis.as_str()),
            None => (&empty, "unpriced"),
        })
        .collect();
    replace_columns(batch, waste_columns(&figs))
}
