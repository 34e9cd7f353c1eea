//! The organisation-wide part of the features, for running the pass on parts
//! of an organisation (Spark workers, each with some users' events).
//!
//! Every feature is per session or per user, except which task hashes are
//! *common prompts*: a task hash sent by at least
//! [`FeatureOptions::common_prompt_threshold`] distinct users of the window
//! (out of the users with a session in the window). Those requests are not
//! loops. Run on parts, the pass is two-phase and exact:
//!
//! 1. each part reports [`task_users`]: its users with a session in the
//!    window and its distinct `(task hash, user)` request pairs;
//! 2. the union of the parts gives the distinct users per task hash and the
//!    number of users, hence [`CommonPrompts`]; each part then runs
//!    [`crate::finalize_with`] with them.
//!
//! ```
//! use goodhart_features::{finalize, finalize_with, task_users, CommonPrompts, FeatureOptions, SessionAccumulator};
//! let opts = FeatureOptions::default();
//! let acc = SessionAccumulator::with_options(&opts);
//! let t = task_users(&acc, &opts);
//! let common = CommonPrompts::from_pairs(&opts, t.users.len(), t.pairs.iter().copied());
//! assert!(common.tasks.is_empty());
//! let a = finalize_with(acc.clone(), &opts, None, Some(&common)).unwrap();
//! assert_eq!(a.users, finalize(acc, &opts, None).unwrap().users);
//! ```

use crate::finalize::window_us;
use crate::{
    session_schema, user_schema, FeatureError, FeatureOptions, Features, ModelTokens,
    SessionAccumulator,
};
use arrow::array::{Array, ArrayRef};
use arrow::compute::{concat, interleave, lexsort_to_indices, SortColumn};
use arrow::record_batch::RecordBatch;
use goodhart_schema::NULL_HASH;

/// What one part of an organisation contributes to the common-prompt rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskUsers {
    /// Users (hashes) with at least one session starting in the window; sorted, distinct.
    pub users: Vec<u64>,
    /// Distinct `(request task hash, user hash)` pairs of those sessions
    /// (requests without a task hash left out); sorted.
    pub pairs: Vec<(u64, u64)>,
}

/// Phase 1 on one part: see [`TaskUsers`]. The window is the one
/// [`crate::finalize`] uses (`opts.as_of`, `opts.window_days`).
pub fn task_users(acc: &SessionAccumulator, opts: &FeatureOptions) -> TaskUsers {
    let (start_us, end_us) = window_us(&acc.sessions, opts);
    let mut users = Vec::new();
    let mut pairs = Vec::new();
    for ((user, _), s) in &acc.sessions {
        if s.start < start_us || s.start >= end_us {
            continue;
        }
        users.push(*user);
        pairs.extend(
            s.reqs
                .iter()
                .filter(|r| r.task != NULL_HASH)
                .map(|r| (r.task, *user)),
        );
    }
    users.sort_unstable();
    users.dedup();
    pairs.sort_unstable();
    pairs.dedup();
    TaskUsers { users, pairs }
}

/// The common prompts of a whole organisation (phase 2 input).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommonPrompts {
    /// The task hashes classified as common prompts.
    pub tasks: Vec<u64>,
    /// The distinct-user threshold they met.
    pub threshold: usize,
}

impl CommonPrompts {
    /// Classifies from the union of every part's [`TaskUsers`]: `n_users`
    /// distinct users in the window, and the `(task, user)` pairs (duplicates
    /// across parts are allowed: pairs are made distinct here).
    pub fn from_pairs(
        opts: &FeatureOptions,
        n_users: usize,
        pairs: impl IntoIterator<Item = (u64, u64)>,
    ) -> CommonPrompts {
        let mut pairs: Vec<(u64, u64)> = pairs.into_iter().collect();
        pairs.sort_unstable();
        pairs.dedup();
        let threshold = opts.common_prompt_threshold(n_users);
        CommonPrompts::from_counts(
            threshold,
            pairs.chunk_by(|a, b| a.0 == b.0).map(|g| (g[0].0, g.len())),
        )
    }

    /// Classifies from distinct-user counts per task hash (as a distributed
    /// aggregate gives them) with the threshold
    /// [`FeatureOptions::common_prompt_threshold`] of the number of users.
    pub fn from_counts(
        threshold: usize,
        counts: impl IntoIterator<Item = (u64, usize)>,
    ) -> CommonPrompts {
        let mut tasks: Vec<u64> = counts
            .into_iter()
            .filter(|&(_, n)| n >= threshold)
            .map(|(t, _)| t)
            .collect();
        tasks.sort_unstable();
        tasks.dedup();
        CommonPrompts { tasks, threshold }
    }
}

/// Joins the [`Features`] of parts of an organisation that hold disjoint sets
/// of users (e.g. users split by a hash), each finalized with
/// [`crate::finalize_with`] and the organisation's [`CommonPrompts`] over the
/// same window (a fixed `opts.as_of`), into the tables [`crate::finalize`]
/// gives for the whole organisation: rows in the same order (sessions by
/// `(user_id, start_ts, session_id)`, users by `user_id`), the same
/// [`Features::session_models`] order, the sessions outside the window
/// summed and the presence of the optional columns united.
///
/// Row order ties (two distinct users with one `user_id` string) need a
/// 64-bit hash collision; the whole-organisation path then breaks them by
/// hash, this one by part.
///
/// # Errors
/// [`FeatureError::InvalidOption`] (setting `parts`) when there is no part or
/// the parts were finalized over different windows or common prompts;
/// [`FeatureError::Arrow`] if a kernel fails (a bug).
pub fn concat_parts(parts: Vec<Features>) -> Result<Features, FeatureError> {
    let Some(first) = parts.first() else {
        return Err(FeatureError::InvalidOption {
            setting: "parts",
            value: "0".into(),
            reason: "no part to join; pass the features of at least one part".into(),
        });
    };
    let (window_start, window_end) = (first.window_start, first.window_end);
    let (common_prompts, common_prompt_threshold) =
        (first.common_prompts, first.common_prompt_threshold);
    if let Some(p) = parts.iter().find(|p| {
        (p.window_start, p.window_end) != (window_start, window_end)
            || (p.common_prompts, p.common_prompt_threshold)
                != (common_prompts, common_prompt_threshold)
    }) {
        return Err(FeatureError::InvalidOption {
            setting: "parts",
            value: format!(
                "windows {window_start} .. {window_end} and {} .. {}",
                p.window_start, p.window_end
            ),
            reason: "the parts were finalized over different windows or common prompts; \
                     finalize every part with one `opts.as_of` and the organisation's \
                     `CommonPrompts`"
                .into(),
        });
    }
    let mut presence = first.presence;
    let mut outside = 0u64;
    let mut sessions: Vec<RecordBatch> = Vec::with_capacity(parts.len());
    let mut users = Vec::with_capacity(parts.len());
    let mut models: Vec<Vec<ModelTokens>> = Vec::new();
    for p in parts {
        presence = presence.union(p.presence);
        outside += p.sessions_outside_window;
        sessions.push(p.sessions);
        users.push(p.users);
        models.extend(p.session_models);
    }
    let (sessions, order) =
        merge_sorted(sessions, &["user_id", "start_ts", "session_id"], "sessions")?;
    let mut slots: Vec<Option<Vec<ModelTokens>>> = models.into_iter().map(Some).collect();
    let session_models = order
        .iter()
        .map(|&i| slots[i].take().unwrap_or_default())
        .collect();
    drop(slots);
    let (users, _) = merge_sorted(users, &["user_id"], "users")?;
    Ok(Features {
        sessions,
        users,
        window_start,
        window_end,
        sessions_outside_window: outside,
        common_prompts,
        common_prompt_threshold,
        presence,
        session_models,
    })
}

/// The rows of `parts` (same schema) in the order of the key columns `keys`,
/// and for each output row its index in the parts taken one after the
/// other. Built column by column, each part's column freed once copied, so
/// memory holds the parts and one column more, not two copies of the table.
fn merge_sorted(
    parts: Vec<RecordBatch>,
    keys: &[&str],
    table: &'static str,
) -> Result<(RecordBatch, Vec<usize>), FeatureError> {
    let arrow_err = |source| FeatureError::Arrow { table, source };
    let schema = match table {
        "sessions" => session_schema(),
        _ => user_schema(),
    };
    let mut offsets = Vec::with_capacity(parts.len() + 1);
    let mut n = 0usize;
    for p in &parts {
        offsets.push(n);
        n += p.num_rows();
    }
    let key_columns = keys
        .iter()
        .map(|k| {
            let cols: Vec<&dyn Array> = parts
                .iter()
                .map(|p| {
                    p.column_by_name(k)
                        .expect("the feature schema has the key column")
                        .as_ref()
                })
                .collect();
            Ok(SortColumn {
                values: concat(&cols).map_err(arrow_err)?,
                options: None,
            })
        })
        .collect::<Result<Vec<_>, FeatureError>>()?;
    let order = lexsort_to_indices(&key_columns, None).map_err(arrow_err)?;
    drop(key_columns);
    let order: Vec<usize> = order.values().iter().map(|&i| i as usize).collect();
    let pairs: Vec<(usize, usize)> = order
        .iter()
        .map(|&g| {
            let p = offsets.partition_point(|&o| o <= g) - 1;
            (p, g - offsets[p])
        })
        .collect();
    let mut columns: Vec<Vec<Option<ArrayRef>>> = parts
        .into_iter()
        .map(|p| p.columns().iter().cloned().map(Some).collect())
        .collect();
    let mut out = Vec::with_capacity(schema.fields().len());
    for i in 0..schema.fields().len() {
        let col: Vec<ArrayRef> = columns
            .iter_mut()
            .map(|c| c[i].take().expect("each column is taken once"))
            .collect();
        let refs: Vec<&dyn Array> = col.iter().map(AsRef::as_ref).collect();
        out.push(interleave(&refs, &pairs).map_err(arrow_err)?);
    }
    let batch = RecordBatch::try_new(schema, out).map_err(arrow_err)?;
    Ok((batch, order))
}
