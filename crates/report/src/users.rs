//! The top users table: by score, with severity badge, cohort, totals *and*
//! tokens per accepted change (against the cohort median), and every score's
//! explanation lines.

use std::collections::BTreeMap;

use crate::format::{fmt_compact, fmt_int, fmt_score};
use crate::stats::{Badge, CohortStats};
use crate::{ReportData, ReportUser};
use goodhart_alerts::AlertStatus;

/// A user at least this many times their cohort's median is highlighted.
const HIGH_VS_MEDIAN: f64 = 3.0;

/// How a user's tokens per accepted change compare with their cohort.
#[derive(Debug)]
pub(crate) enum VsCohort {
    /// Not compared (no median).
    Nothing,
    /// `times`× the cohort median `median`; `class` is " hi" from [`HIGH_VS_MEDIAN`] up.
    Median {
        times: String,
        median: String,
        class: &'static str,
    },
    /// The cohort is below the minimum group size.
    Small,
}

/// One row of the table.
#[derive(Debug)]
pub(crate) struct UserRow<'a> {
    pub(crate) rank: usize,
    pub(crate) u: &'a ReportUser,
    pub(crate) badge: Badge,
    pub(crate) score: String,
    pub(crate) tokens_full: String,
    pub(crate) tokens: String,
    pub(crate) changes: String,
    /// Tokens per accepted change; `None`: no accepted change.
    pub(crate) ratio: Option<(String, VsCohort)>,
    pub(crate) alert: &'static str,
}

/// The section, ready for `templates/users.html`.
#[derive(Debug)]
pub(crate) struct UsersSection<'a> {
    pub(crate) total: String,
    pub(crate) k: usize,
    pub(crate) rows: Vec<UserRow<'a>>,
}

pub(crate) fn build<'a>(
    d: &ReportData,
    cohorts: &BTreeMap<&str, CohortStats>,
    top: &[&'a ReportUser],
) -> UsersSection<'a> {
    let k = d.min_group_size;
    let rows = top
        .iter()
        .enumerate()
        .map(|(i, u)| UserRow {
            rank: i + 1,
            u,
            badge: Badge::new(u.severity),
            score: fmt_score(u.score),
            tokens_full: fmt_int(u.total_tokens),
            tokens: fmt_compact(u.total_tokens as f64),
            changes: fmt_int(u.accepted_changes),
            ratio: u
                .tokens_per_accepted_change
                .filter(|r| r.is_finite())
                .map(|r| {
                    (
                        fmt_compact(r),
                        vs_cohort(r, cohorts.get(u.cohort.as_str()), k),
                    )
                }),
            alert: u.alert_status.map_or("—", AlertStatus::as_str),
        })
        .collect();
    UsersSection {
        total: fmt_int(d.users.len() as u64),
        k,
        rows,
    }
}

fn vs_cohort(r: f64, cohort: Option<&CohortStats>, k: usize) -> VsCohort {
    match cohort {
        Some(c) if c.is_small(k) => VsCohort::Small,
        Some(c) => match c.median().filter(|m| *m > 0.0) {
            Some(m) => {
                let x = r / m;
                VsCohort::Median {
                    times: format!("{x:.1}"),
                    median: fmt_compact(m),
                    class: if x >= HIGH_VS_MEDIAN { " hi" } else { "" },
                }
            }
            None => VsCohort::Nothing,
        },
        None => VsCohort::Nothing,
    }
}
