//! One pattern's waste in one team in one week.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One pattern's waste in one team in one week: the figures the waste ledger
/// computes (`goodhart-waste`) and the alert state keeps week after week
/// (`goodhart-alerts`), one type for both. Teams below the minimum group
/// size are `suppressed`: their figures are `None` (shown as "< k").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeeklyWaste {
    /// Monday (UTC) of the week.
    pub week: NaiveDate,
    /// Roster team (`(no team)` without one).
    pub team: String,
    /// Pattern name.
    pub pattern: String,
    /// People of the team with a session in the window of the scan.
    pub team_users: u64,
    /// Fewer team members than the minimum group size: the figures below
    /// are withheld (`None`).
    pub suppressed: bool,
    /// Waste tokens.
    pub waste_tokens: Option<u64>,
    /// Waste USD from billed sessions.
    pub waste_usd_billed: Option<f64>,
    /// Waste USD from sessions priced at list prices.
    pub waste_usd_estimated: Option<f64>,
    /// People with waste of this pattern this week.
    pub users_involved: Option<u64>,
    /// The team's spend that week (billed + estimated USD).
    pub spend_usd: Option<f64>,
}

impl WeeklyWaste {
    /// Waste USD (billed + estimated), `None` when suppressed.
    pub fn waste_usd(&self) -> Option<f64> {
        Some(self.waste_usd_billed? + self.waste_usd_estimated?)
    }
}
