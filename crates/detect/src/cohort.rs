//! Peer cohorts: roster teams, or behavioural peer groups without a roster.
//!
//! * With a roster (the user table's `team` column has a non-null value),
//!   the cohort is the team. Users without a team, and teams smaller than
//!   `min_cohort_size`, are compared with the whole `organisation`.
//! * Without a roster, users are grouped by how they work (volume-free
//!   usage-mix ratios, `ScoreOptions::mix_features`) with linfa's k-means
//!   (seeded k-means++, 4 runs) on `log1p` values scaled by linfa's standard
//!   scaler; `k = round(sqrt(n_users / 50))` clamped to `[2, 8]` unless set.
//!   Groups are named `behaviour-1`, `behaviour-2`, ... by decreasing size;
//!   groups smaller than `min_cohort_size` fall back to `organisation`.

use crate::patterns::ORGANISATION;
use crate::robust::median_sorted;
use crate::DetectError;
use linfa::dataset::DatasetBase;
use linfa::traits::{Fit, Predict, Transformer};
use linfa_clustering::KMeans;
use linfa_preprocessing::linear_scaling::LinearScaler;
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Name of the fallback cohort (everyone).
pub const ORGANISATION_NAME: &str = "organisation";

/// How the peer cohorts of a scoring run were formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum CohortMethod {
    /// By the users' team (roster or `team` column).
    Team,
    /// By behaviour (k-means over usage shape) when no team is known.
    Behaviour,
    /// One cohort: the whole organisation (too few users to split).
    Organisation,
}

impl CohortMethod {
    /// Lowercase name, as in `summary.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            CohortMethod::Team => "team",
            CohortMethod::Behaviour => "behaviour",
            CohortMethod::Organisation => ORGANISATION_NAME,
        }
    }
}

impl std::fmt::Display for CohortMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Cohort of every user: names and ids (index into `names`, or
/// [`ORGANISATION`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Cohorts {
    /// Distinct cohort names, ascending; ids index this list.
    pub names: Vec<String>,
    /// Per user: cohort id.
    pub ids: Vec<usize>,
    /// How cohorts were formed.
    pub method: CohortMethod,
}

impl Cohorts {
    /// The cohort name of user `i`.
    pub fn name(&self, i: usize) -> &str {
        match self.ids[i] {
            ORGANISATION => ORGANISATION_NAME,
            c => &self.names[c],
        }
    }
}

/// The documented rule for the number of behavioural groups.
///
/// ```
/// use goodhart_detect::cohort::default_k;
/// assert_eq!(default_k(100), 2);
/// assert_eq!(default_k(1000), 4);
/// assert_eq!(default_k(8000), 8);
/// assert_eq!(default_k(100_000), 8);
/// ```
pub fn default_k(n_users: usize) -> usize {
    ((n_users as f64 / 50.0).sqrt().round() as usize).clamp(2, 8)
}

/// Team cohorts from a per-user team column.
pub fn from_teams(teams: &[Option<String>], min_cohort_size: usize) -> Cohorts {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    let mut sorted: Vec<&str> = teams.iter().flatten().map(String::as_str).collect();
    sorted.sort_unstable();
    for t in sorted {
        match counts.last_mut() {
            Some((last, c)) if *last == t => *c += 1,
            _ => counts.push((t, 1)),
        }
    }
    let names: Vec<String> = counts
        .iter()
        .filter(|(_, c)| *c >= min_cohort_size)
        .map(|(t, _)| t.to_string())
        .collect();
    let ids = teams
        .iter()
        .map(|t| {
            t.as_deref()
                .and_then(|t| names.binary_search_by(|n| n.as_str().cmp(t)).ok())
                .unwrap_or(ORGANISATION)
        })
        .collect();
    Cohorts {
        names,
        ids,
        method: CohortMethod::Team,
    }
}

/// Behavioural cohorts from a usage-mix matrix (rows = users, NaN = null).
pub fn from_behaviour(
    mix: &Array2<f64>,
    fit_rows: &[bool],
    min_cohort_size: usize,
    k: Option<usize>,
    seed: u64,
) -> Result<Cohorts, DetectError> {
    let n = mix.nrows();
    let everyone = Cohorts {
        names: vec![],
        ids: vec![ORGANISATION; n],
        method: CohortMethod::Organisation,
    };
    let k = k.unwrap_or_else(|| default_k(n));
    let n_fit = fit_rows.iter().filter(|&&f| f).count();
    if mix.ncols() == 0 || k < 2 || n_fit < k * min_cohort_size {
        return Ok(everyone);
    }
    // log1p, then impute nulls with the column median (of log values).
    let mut x = mix.mapv(|v| {
        if v.is_finite() {
            v.max(0.0).ln_1p()
        } else {
            f64::NAN
        }
    });
    for mut col in x.columns_mut() {
        let mut vals: Vec<f64> = col.iter().copied().filter(|v| v.is_finite()).collect();
        vals.sort_by(f64::total_cmp);
        let med = if vals.is_empty() {
            0.0
        } else {
            median_sorted(&vals)
        };
        col.mapv_inplace(|v| if v.is_finite() { v } else { med });
    }
    let rows: Vec<usize> = (0..n).filter(|&i| fit_rows[i]).collect();
    let fit = DatasetBase::from(x.select(ndarray::Axis(0), &rows));
    let scaler = LinearScaler::standard()
        .fit(&fit)
        .map_err(|e| DetectError::Model(format!("standard scaler: {e}")))?;
    let fit = scaler.transform(fit);
    let model = KMeans::params_with_rng(k, ChaCha8Rng::seed_from_u64(seed))
        .n_runs(4)
        .max_n_iterations(200)
        .tolerance(1e-6)
        .fit(&fit)
        .map_err(|e| DetectError::Model(format!("k-means with k = {k}: {e}")))?;
    let all = scaler.transform(x);
    let labels = model.predict(&all);
    // Name clusters by decreasing size (ties: smaller label), so names do
    // not depend on k-means' internal numbering.
    let mut sizes: Vec<(usize, usize)> = (0..k)
        .map(|c| (c, labels.iter().filter(|&&l| l == c).count()))
        .collect();
    sizes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let kept: Vec<(usize, String)> = sizes
        .iter()
        .enumerate()
        .filter(|(_, (_, size))| *size >= min_cohort_size)
        .map(|(rank, (c, _))| (*c, format!("behaviour-{}", rank + 1)))
        .collect();
    if kept.is_empty() {
        return Ok(everyone);
    }
    let mut names: Vec<String> = kept.iter().map(|(_, n)| n.clone()).collect();
    names.sort();
    let ids = labels
        .iter()
        .map(|l| {
            kept.iter()
                .find(|(c, _)| c == l)
                .and_then(|(_, name)| names.binary_search(name).ok())
                .unwrap_or(ORGANISATION)
        })
        .collect();
    Ok(Cohorts {
        names,
        ids,
        method: CohortMethod::Behaviour,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_teams_and_no_team_fall_back() {
        let mut teams: Vec<Option<String>> = vec![Some("big".into()); 8];
        teams.extend(vec![Some("small".into()); 7]);
        teams.push(None);
        let c = from_teams(&teams, 8);
        assert_eq!(c.names, vec!["big".to_string()]);
        assert_eq!(c.name(0), "big");
        assert_eq!(c.name(8), "organisation");
        assert_eq!(c.name(15), "organisation");
    }

    #[test]
    fn behaviour_groups_separate_clear_clusters_deterministically() {
        // 60 users mostly use agents (ratio ~2), 40 never (ratio ~0.01).
        let mut x = Array2::zeros((100, 2));
        for i in 0..100 {
            let j = (i % 7) as f64 * 0.01;
            if i < 60 {
                x[[i, 0]] = 2.0 + j;
                x[[i, 1]] = 0.5 + j;
            } else {
                x[[i, 0]] = 0.01 + j;
                x[[i, 1]] = 0.5 - j;
            }
        }
        let a = from_behaviour(&x, &[true; 100], 8, Some(2), 1).unwrap();
        let b = from_behaviour(&x, &[true; 100], 8, Some(2), 1).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.method, CohortMethod::Behaviour);
        assert_eq!(a.name(0), "behaviour-1");
        assert_eq!(a.name(99), "behaviour-2");
        assert!(a.ids[..60].iter().all(|&c| c == a.ids[0]));
        assert!(a.ids[60..].iter().all(|&c| c == a.ids[99]));
    }

    #[test]
    fn excluded_rows_do_not_form_a_group_but_are_assigned() {
        // 50 users at 0, 50 at 5, and 10 extreme users at 40 excluded from
        // the fit: they join the nearest group (the one at 5).
        let mut x = Array2::zeros((110, 1));
        let mut fit = vec![true; 110];
        for i in 0..110 {
            x[[i, 0]] = if i < 50 {
                (i % 3) as f64 * 0.01
            } else if i < 100 {
                5.0
            } else {
                40.0
            };
            fit[i] = i < 100;
        }
        let c = from_behaviour(&x, &fit, 8, Some(2), 3).unwrap();
        assert_eq!(c.names.len(), 2);
        assert_eq!(c.ids[105], c.ids[60]);
        assert_ne!(c.ids[0], c.ids[60]);
    }

    #[test]
    fn too_few_users_is_everyone() {
        let x = Array2::zeros((10, 2));
        let c = from_behaviour(&x, &[true; 10], 8, None, 1).unwrap();
        assert!(c.ids.iter().all(|&i| i == ORGANISATION));
    }
}
