//! The optional roster (`users.parquet`): who is on which team.

use crate::hash_str;
use chrono::NaiveDate;

/// One person on the roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    /// The person's id, as in the events' `user_id`.
    pub user_id: String,
    /// Team (the default peer cohort).
    pub team: Option<String>,
    /// Role or job family.
    pub role: Option<String>,
    /// First day at the company (tenure).
    pub start_date: Option<NaiveDate>,
}

/// The roster: entries sorted by `hash_str(user_id)` for lookup by hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roster {
    entries: Vec<(u64, RosterEntry)>,
}

impl Roster {
    /// Builds a roster; when a user id appears twice the first entry wins.
    ///
    /// ```
    /// use goodhart_schema::{hash_str, Roster, RosterEntry};
    /// let r = Roster::new(vec![RosterEntry {
    ///     user_id: "u1".into(), team: Some("infra".into()), role: None, start_date: None,
    /// }]);
    /// assert_eq!(r.get(hash_str("u1")).unwrap().team.as_deref(), Some("infra"));
    /// assert!(r.get(hash_str("u2")).is_none());
    /// ```
    pub fn new(entries: Vec<RosterEntry>) -> Roster {
        // Stable sort by hash keeps input order among equal hashes, so after
        // dedup the first entry of a duplicated user id wins.
        let mut v: Vec<(u64, RosterEntry)> = entries
            .into_iter()
            .map(|e| (hash_str(&e.user_id), e))
            .collect();
        v.sort_by_key(|(h, _)| *h);
        v.dedup_by_key(|(h, _)| *h);
        Roster { entries: v }
    }

    /// Looks a user up by `hash_str(user_id)`.
    pub fn get(&self, user_hash: u64) -> Option<&RosterEntry> {
        self.entries
            .binary_search_by_key(&user_hash, |(h, _)| *h)
            .ok()
            .map(|i| &self.entries[i].1)
    }

    /// Number of people on the roster.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the roster is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in hash order.
    pub fn iter(&self) -> impl Iterator<Item = &RosterEntry> {
        self.entries.iter().map(|(_, e)| e)
    }
}
