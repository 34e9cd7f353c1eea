//! Per pattern waste estimates for sessions and users, priced.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, TimestampMicrosecondType, UInt64Type};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use goodhart_features::Features;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::prices::PriceRule;
use crate::{PriceTable, WasteError};

/// The patterns waste is attributed to, in column order. Names are the
/// detector's pattern names (`goodhart-detect`).
pub const PATTERNS: [&str; 6] = [
    "redundant-agent-spawns",
    "context-reload-churn",
    "prompt-loop",
    "output-inflation",
    "change-padding",
    "leaderboard-sprint",
];

/// Index of a pattern in [`PATTERNS`].
pub(crate) const SPAWN: usize = 0;
pub(crate) const RELOAD: usize = 1;
pub(crate) const LOOP: usize = 2;
pub(crate) const OUTPUT: usize = 3;
pub(crate) const PAD: usize = 4;
pub(crate) const SPRINT: usize = 5;

/// The column suffix of a pattern (`prompt-loop` → `prompt_loop`).
pub fn pattern_column(p: &str) -> String {
    p.replace('-', "_")
}

/// Tuning of the estimates (see `docs/features.md`, "Waste ledger").
#[derive(Debug, Clone, PartialEq)]
pub struct WasteOptions {
    /// Output inflation counts output beyond this multiple of the
    /// organisation's median output per request (default 1.5).
    pub output_factor: f64,
    /// Quantile of the users' pre-snapshot token share taken as the honest
    /// share (default 0.5; the sprint gates below keep honest people out).
    pub sprint_quantile: f64,
    /// Sprint waste needs a raw waste share (features' `waste_share`) of at
    /// least this (default 0.06, as the detector's leaderboard-sprint rule).
    pub sprint_min_waste_share: f64,
    /// Sprint waste needs at least this share of the raw waste on
    /// pre-snapshot rows (features' `pre_snapshot_waste_share`, default 0.8):
    /// waste spread over the week is no sprint. The sprint's excess is also
    /// capped at that pre-snapshot raw waste.
    pub sprint_min_pre_waste_share: f64,
    /// Change padding: the share of tokens behind excess trivial changes is
    /// multiplied by this (default 0.8): a padding change costs less than a
    /// real one (a short prompt and reply), so the full share would overstate
    /// it. Calibrated on the synthetic organisation (default and low
    /// intensity), where the undiscounted share was up to 30% over the truth.
    pub pad_discount: f64,
    /// Teams with fewer people are suppressed in the ledger (default 5).
    pub min_group_size: usize,
}

impl Default for WasteOptions {
    fn default() -> Self {
        WasteOptions {
            output_factor: 1.5,
            sprint_quantile: 0.5,
            sprint_min_waste_share: 0.06,
            sprint_min_pre_waste_share: 0.8,
            pad_discount: 0.8,
            min_group_size: 5,
        }
    }
}

/// How a figure in dollars was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PriceBasis {
    /// From the data's `cost_usd` (bucket split from the price table's ratios).
    Billed,
    /// From the price table (list prices).
    Estimated,
    /// Some sessions billed, some estimated (the split is in separate columns).
    Mixed,
    /// Nothing could be priced (no cost and no model in the table).
    Unpriced,
}

impl PriceBasis {
    /// Lowercase name, as written in the outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            PriceBasis::Billed => "billed",
            PriceBasis::Estimated => "estimated",
            PriceBasis::Mixed => "mixed",
            PriceBasis::Unpriced => "unpriced",
        }
    }

    fn combine(a: Option<PriceBasis>, b: PriceBasis) -> PriceBasis {
        match a {
            None => b,
            Some(a) if a == b => a,
            Some(PriceBasis::Unpriced) => b,
            Some(a) if b == PriceBasis::Unpriced => a,
            Some(_) => PriceBasis::Mixed,
        }
    }
}

/// Waste of one session (or the sum over a user's sessions).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WasteFigures {
    /// Waste tokens per pattern ([`PATTERNS`] order).
    pub tokens: [u64; 6],
    /// Waste USD per pattern from billed sessions.
    pub usd_billed: [f64; 6],
    /// Waste USD per pattern from estimated (list-priced) sessions.
    pub usd_estimated: [f64; 6],
    /// Waste tokens that could not be priced (no cost, model not in the table).
    pub unpriced_tokens: u64,
    /// Spend: billed USD.
    pub spend_billed: f64,
    /// Spend: estimated USD (list prices).
    pub spend_estimated: f64,
    /// Tokens that could not be priced at all.
    pub spend_unpriced_tokens: u64,
    /// Total tokens.
    pub total_tokens: u64,
}

impl WasteFigures {
    /// Total waste tokens.
    pub fn waste_tokens(&self) -> u64 {
        self.tokens.iter().sum()
    }
    /// Total waste USD (billed + estimated).
    pub fn waste_usd(&self) -> f64 {
        self.usd_billed.iter().sum::<f64>() + self.usd_estimated.iter().sum::<f64>()
    }
    /// Waste USD of pattern `i`.
    pub fn pattern_usd(&self, i: usize) -> f64 {
        self.usd_billed[i] + self.usd_estimated[i]
    }
    /// Spend USD (billed + estimated).
    pub fn spend_usd(&self) -> f64 {
        self.spend_billed + self.spend_estimated
    }
    pub(crate) fn add(&mut self, o: &WasteFigures) {
        for i in 0..6 {
            self.tokens[i] += o.tokens[i];
            self.usd_billed[i] += o.usd_billed[i];
            self.usd_estimated[i] += o.usd_estimated[i];
        }
        self.unpriced_tokens += o.unpriced_tokens;
        self.spend_billed += o.spend_billed;
        self.spend_estimated += o.spend_estimated;
        self.spend_unpriced_tokens += o.spend_unpriced_tokens;
        self.total_tokens += o.total_tokens;
    }
}

/// One session's estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionWaste {
    /// User id.
    pub user_id: String,
    /// Session id.
    pub session_id: String,
    /// Monday (UTC) of the week the session started in.
    pub week: NaiveDate,
    /// Day (UTC) the session started.
    pub day: NaiveDate,
    /// How its dollars were obtained.
    pub basis: PriceBasis,
    /// The figures.
    pub figures: WasteFigures,
}

/// One user's estimate (sum of the sessions).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserWaste {
    /// User id.
    pub user_id: String,
    /// Roster team (`None` without roster or when not on it).
    pub team: Option<String>,
    /// How its dollars were obtained.
    pub basis: PriceBasis,
    /// The figures.
    pub figures: WasteFigures,
}

/// Everything [`estimate`] computes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WasteEstimate {
    /// One per session row of the features, same order.
    pub sessions: Vec<SessionWaste>,
    /// One per user row of the features, same order.
    pub users: Vec<UserWaste>,
    /// Models found in the data but not in the price table (and not billed):
    /// name (`(none)` for rows without a model) → tokens.
    pub unpriced_models: BTreeMap<String, u64>,
    /// Baselines used (for the report and the docs): median shares per
    /// pattern, output per request threshold, honest pre-snapshot share.
    pub baselines: Baselines,
}

/// The organisation-wide baselines the estimates subtract.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Baselines {
    /// Median user share of total tokens of the redundant-spawn measure.
    pub spawn_share: f64,
    /// Same, uncached reload tokens.
    pub reload_share: f64,
    /// Same, loop tokens.
    pub loop_share: f64,
    /// Output tokens per request above which output counts.
    pub output_per_request: f64,
    /// Median user share of accepted changes that are trivial.
    pub trivial_share: f64,
    /// Honest pre-snapshot share of (non-waste) tokens.
    pub pre_snapshot_share: f64,
}

fn col_u64(b: &RecordBatch, name: &str) -> Result<Vec<u64>, WasteError> {
    let c = b
        .column_by_name(name)
        .ok_or_else(|| WasteError::MissingColumn(name.into()))?;
    let a = c
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| WasteError::MissingColumn(name.into()))?;
    Ok((0..a.len())
        .map(|i| if a.is_valid(i) { a.value(i) } else { 0 })
        .collect())
}

fn col_f64(b: &RecordBatch, name: &str) -> Result<Vec<Option<f64>>, WasteError> {
    let c = b
        .column_by_name(name)
        .ok_or_else(|| WasteError::MissingColumn(name.into()))?;
    let a = c
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| WasteError::MissingColumn(name.into()))?;
    Ok((0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i)))
        .collect())
}

fn col_str(b: &RecordBatch, name: &str) -> Result<Vec<Option<String>>, WasteError> {
    let c = b
        .column_by_name(name)
        .ok_or_else(|| WasteError::MissingColumn(name.into()))?;
    let a = c
        .as_string_opt::<i32>()
        .ok_or_else(|| WasteError::MissingColumn(name.into()))?;
    Ok((0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
        .collect())
}

/// Quantile (linear interpolation) of unsorted values; 0 when empty.
fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// Per session pricing: USD per token for the uncached-input bucket, the
/// output bucket and the session's mix; the share of tokens priced.
#[derive(Debug, Clone, Copy)]
struct SessionPrice {
    basis: PriceBasis,
    input: f64,
    output: f64,
    mix: f64,
    priced_share: f64,
    spend: f64,
    unpriced_tokens: u64,
}

/// [`PriceTable::lookup`] memoised per model name: the glob match (with its
/// lower-casing and char vectors) was most of the estimate's time when done
/// for every model of every session, and a run has only a few model names.
struct RuleCache<'a> {
    table: &'a PriceTable,
    memo: FxHashMap<&'a str, Option<&'a PriceRule>>,
}

impl<'a> RuleCache<'a> {
    fn new(table: &'a PriceTable) -> Self {
        RuleCache {
            table,
            memo: FxHashMap::default(),
        }
    }

    fn lookup(&mut self, model: &'a str) -> Option<&'a PriceRule> {
        let table = self.table;
        *self
            .memo
            .entry(model)
            .or_insert_with(|| table.lookup(model))
    }
}

fn price_session<'a>(
    models: &'a [goodhart_features::ModelTokens],
    total: u64,
    cost: Option<f64>,
    prices: &mut RuleCache<'a>,
    unpriced: &mut BTreeMap<String, u64>,
) -> SessionPrice {
    let mut list = 0.0;
    let mut known = 0u64;
    let (mut in_t, mut in_usd, mut out_t, mut out_usd) = (0u64, 0.0, 0u64, 0.0);
    let mut unknown: Vec<(String, u64)> = Vec::new();
    for m in models {
        let t = m.input + m.output + m.cache_read + m.cache_write;
        match m.model.as_deref().and_then(|n| prices.lookup(n)) {
            Some(r) => {
                list += r.usd(m.input, m.output, m.cache_read, m.cache_write);
                known += t;
                in_t += m.input;
                in_usd += m.input as f64 * r.input / 1e6;
                out_t += m.output;
                out_usd += m.output as f64 * r.output / 1e6;
            }
            None => unknown.push((m.model.clone().unwrap_or_else(|| "(none)".into()), t)),
        }
    }
    let mix_list = if known > 0 { list / known as f64 } else { 0.0 };
    let per = |usd: f64, t: u64| if t > 0 { usd / t as f64 } else { mix_list };
    match cost {
        Some(c) if c > 0.0 && total > 0 => {
            // Billed: the whole session is paid for; bucket prices keep the
            // table's ratios, scaled so that the session's tokens cost `c`.
            let mix = c / total as f64;
            let (input, output) = if known > 0 && mix_list > 0.0 {
                let scale = mix / mix_list;
                (per(in_usd, in_t) * scale, per(out_usd, out_t) * scale)
            } else {
                (mix, mix)
            };
            SessionPrice {
                basis: PriceBasis::Billed,
                input,
                output,
                mix,
                priced_share: 1.0,
                spend: c,
                unpriced_tokens: 0,
            }
        }
        _ => {
            let unpriced_tokens = total.saturating_sub(known);
            for (n, t) in unknown {
                *unpriced.entry(n).or_default() += t;
            }
            SessionPrice {
                basis: if known > 0 {
                    PriceBasis::Estimated
                } else {
                    PriceBasis::Unpriced
                },
                input: per(in_usd, in_t),
                output: per(out_usd, out_t),
                mix: mix_list,
                priced_share: if total > 0 {
                    known as f64 / total as f64
                } else {
                    0.0
                },
                spend: list,
                unpriced_tokens,
            }
        }
    }
}

/// Monday of the week of `d`.
pub fn week_start(d: NaiveDate) -> NaiveDate {
    d - chrono::Days::new(u64::from(d.weekday().num_days_from_monday()))
}

/// Estimates the waste of every session and user of `f` (see
/// `docs/features.md`, "Waste ledger", for the method).
// One piece: per pattern, session measures, user sums, user waste and its distribution back to
// sessions; the steps share the per-pattern vectors, each headed by a comment.
pub fn estimate(
    f: &Features,
    prices: &PriceTable,
    opts: &WasteOptions,
) -> Result<WasteEstimate, WasteError> {
    let s = &f.sessions;
    let n = s.num_rows();
    if f.session_models.len() != n {
        return Err(WasteError::MissingColumn(
            "session_models (features built by another version)".into(),
        ));
    }
    let uid = col_str(s, "user_id")?;
    let sid = col_str(s, "session_id")?;
    let start = s
        .column_by_name("start_ts")
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        .ok_or_else(|| WasteError::MissingColumn("start_ts".into()))?
        .clone();
    let total = col_u64(s, "total_tokens")?;
    let output = col_u64(s, "output_tokens")?;
    let requests = col_u64(s, "requests")?;
    let spawn = col_u64(s, "redundant_spawn_tokens")?;
    let reload = col_u64(s, "reload_uncached_tokens")?;
    let loops = col_u64(s, "loop_tokens")?;
    let trivial = col_u64(s, "trivial_changes")?;
    let acc_gross = col_u64(s, "accepted_gross")?;
    let pre = col_u64(s, "pre_snapshot_tokens")?;
    let pre_waste = col_u64(s, "pre_snapshot_waste_tokens")?;
    let raw_waste = col_u64(s, "waste_tokens")?;
    let cost = col_f64(s, "cost_usd")?;

    let u = &f.users;
    let users_id = col_str(u, "user_id")?;
    let team = col_str(u, "team")?;
    let waste_share = col_f64(u, "waste_share")?;
    let pre_waste_share = col_f64(u, "pre_snapshot_waste_share")?;
    let user_index: BTreeMap<&str, usize> = users_id
        .iter()
        .enumerate()
        .filter_map(|(i, x)| x.as_deref().map(|x| (x, i)))
        .collect();

    // Raw session measures per pattern (before baselines).
    let loop_raw: Vec<u64> = (0..n).map(|i| loops[i].saturating_sub(spawn[i])).collect();

    // Per user sums.
    #[derive(Default, Clone)]
    struct Sums {
        total: u64,
        output: u64,
        requests: u64,
        spawn: u64,
        reload: u64,
        loops: u64,
        trivial: u64,
        acc_gross: u64,
        pre: u64,
        pre_waste: u64,
        raw_waste: u64,
        out_excess: u64,
    }
    let nu = users_id.len();
    let mut sums = vec![Sums::default(); nu];
    let mut owner = vec![usize::MAX; n];
    for i in 0..n {
        let Some(&ui) = uid[i].as_deref().and_then(|x| user_index.get(x)) else {
            continue;
        };
        owner[i] = ui;
        let x = &mut sums[ui];
        x.total += total[i];
        x.output += output[i];
        x.requests += requests[i];
        x.spawn += spawn[i];
        x.reload += reload[i];
        x.loops += loop_raw[i];
        x.trivial += trivial[i];
        x.acc_gross += acc_gross[i];
        x.pre += pre[i];
        x.pre_waste += pre_waste[i];
        x.raw_waste += raw_waste[i];
    }
    let shares = |g: &dyn Fn(&Sums) -> u64| -> Vec<f64> {
        sums.iter()
            .filter(|x| x.total > 0)
            .map(|x| g(x) as f64 / x.total as f64)
            .collect()
    };
    let mut b = Baselines {
        spawn_share: quantile(shares(&|x| x.spawn), 0.5),
        reload_share: quantile(shares(&|x| x.reload), 0.5),
        loop_share: quantile(shares(&|x| x.loops), 0.5),
        ..Baselines::default()
    };
    let opr: Vec<f64> = sums
        .iter()
        .filter(|x| x.requests > 0)
        .map(|x| x.output as f64 / x.requests as f64)
        .collect();
    b.output_per_request = opts.output_factor * quantile(opr, 0.5);
    b.trivial_share = quantile(
        sums.iter()
            .filter(|x| x.acc_gross > 0)
            .map(|x| x.trivial as f64 / x.acc_gross as f64)
            .collect(),
        0.5,
    );
    let honest = |x: &Sums| -> (f64, f64) {
        // Pre-snapshot and other tokens, net of the raw waste on each side.
        let p = x.pre.saturating_sub(x.pre_waste) as f64;
        let o = x
            .total
            .saturating_sub(x.pre)
            .saturating_sub(x.raw_waste.saturating_sub(x.pre_waste)) as f64;
        (p, o)
    };
    b.pre_snapshot_share = quantile(
        sums.iter()
            .map(honest)
            .filter(|(p, o)| p + o > 0.0)
            .map(|(p, o)| p / (p + o))
            .collect(),
        opts.sprint_quantile,
    );
    // Per session output excess, and its user sum.
    let out_excess: Vec<u64> = (0..n)
        .map(|i| {
            let thr = requests[i] as f64 * b.output_per_request;
            (output[i] as f64 - thr).max(0.0) as u64
        })
        .collect();
    for i in 0..n {
        if owner[i] != usize::MAX {
            sums[owner[i]].out_excess += out_excess[i];
        }
    }

    // User level waste per pattern (tokens), then shares of it per session.
    let mut user_w = vec![[0f64; 6]; nu];
    for (ui, x) in sums.iter().enumerate() {
        let t = x.total as f64;
        let w = &mut user_w[ui];
        w[SPAWN] = (x.spawn as f64 - b.spawn_share * t).max(0.0);
        w[RELOAD] = (x.reload as f64 - b.reload_share * t).max(0.0);
        w[LOOP] = (x.loops as f64 - b.loop_share * t).max(0.0);
        // Output beyond the threshold, user level (a verbose session is not
        // excused by terse ones, nor the reverse: the user sum of the
        // session excesses, less the user's own shortfall elsewhere).
        let user_excess = (x.output as f64 - x.requests as f64 * b.output_per_request).max(0.0);
        w[OUTPUT] = user_excess.min(x.out_excess as f64);
        if x.acc_gross > 0 {
            let excess = (x.trivial as f64 - b.trivial_share * x.acc_gross as f64).max(0.0);
            // Tokens of the padding: the share of accepted changes that are
            // excess trivial ones, of the tokens not already counted.
            let rest = (t - w[SPAWN] - w[RELOAD] - w[LOOP] - w[OUTPUT]).max(0.0);
            w[PAD] = opts.pad_discount * rest * excess / x.acc_gross as f64;
        }
        if waste_share[ui].unwrap_or(0.0) >= opts.sprint_min_waste_share
            && pre_waste_share[ui].unwrap_or(0.0) >= opts.sprint_min_pre_waste_share
        {
            let (p, o) = honest(x);
            let s0 = b.pre_snapshot_share.clamp(0.0, 0.99);
            let expected = o * s0 / (1.0 - s0);
            w[SPRINT] = (p - expected).clamp(0.0, x.pre_waste as f64);
        }
    }

    // Distribute to sessions by each pattern's raw session measure.
    let mut measure_sum = vec![[0f64; 6]; nu];
    let measures = |i: usize| -> [f64; 6] {
        let pad_m = if acc_gross[i] > 0 {
            total[i] as f64 * trivial[i] as f64 / acc_gross[i] as f64
        } else {
            0.0
        };
        [
            spawn[i] as f64,
            reload[i] as f64,
            loop_raw[i] as f64,
            out_excess[i] as f64,
            pad_m,
            pre[i].saturating_sub(pre_waste[i]) as f64,
        ]
    };
    for i in 0..n {
        if owner[i] == usize::MAX {
            continue;
        }
        let m = measures(i);
        for p in 0..6 {
            measure_sum[owner[i]][p] += m[p];
        }
    }
    let mut unpriced_models = BTreeMap::new();
    let mut rules = RuleCache::new(prices);
    let mut sessions = Vec::with_capacity(n);
    let mut users: Vec<UserWaste> = (0..nu)
        .map(|ui| UserWaste {
            user_id: users_id[ui].clone().unwrap_or_default(),
            team: team[ui].clone(),
            basis: PriceBasis::Unpriced,
            figures: WasteFigures::default(),
        })
        .collect();
    let mut user_basis: Vec<Option<PriceBasis>> = vec![None; nu];
    for i in 0..n {
        let ts = DateTime::<Utc>::from_timestamp_micros(start.value(i)).unwrap_or_default();
        let day = ts.date_naive();
        let price = price_session(
            &f.session_models[i],
            total[i],
            cost[i],
            &mut rules,
            &mut unpriced_models,
        );
        let mut fig = WasteFigures {
            total_tokens: total[i],
            ..WasteFigures::default()
        };
        match price.basis {
            PriceBasis::Billed => fig.spend_billed = price.spend,
            _ => fig.spend_estimated = price.spend,
        }
        fig.spend_unpriced_tokens = price.unpriced_tokens;
        if owner[i] != usize::MAX {
            let ui = owner[i];
            let m = measures(i);
            for p in 0..6 {
                let ms = measure_sum[ui][p];
                let w = if ms > 0.0 {
                    user_w[ui][p] * m[p] / ms
                } else {
                    0.0
                };
                let tok = w.round().max(0.0) as u64;
                fig.tokens[p] = tok;
                let unit = match p {
                    RELOAD => price.input,
                    OUTPUT => price.output,
                    _ => price.mix,
                };
                let usd = tok as f64 * price.priced_share * unit;
                fig.unpriced_tokens += (tok as f64 * (1.0 - price.priced_share)).round() as u64;
                match price.basis {
                    PriceBasis::Billed => fig.usd_billed[p] = usd,
                    _ => fig.usd_estimated[p] = usd,
                }
            }
            users[ui].figures.add(&fig);
            user_basis[ui] = Some(PriceBasis::combine(user_basis[ui], price.basis));
        }
        sessions.push(SessionWaste {
            user_id: uid[i].clone().unwrap_or_default(),
            session_id: sid[i].clone().unwrap_or_default(),
            week: week_start(day),
            day,
            basis: price.basis,
            figures: fig,
        });
    }
    for (u, bsis) in users.iter_mut().zip(user_basis) {
        u.basis = bsis.unwrap_or(PriceBasis::Unpriced);
    }
    Ok(WasteEstimate {
        sessions,
        users,
        unpriced_models,
        baselines: b,
    })
}
