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
use crate::{FeatureOptions, SessionAccumulator};
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
