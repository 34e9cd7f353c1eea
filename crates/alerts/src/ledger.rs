//! The weekly waste ledger kept in the state (#11): one row per complete
//! week × team × pattern, written by each scan and replaced whole per week,
//! so re-running a night (or the next night, whose window still covers the
//! week) never adds a second copy. Team-level aggregates only; teams below
//! `[privacy] min_group_size` are stored suppressed (no figures).

use chrono::{NaiveDate, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use goodhart_core::WeeklyWaste;

use crate::store::sql_err;
use crate::{Result, StateStore};

/// Migration 5: the `waste_ledger` table.
pub(crate) const MIGRATION_SQL: &str = r#"
CREATE TABLE waste_ledger (
    week                TEXT NOT NULL,
    team                TEXT NOT NULL,
    pattern             TEXT NOT NULL,
    team_users          INTEGER NOT NULL,
    suppressed          INTEGER NOT NULL CHECK (suppressed IN (0, 1)),
    waste_tokens        INTEGER,
    waste_usd_billed    REAL,
    waste_usd_estimated REAL,
    users_involved      INTEGER,
    spend_usd           REAL,
    as_of               TEXT NOT NULL,
    recorded_at         TEXT NOT NULL,
    PRIMARY KEY (week, team, pattern)
);
"#;

/// One stored ledger row: a week's figures ([`WeeklyWaste`], whose fields
/// read through) and the scan that recorded them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The week's figures.
    #[serde(flatten)]
    pub figures: WeeklyWaste,
    /// The scan (as-of day) that recorded the row.
    pub as_of: NaiveDate,
}

impl std::ops::Deref for LedgerEntry {
    type Target = WeeklyWaste;

    fn deref(&self) -> &WeeklyWaste {
        &self.figures
    }
}

impl StateStore {
    /// Replaces the stored rows of every week present in `rows` by `rows`
    /// (one transaction). Returns the number of rows written.
    pub fn record_ledger(&mut self, rows: &[LedgerEntry]) -> Result<usize> {
        let path = self.path().to_path_buf();
        let err = |e| sql_err(&path, e);
        let now = Utc::now().to_rfc3339();
        let tx = self
            .conn()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut weeks: Vec<String> = rows.iter().map(|r| r.week.to_string()).collect();
        weeks.sort();
        weeks.dedup();
        for w in &weeks {
            tx.execute("DELETE FROM waste_ledger WHERE week = ?1", [w])
                .map_err(err)?;
        }
        for r in rows {
            tx.execute(
                "INSERT INTO waste_ledger (week, team, pattern, team_users, suppressed,
                 waste_tokens, waste_usd_billed, waste_usd_estimated, users_involved, spend_usd,
                 as_of, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    r.week.to_string(),
                    r.team,
                    r.pattern,
                    r.team_users as i64,
                    r.suppressed,
                    r.waste_tokens.map(|x| x as i64),
                    r.waste_usd_billed,
                    r.waste_usd_estimated,
                    r.users_involved.map(|x| x as i64),
                    r.spend_usd,
                    r.as_of.to_string(),
                    now,
                ],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(rows.len())
    }

    /// Every stored ledger row, by week, team, pattern.
    pub fn ledger(&mut self) -> Result<Vec<LedgerEntry>> {
        let path = self.path().to_path_buf();
        let err = |e| sql_err(&path, e);
        let conn = self.conn();
        let mut st = conn
            .prepare(
                "SELECT week, team, pattern, team_users, suppressed, waste_tokens,
                 waste_usd_billed, waste_usd_estimated, users_involved, spend_usd, as_of
                 FROM waste_ledger ORDER BY week, team, pattern",
            )
            .map_err(err)?;
        /// One stored row as read: dates still as text (parsed below, so
        /// that a damaged date is an error naming its column).
        type Stored = (
            String,
            String,
            String,
            i64,
            bool,
            Option<i64>,
            Option<f64>,
            Option<f64>,
            Option<i64>,
            Option<f64>,
            String,
        );
        let rows: Vec<Stored> = st
            .query_map([], |r| r.try_into())
            .map_err(err)?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(err)?;
        let rows = rows
            .into_iter()
            .map(
                |(
                    week,
                    team,
                    pattern,
                    team_users,
                    suppressed,
                    tokens,
                    billed,
                    estimated,
                    involved,
                    spend,
                    as_of,
                )| {
                    Ok(LedgerEntry {
                        figures: WeeklyWaste {
                            week: crate::store::parse_date(&path, "waste_ledger.week", &week)?,
                            team,
                            pattern,
                            team_users: team_users as u64,
                            suppressed,
                            waste_tokens: tokens.map(|x| x as u64),
                            waste_usd_billed: billed,
                            waste_usd_estimated: estimated,
                            users_involved: involved.map(|x| x as u64),
                            spend_usd: spend,
                        },
                        as_of: crate::store::parse_date(&path, "waste_ledger.as_of", &as_of)?,
                    })
                },
            )
            .collect::<Result<Vec<_>>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(week: &str, team: &str, tokens: u64) -> LedgerEntry {
        LedgerEntry {
            figures: WeeklyWaste {
                week: week.parse().unwrap(),
                team: team.into(),
                pattern: "prompt-loop".into(),
                team_users: 8,
                suppressed: false,
                waste_tokens: Some(tokens),
                waste_usd_billed: Some(0.0),
                waste_usd_estimated: Some(tokens as f64 / 1e6),
                users_involved: Some(1),
                spend_usd: Some(10.0),
            },
            as_of: "2026-10-25".parse().unwrap(),
        }
    }

    #[test]
    fn a_week_is_replaced_whole_and_other_weeks_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = StateStore::open(dir.path()).unwrap();
        s.record_ledger(&[row("2026-10-05", "web", 100), row("2026-10-12", "web", 200)])
            .unwrap();
        // The same week again (a re-run): replaced, not added; a team gone is gone.
        s.record_ledger(&[row("2026-10-12", "ml", 300)]).unwrap();
        s.record_ledger(&[row("2026-10-12", "ml", 300)]).unwrap();
        let l = s.ledger().unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!((l[0].team.as_str(), l[0].waste_tokens), ("web", Some(100)));
        assert_eq!((l[1].team.as_str(), l[1].waste_tokens), ("ml", Some(300)));
        // Survives reopening.
        drop(s);
        let mut s = StateStore::open(dir.path()).unwrap();
        assert_eq!(s.ledger().unwrap(), l);
    }
    #[test]
    fn a_damaged_date_is_an_error_naming_the_column_not_a_default() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = StateStore::open(dir.path()).unwrap();
        s.record_ledger(&[row("2026-10-05", "web", 100)]).unwrap();
        s.conn()
            .execute("UPDATE waste_ledger SET week = 'last week'", [])
            .unwrap();
        match s.ledger() {
            Err(crate::AlertError::CorruptState { what, value, .. }) => {
                assert_eq!((what, value.as_str()), ("waste_ledger.week", "last week"));
            }
            other => panic!("expected CorruptState, got {other:?}"),
        }
    }
}
