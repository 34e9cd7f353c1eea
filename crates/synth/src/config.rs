//! Generator settings: [`SynthConfig`], [`TeamSpec`], [`LegitMix`], [`Model`].

use crate::{Archetype, SynthError};
use chrono::NaiveDate;

/// Most sessions one user can start on one day (session ids are a bijection
/// of `(user, day, session number)`, see [`SynthConfig::validate`]).
pub const MAX_SESSIONS_PER_USER_DAY: u64 = 64;

/// A model the synthetic organisation uses, with plausible list prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Model {
    /// `claude-sonnet-4-5`: the default workhorse.
    ClaudeSonnet45,
    /// `claude-haiku-4-5`: cheap, used by many sub-agents.
    ClaudeHaiku45,
    /// `claude-opus-4-1`: premium.
    ClaudeOpus41,
    /// `gpt-5`.
    Gpt5,
    /// `gpt-5-mini`: cheap.
    Gpt5Mini,
    /// `o3-pro`: premium reasoning model.
    O3Pro,
}

impl Model {
    /// Every model, in a fixed order.
    pub const ALL: [Model; 6] = [
        Model::ClaudeSonnet45,
        Model::ClaudeHaiku45,
        Model::ClaudeOpus41,
        Model::Gpt5,
        Model::Gpt5Mini,
        Model::O3Pro,
    ];

    /// The spelling written to the `model` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Model::ClaudeSonnet45 => "claude-sonnet-4-5",
            Model::ClaudeHaiku45 => "claude-haiku-4-5",
            Model::ClaudeOpus41 => "claude-opus-4-1",
            Model::Gpt5 => "gpt-5",
            Model::Gpt5Mini => "gpt-5-mini",
            Model::O3Pro => "o3-pro",
        }
    }

    /// USD per million tokens: `(input, output, cache_read, cache_write)`.
    pub fn prices_per_mtok(self) -> (f64, f64, f64, f64) {
        match self {
            Model::ClaudeSonnet45 => (3.0, 15.0, 0.30, 3.75),
            Model::ClaudeHaiku45 => (1.0, 5.0, 0.10, 1.25),
            Model::ClaudeOpus41 => (15.0, 75.0, 1.50, 18.75),
            Model::Gpt5 => (1.25, 10.0, 0.125, 1.25),
            Model::Gpt5Mini => (0.25, 2.0, 0.025, 0.25),
            Model::O3Pro => (20.0, 80.0, 5.0, 20.0),
        }
    }

    /// True for the expensive models (`claude-opus-4-1`, `o3-pro`).
    pub fn is_premium(self) -> bool {
        matches!(self, Model::ClaudeOpus41 | Model::O3Pro)
    }

    /// The cheap model of the same vendor, used by most sub-agents.
    pub fn cheap_sibling(self) -> Model {
        match self {
            Model::Gpt5 | Model::Gpt5Mini | Model::O3Pro => Model::Gpt5Mini,
            _ => Model::ClaudeHaiku45,
        }
    }

    /// Billed cost in USD of one row's tokens.
    pub fn cost_usd(self, input: u64, output: u64, cache_read: u64, cache_write: u64) -> f64 {
        let (pi, po, pr, pw) = self.prices_per_mtok();
        (input as f64 * pi + output as f64 * po + cache_read as f64 * pr + cache_write as f64 * pw)
            / 1e6
    }
}

/// One team of the synthetic organisation and its habits.
///
/// Teams are the default peer cohort of goodhart, so their habits differ on
/// purpose: volume by a factor of ~2.7 between the busiest and the quietest
/// default team, plus different caching (pause) and sub-agent habits.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TeamSpec {
    /// Team name (the `team` column of `users.parquet`). Non-empty, distinct.
    pub name: String,
    /// Share of head count (relative weight, > 0).
    pub weight: f64,
    /// Session-rate multiplier of the team's normal usage (> 0).
    pub volume: f64,
    /// Multiplier on the chance of spawning a sub-agent per turn (>= 0).
    pub agent_rate: f64,
    /// Probability that the gap before a turn exceeds the 5-minute cache
    /// lifetime (a legitimate cache expiry), in `[0, 1]`.
    pub pause_rate: f64,
    /// Size multiplier of system prompts and loaded contexts (> 0).
    pub context_scale: f64,
    /// Typical start of the working day, in minutes after 00:00 UTC
    /// (a time-zone-ish offset; `0..1440`).
    pub utc_start_minute: u32,
    /// Number of team-standard sub-agents (team-wide task hashes such as a
    /// "run-tests agent"), `1..=16`.
    pub standard_agents: usize,
    /// Main models of the team's members with relative weights (non-empty).
    pub models: Vec<(Model, f64)>,
    /// The team works office hours only: nobody in it works on weekends
    /// (default false; [`SynthConfig::office_hours`] does it for everyone).
    pub office_hours: bool,
}

impl TeamSpec {
    /// A team with average habits: volume 1, 8% cache-expiring pauses,
    /// 3 standard agents, `claude-sonnet-4-5`, day starting 09:00 UTC.
    pub fn new(name: impl Into<String>, weight: f64) -> TeamSpec {
        TeamSpec {
            name: name.into(),
            weight,
            volume: 1.0,
            agent_rate: 1.0,
            pause_rate: 0.08,
            context_scale: 1.0,
            utc_start_minute: 9 * 60,
            standard_agents: 3,
            models: vec![(Model::ClaudeSonnet45, 1.0)],
            office_hours: false,
        }
    }

    /// The five default teams: `platform`, `web`, `data`, `mobile`, `ml`.
    ///
    /// | team | head count | volume | sub-agents | cache pauses | context size | day starts (UTC) |
    /// |------|-----------:|-------:|-----------:|-------------:|-------------:|-----------------:|
    /// | platform | 22% | 1.0 | 1.2 | 6% | 1.0 | 08:00 |
    /// | web | 26% | 1.3 | 0.8 | 5% | 0.8 | 14:00 |
    /// | data | 18% | 0.75 | 0.6 | 12% | 1.4 | 16:00 |
    /// | mobile | 16% | 0.6 | 0.5 | 8% | 0.9 | 02:00 |
    /// | ml | 18% | 1.6 | 1.5 | 10% | 1.6 | 10:00 |
    pub fn defaults() -> Vec<TeamSpec> {
        let team = |name: &str,
                    weight,
                    volume,
                    agent_rate,
                    pause_rate,
                    context_scale,
                    start_h: u32,
                    standard_agents,
                    models: Vec<(Model, f64)>| TeamSpec {
            name: name.into(),
            weight,
            volume,
            agent_rate,
            pause_rate,
            context_scale,
            utc_start_minute: start_h * 60,
            standard_agents,
            models,
            office_hours: false,
        };
        use Model::*;
        vec![
            team(
                "platform",
                0.22,
                1.0,
                1.2,
                0.06,
                1.0,
                8,
                4,
                vec![
                    (ClaudeSonnet45, 0.6),
                    (ClaudeOpus41, 0.1),
                    (Gpt5, 0.2),
                    (ClaudeHaiku45, 0.1),
                ],
            ),
            team(
                "web",
                0.26,
                1.3,
                0.8,
                0.05,
                0.8,
                14,
                3,
                vec![(ClaudeSonnet45, 0.5), (Gpt5, 0.3), (ClaudeHaiku45, 0.2)],
            ),
            team(
                "data",
                0.18,
                0.75,
                0.6,
                0.12,
                1.4,
                16,
                3,
                vec![(Gpt5, 0.5), (ClaudeSonnet45, 0.3), (Gpt5Mini, 0.2)],
            ),
            team(
                "mobile",
                0.16,
                0.6,
                0.5,
                0.08,
                0.9,
                2,
                2,
                vec![(ClaudeSonnet45, 0.5), (Gpt5Mini, 0.3), (ClaudeHaiku45, 0.2)],
            ),
            team(
                "ml",
                0.18,
                1.6,
                1.5,
                0.10,
                1.6,
                10,
                4,
                vec![
                    (ClaudeOpus41, 0.35),
                    (O3Pro, 0.1),
                    (ClaudeSonnet45, 0.35),
                    (Gpt5, 0.2),
                ],
            ),
        ]
    }
}

/// Relative weights of the legitimate archetypes among non-gaming users.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct LegitMix {
    /// `light`.
    pub light: f64,
    /// `regular`.
    pub regular: f64,
    /// `power`.
    pub power: f64,
    /// `incident`.
    pub incident: f64,
    /// `new_hire`.
    pub new_hire: f64,
    /// `migration`.
    pub migration: f64,
}

impl Default for LegitMix {
    /// light 25%, regular 46%, power 10%, incident 5%, new_hire 6%, migration 8%.
    fn default() -> LegitMix {
        LegitMix {
            light: 0.25,
            regular: 0.46,
            power: 0.10,
            incident: 0.05,
            new_hire: 0.06,
            migration: 0.08,
        }
    }
}

impl LegitMix {
    /// `(archetype, weight)` in [`Archetype::ALL`] order.
    pub fn weights(&self) -> [(Archetype, f64); 6] {
        [
            (Archetype::Light, self.light),
            (Archetype::Regular, self.regular),
            (Archetype::Power, self.power),
            (Archetype::Incident, self.incident),
            (Archetype::NewHire, self.new_hire),
            (Archetype::Migration, self.migration),
        ]
    }
}

/// Every knob of the generator. Start from [`SynthConfig::new`] and change
/// fields; [`crate::generate`] calls [`SynthConfig::validate`] first.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SynthConfig {
    /// Number of people (`>= 1`).
    pub users: usize,
    /// Number of days, starting at [`SynthConfig::start`] (`>= 1`).
    pub days: u32,
    /// Master seed: same seed and settings give byte-identical output.
    pub seed: u64,
    /// Share of people who game the leaderboard, in `[0, 1]` (default 0.06).
    pub gaming_share: f64,
    /// First day (default 2026-10-01, a Thursday).
    pub start: NaiveDate,
    /// Multiplier on every gaming person's intensity (default 1.0, `(0, 10]`).
    pub intensity: f64,
    /// The teams (default [`TeamSpec::defaults`]).
    pub teams: Vec<TeamSpec>,
    /// Mix of the legitimate archetypes (default [`LegitMix::default`]).
    pub legit_mix: LegitMix,
    /// Most rows per Parquet row group (default 65 536).
    pub max_row_group_rows: usize,
    /// A team where a share of the members game the same way (default
    /// none): several gamers of one kind in one team, up to a team where
    /// most members game. See [`TeamGaming`].
    pub team_gaming: Option<TeamGaming>,
    /// Office hours only (default false): nobody works on weekends, so the
    /// legitimate share of the week before a Friday snapshot is larger than
    /// 2/7 (what a leaderboard-sprint detector must not mistake for a sprint).
    pub office_hours: bool,
    /// Agent-heavy workloads (default false): 4x longer system prompts and
    /// twice the turns, so most input is the cached conversation; context
    /// loads carry no tokens (the next request bills them, as in real agent
    /// transcripts), and a reloader re-reads files of the session, billed
    /// uncached on the next request.
    pub agent_heavy: bool,
    /// Templated migrations (default false): a migration fans one task hash
    /// out over all its sub-agents (the same "migrate this file" prompt,
    /// different files), each shipping an accepted change. Re-spawning one
    /// task is then *not* waste: what a redundant-spawn detector must tell
    /// apart from an agent spammer re-spawning a task with nothing accepted.
    pub migration_same_task: bool,
}

/// Several members of one team gaming the same way ([`SynthConfig::team_gaming`]).
///
/// `round(team size * share)` members of `team` get `archetype` (the first
/// ones in user order that are not gaming already are converted; the
/// organisation's other gamers are unchanged). Agent spammers of such a team
/// re-spawn one of the team's *standard* sub-agents (the team's
/// "run-tests agent") rather than a personal task, so their waste looks like
/// the team's ordinary work.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TeamGaming {
    /// Team name (one of [`SynthConfig::teams`]).
    pub team: String,
    /// Share of the team's members who game this way, in `(0, 1]`.
    pub share: f64,
    /// The gaming archetype they share.
    pub archetype: Archetype,
}

impl TeamGaming {
    /// `share` of `team` gaming as `archetype`.
    pub fn new(team: impl Into<String>, share: f64, archetype: Archetype) -> TeamGaming {
        TeamGaming {
            team: team.into(),
            share,
            archetype,
        }
    }
}

impl Default for SynthConfig {
    fn default() -> SynthConfig {
        SynthConfig::new(200, 14, 42)
    }
}

impl SynthConfig {
    /// Default settings for `users` people over `days` days with `seed`.
    pub fn new(users: usize, days: u32, seed: u64) -> SynthConfig {
        SynthConfig {
            users,
            days,
            seed,
            gaming_share: 0.06,
            start: NaiveDate::from_ymd_opt(2026, 10, 1).expect("valid constant date"),
            intensity: 1.0,
            teams: TeamSpec::defaults(),
            legit_mix: LegitMix::default(),
            max_row_group_rows: 65_536,
            team_gaming: None,
            office_hours: false,
            agent_heavy: false,
            migration_same_task: false,
        }
    }

    /// Checks every setting; the error names the setting and the fix.
    // One piece: independent checks, one per setting, in the order of the settings.
    pub fn validate(&self) -> Result<(), SynthError> {
        let bad = |setting: &str, reason: String| {
            Err(SynthError::Config {
                setting: setting.to_string(),
                reason,
            })
        };
        if self.users == 0 {
            return bad("users", "must be at least 1".into());
        }
        if self.days == 0 {
            return bad("days", "must be at least 1".into());
        }
        let slots = (self.users as u128) * (self.days as u128) * MAX_SESSIONS_PER_USER_DAY as u128;
        if slots > (u32::MAX as u128) + 1 {
            return bad(
                "users",
                format!(
                    "users x days = {} is too large: session ids are 32-bit, so users x days must be at most {}; use fewer users or days",
                    self.users as u128 * self.days as u128,
                    (1u64 << 32) / MAX_SESSIONS_PER_USER_DAY
                ),
            );
        }
        if !(self.gaming_share.is_finite() && (0.0..=1.0).contains(&self.gaming_share)) {
            return bad(
                "gaming_share",
                format!("is {}, must be a number in [0, 1]", self.gaming_share),
            );
        }
        if !(self.intensity.is_finite() && self.intensity > 0.0 && self.intensity <= 10.0) {
            return bad(
                "intensity",
                format!("is {}, must be a number in (0, 10]", self.intensity),
            );
        }
        if self
            .start
            .checked_add_days(chrono::Days::new(self.days as u64 + 2))
            .is_none()
        {
            return bad("start", format!("{} + days is out of range", self.start));
        }
        if self.max_row_group_rows == 0 {
            return bad("max_row_group_rows", "must be at least 1".into());
        }
        if self.teams.is_empty() {
            return bad("teams", "needs at least one team".into());
        }
        let mut names: Vec<&str> = Vec::new();
        for (i, t) in self.teams.iter().enumerate() {
            let setting = format!("teams[{i}]");
            if t.name.trim().is_empty() {
                return bad(&format!("{setting}.name"), "must not be empty".into());
            }
            if names.contains(&t.name.as_str()) {
                return bad(
                    &format!("{setting}.name"),
                    format!(
                        "team name `{}` appears twice; names must be distinct",
                        t.name
                    ),
                );
            }
            names.push(&t.name);
            let pos = |field: &str, v: f64| {
                if v.is_finite() && v > 0.0 {
                    Ok(())
                } else {
                    bad(
                        &format!("{setting}.{field}"),
                        format!("is {v}, must be a positive number"),
                    )
                }
            };
            pos("weight", t.weight)?;
            pos("volume", t.volume)?;
            pos("context_scale", t.context_scale)?;
            if !(t.agent_rate.is_finite() && t.agent_rate >= 0.0 && t.agent_rate <= 8.0) {
                return bad(
                    &format!("{setting}.agent_rate"),
                    format!("is {}, must be in [0, 8]", t.agent_rate),
                );
            }
            if !(t.pause_rate.is_finite() && (0.0..=1.0).contains(&t.pause_rate)) {
                return bad(
                    &format!("{setting}.pause_rate"),
                    format!("is {}, must be a probability in [0, 1]", t.pause_rate),
                );
            }
            if t.utc_start_minute >= 1440 {
                return bad(
                    &format!("{setting}.utc_start_minute"),
                    format!("is {}, must be in 0..1440", t.utc_start_minute),
                );
            }
            if !(1..=16).contains(&t.standard_agents) {
                return bad(
                    &format!("{setting}.standard_agents"),
                    format!("is {}, must be in 1..=16", t.standard_agents),
                );
            }
            if t.models.is_empty() || t.models.iter().any(|(_, w)| !(w.is_finite() && *w >= 0.0)) {
                return bad(
                    &format!("{setting}.models"),
                    "must be a non-empty list of (model, weight >= 0)".into(),
                );
            }
            if t.models.iter().map(|(_, w)| w).sum::<f64>() <= 0.0 {
                return bad(
                    &format!("{setting}.models"),
                    "weights must not all be 0".into(),
                );
            }
        }
        if let Some(tg) = &self.team_gaming {
            if !self.teams.iter().any(|t| t.name == tg.team) {
                return bad(
                    "team_gaming.team",
                    format!(
                        "team `{}` is not one of the teams ({}); name one of them",
                        tg.team,
                        self.teams
                            .iter()
                            .map(|t| t.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
            if !(tg.share.is_finite() && tg.share > 0.0 && tg.share <= 1.0) {
                return bad(
                    "team_gaming.share",
                    format!("is {}, must be a number in (0, 1]", tg.share),
                );
            }
            if !tg.archetype.is_gaming() {
                return bad(
                    "team_gaming.archetype",
                    format!(
                        "`{}` is not a gaming archetype; use one of {}",
                        tg.archetype,
                        Archetype::GAMING.map(|a| a.as_str()).join(", ")
                    ),
                );
            }
        }
        let w = self.legit_mix.weights();
        for (a, v) in w {
            if !(v.is_finite() && v >= 0.0) {
                return bad(
                    &format!("legit_mix.{}", a.as_str()),
                    format!("is {v}, must be a number >= 0"),
                );
            }
        }
        if w.iter().map(|(_, v)| v).sum::<f64>() <= 0.0 {
            return bad("legit_mix", "weights must not all be 0".into());
        }
        Ok(())
    }

    /// How many people of each archetype the organisation has, in
    /// [`Archetype::ALL`] order (zeros included).
    ///
    /// Gaming people: `round(users * gaming_share)`, raised to 7 when
    /// `gaming_share > 0` and `users >= 100` (one of each gaming archetype),
    /// spread evenly over the 7 gaming archetypes (the remainder goes to the
    /// first ones in [`Archetype::GAMING`] order). The others are split by
    /// [`SynthConfig::legit_mix`] with the largest-remainder method.
    ///
    /// ```
    /// use goodhart_synth::{Archetype, SynthConfig};
    /// let c = SynthConfig::new(200, 7, 1).archetype_counts().unwrap();
    /// let gaming: usize = c.iter().filter(|(a, _)| a.is_gaming()).map(|(_, n)| n).sum();
    /// assert_eq!(gaming, 12); // 6% of 200
    /// assert_eq!(c.iter().map(|(_, n)| n).sum::<usize>(), 200);
    /// ```
    pub fn archetype_counts(&self) -> Result<Vec<(Archetype, usize)>, SynthError> {
        self.validate()?;
        let mut gaming = (self.users as f64 * self.gaming_share).round() as usize;
        if self.gaming_share > 0.0 && self.users >= 100 {
            gaming = gaming.max(Archetype::GAMING.len());
        }
        let gaming = gaming.min(self.users);
        let g = Archetype::GAMING.len();
        let mut out: Vec<(Archetype, usize)> = Vec::new();
        let legit = apportion(
            self.users - gaming,
            &self.legit_mix.weights().map(|(_, w)| w),
        );
        for (i, (a, _)) in self.legit_mix.weights().iter().enumerate() {
            out.push((*a, legit[i]));
        }
        for (i, a) in Archetype::GAMING.iter().enumerate() {
            out.push((*a, gaming / g + usize::from(i < gaming % g)));
        }
        Ok(out)
    }
}

/// Largest-remainder apportionment of `n` by `weights` (ties: lower index).
///
/// Hand-written because it is ten lines and must be exactly reproducible.
pub(crate) fn apportion(n: usize, weights: &[f64]) -> Vec<usize> {
    let total: f64 = weights.iter().sum();
    if n == 0 || total <= 0.0 {
        return vec![0; weights.len()];
    }
    let quotas: Vec<f64> = weights.iter().map(|w| n as f64 * w / total).collect();
    let mut counts: Vec<usize> = quotas.iter().map(|q| q.floor() as usize).collect();
    let mut left = n - counts.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = quotas[a] - quotas[a].floor();
        let rb = quotas[b] - quotas[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().cycle() {
        if left == 0 {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_sums_and_follows_weights() {
        assert_eq!(apportion(10, &[1.0, 1.0]), vec![5, 5]);
        assert_eq!(apportion(3, &[1.0, 1.0]), vec![2, 1]);
        // quotas 3.5, 1.75, 1.75 -> floors 3,1,1; the two left go to the .75s.
        assert_eq!(apportion(7, &[0.5, 0.25, 0.25]), vec![3, 2, 2]);
        assert_eq!(apportion(0, &[1.0]), vec![0]);
    }

    #[test]
    fn validate_names_the_setting() {
        let mut c = SynthConfig::new(10, 3, 1);
        c.gaming_share = 1.5;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("gaming_share"), "{e}");
        let mut c = SynthConfig::new(10, 3, 1);
        c.teams[1].pause_rate = -0.1;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("teams[1].pause_rate"), "{e}");
        let mut c = SynthConfig::new(10, 3, 1);
        c.teams[2].name = "platform".into();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("teams[2].name"));
        assert!(SynthConfig::new(0, 3, 1)
            .validate()
            .unwrap_err()
            .to_string()
            .contains("users"));
        assert!(SynthConfig::new(3, 0, 1)
            .validate()
            .unwrap_err()
            .to_string()
            .contains("days"));
        assert!(SynthConfig::new(100_000_000, 30, 1).validate().is_err());
        assert!(SynthConfig::new(8000, 21, 1).validate().is_ok());
    }

    #[test]
    fn archetype_counts_default_mix() {
        let c = SynthConfig::new(1000, 7, 1).archetype_counts().unwrap();
        let get = |a: Archetype| c.iter().find(|(x, _)| *x == a).unwrap().1;
        // 60 gaming people spread over 7 archetypes: 9,9,9,9,8,8,8.
        assert_eq!(get(Archetype::AgentSpammer), 9);
        assert_eq!(get(Archetype::Subtle), 8);
        // 940 legit: quotas 235, 432.4, 94, 47, 56.4, 75.2 -> floors sum to
        // 939; the one left goes to the largest remainder, .4, a tie between
        // regular and new_hire won by the lower index (regular).
        assert_eq!(get(Archetype::Light), 235);
        assert_eq!(get(Archetype::Regular), 433);
        assert_eq!(get(Archetype::NewHire), 56);
        assert_eq!(get(Archetype::Migration), 75);
        assert_eq!(c.iter().map(|p| p.1).sum::<usize>(), 1000);

        let mut cfg = SynthConfig::new(100, 7, 1);
        cfg.gaming_share = 0.01;
        let c = cfg.archetype_counts().unwrap();
        assert!(c.iter().filter(|p| p.0.is_gaming()).all(|p| p.1 == 1));
        cfg.gaming_share = 0.0;
        let c = cfg.archetype_counts().unwrap();
        assert!(c.iter().filter(|p| p.0.is_gaming()).all(|p| p.1 == 0));
    }
}
