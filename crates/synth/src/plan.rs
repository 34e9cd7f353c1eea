//! Who is who: the per-person plan drawn once from the seed, and the id
//! helpers shared by the generator and the writer.

use crate::config::{apportion, Model, SynthConfig, MAX_SESSIONS_PER_USER_DAY};
use crate::{Archetype, SynthError};
use chrono::{Datelike, NaiveDate, Weekday};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Domain-separation tags for [`mix`].
pub(crate) mod tag {
    pub const ASSIGN_ARCHETYPE: u64 = 1;
    pub const ASSIGN_TEAM: u64 = 2;
    pub const USER: u64 = 3;
    pub const USER_DAY: u64 = 4;
    pub const COMMON_PROMPT: u64 = 5;
    pub const TEAM_AGENT: u64 = 6;
    pub const TEAM_CONTEXT: u64 = 7;
    pub const SESSION_KEY: u64 = 8;
}

/// Stable 64-bit hash of a few integers (XXH3 of their little-endian bytes):
/// the seed of every per-(user, day) RNG, so each stream is independent of
/// thread count and of every other stream.
pub(crate) fn mix(parts: &[u64]) -> u64 {
    let mut buf = [0u8; 64];
    let n = parts.len().min(8);
    for (i, p) in parts[..n].iter().enumerate() {
        buf[i * 8..i * 8 + 8].copy_from_slice(&p.to_le_bytes());
    }
    xxhash_rust::xxh3::xxh3_64(&buf[..n * 8])
}

/// A keyed bijection on `u32`.
///
/// Hand-written on purpose: session ids must be *guaranteed* distinct (a
/// hash truncated to 32 bits would collide a few times in 10M events), and
/// every step here (xor with a constant, multiplication by an odd constant,
/// xor-shift right, addition) is invertible, so distinct slots give distinct
/// ids while looking random.
pub(crate) fn permute32(x: u32, key: u64) -> u32 {
    let mut x = x ^ (key as u32);
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_add((key >> 32) as u32);
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// Gaming patterns a session can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pattern {
    Spawn,
    Reload,
    Loop,
    Verbose,
    Pad,
}

/// Everything fixed about one person.
#[derive(Debug, Clone)]
pub(crate) struct UserPlan {
    pub idx: u32,
    pub id: String,
    pub team: usize,
    pub role: &'static str,
    pub start_date: Option<NaiveDate>,
    pub archetype: Archetype,
    /// Session-rate multiplier (archetype x personal habit).
    pub activity: f64,
    /// Personal start of the working day, minutes after 00:00 UTC.
    pub work_start_min: i64,
    pub main_model: Model,
    /// Gaming intensity (0 for legitimate people).
    pub g: f64,
    /// The two patterns of a `subtle` person.
    pub subtle: [Pattern; 2],
    /// First active day (new hires), else 0.
    pub first_day: u32,
    /// A day with guaranteed activity, so every person appears in the events.
    pub anchor_day: u32,
    /// The big day of an `incident` person.
    pub incident_day: Option<u32>,
    /// The task an agent spammer spawns again and again.
    pub spam_task: u64,
    /// The big context a reloader sends again and again, and its size.
    pub big_context: u64,
    pub big_context_size: u64,
    /// Personal working set of team contexts.
    pub contexts: Vec<u64>,
    /// Personal verbosity habit (output-size multiplier).
    pub output_scale: f64,
}

/// The whole organisation.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub cfg: SynthConfig,
    pub users: Vec<UserPlan>,
    pub common_prompts: Vec<u64>,
    pub team_agents: Vec<Vec<u64>>,
    pub team_contexts: Vec<Vec<u64>>,
    pub session_key: u64,
}

const TEAM_CONTEXT_POOL: usize = 300;
const ROLES: [(&str, f64); 5] = [
    ("engineer", 0.50),
    ("senior_engineer", 0.28),
    ("staff_engineer", 0.08),
    ("engineering_manager", 0.06),
    ("data_scientist", 0.08),
];

fn weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, f64)]) -> T {
    let total: f64 = items.iter().map(|p| p.1).sum();
    let mut x = rng.gen::<f64>() * total;
    for (t, w) in items {
        if x < *w {
            return *t;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

/// Size in tokens of a context, a pure function of its hash (the same file
/// set always has the same size): roughly 2k..25k tokens times the team scale.
pub(crate) fn context_size(h: u64, scale: f64) -> u64 {
    let x = (h >> 11) as f64 / (1u64 << 53) as f64;
    (2000.0 * (x * 2.5).exp() * scale) as u64
}

impl Plan {
    // One piece: the organisation's plan drawn from seeded random streams in a fixed order
    // (archetypes, teams, roles, start dates); the order of the draws fixes the output bytes.
    pub(crate) fn new(cfg: &SynthConfig) -> Result<Plan, SynthError> {
        let counts = cfg.archetype_counts()?;
        let seed = cfg.seed;
        let mut archetypes: Vec<Archetype> = counts
            .iter()
            .flat_map(|(a, n)| std::iter::repeat_n(*a, *n))
            .collect();
        archetypes.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(&[
            seed,
            tag::ASSIGN_ARCHETYPE,
        ])));
        let team_counts = apportion(
            cfg.users,
            &cfg.teams.iter().map(|t| t.weight).collect::<Vec<_>>(),
        );
        let mut teams: Vec<usize> = team_counts
            .iter()
            .enumerate()
            .flat_map(|(t, n)| std::iter::repeat_n(t, *n))
            .collect();
        teams.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(&[
            seed,
            tag::ASSIGN_TEAM,
        ])));

        if let Some(tg) = &cfg.team_gaming {
            // Convert the team's first non-gaming members (user order) until
            // round(size * share) of them have the archetype.
            let t = cfg
                .teams
                .iter()
                .position(|t| t.name == tg.team)
                .expect("validated team name");
            let members: Vec<usize> = (0..cfg.users).filter(|&i| teams[i] == t).collect();
            let want = (members.len() as f64 * tg.share).round() as usize;
            let mut have = members
                .iter()
                .filter(|&&i| archetypes[i] == tg.archetype)
                .count();
            for &i in &members {
                if have >= want {
                    break;
                }
                if !archetypes[i].is_gaming() {
                    archetypes[i] = tg.archetype;
                    have += 1;
                }
            }
        }
        let common_prompts = (0..10u64)
            .map(|k| mix(&[seed, tag::COMMON_PROMPT, k]))
            .collect();
        let team_agents: Vec<Vec<u64>> = cfg
            .teams
            .iter()
            .enumerate()
            .map(|(t, spec)| {
                (0..spec.standard_agents as u64)
                    .map(|k| mix(&[seed, tag::TEAM_AGENT, t as u64, k]))
                    .collect()
            })
            .collect();
        let team_contexts: Vec<Vec<u64>> = (0..cfg.teams.len())
            .map(|t| {
                (0..TEAM_CONTEXT_POOL as u64)
                    .map(|k| mix(&[seed, tag::TEAM_CONTEXT, t as u64, k]))
                    .collect()
            })
            .collect();

        let weekdays: Vec<u32> = (0..cfg.days)
            .filter(|d| {
                let wd = (cfg.start + chrono::Days::new(*d as u64)).weekday();
                !matches!(wd, Weekday::Sat | Weekday::Sun)
            })
            .collect();
        let users = (0..cfg.users)
            .map(|i| {
                let mut rng = ChaCha8Rng::seed_from_u64(mix(&[seed, tag::USER, i as u64]));
                let archetype = archetypes[i];
                let team = teams[i];
                let spec = &cfg.teams[team];
                let habit = (rng.gen::<f64>() - 0.5) * 0.5; // +-25%
                let activity = (1.0 + habit)
                    * match archetype {
                        Archetype::Light => rng.gen_range(0.25..0.45),
                        Archetype::Power => rng.gen_range(3.0..5.0),
                        _ => 1.0,
                    };
                let first_day = if archetype == Archetype::NewHire && cfg.days > 1 {
                    rng.gen_range(1..=(cfg.days / 2).max(1))
                } else {
                    0
                };
                let start_date = if archetype == Archetype::NewHire {
                    Some(cfg.start + chrono::Days::new(first_day as u64))
                } else if rng.gen_bool(0.03) {
                    None
                } else {
                    cfg.start
                        .checked_sub_days(chrono::Days::new(rng.gen_range(30..2500)))
                };
                let anchor_day = weekdays
                    .iter()
                    .copied()
                    .find(|d| *d >= first_day)
                    .unwrap_or(first_day);
                let incident_day = if archetype == Archetype::Incident && !weekdays.is_empty() {
                    Some(weekdays[rng.gen_range(0..weekdays.len())])
                } else {
                    None
                };
                let g = if archetype.is_gaming() {
                    rng.gen_range(0.5..1.5) * cfg.intensity
                } else {
                    0.0
                };
                let all = [
                    Pattern::Spawn,
                    Pattern::Reload,
                    Pattern::Loop,
                    Pattern::Verbose,
                    Pattern::Pad,
                ];
                let a = rng.gen_range(0..all.len());
                let b = (a + rng.gen_range(1..all.len())) % all.len();
                let pool = &team_contexts[team];
                let n_ctx = rng.gen_range(15..40);
                let contexts = (0..n_ctx)
                    .map(|_| pool[rng.gen_range(0..pool.len())])
                    .collect();
                let big_context = rng.gen::<u64>() | 1;
                UserPlan {
                    idx: i as u32,
                    id: format!("u-{i:05}"),
                    team,
                    role: weighted(&mut rng, &ROLES),
                    start_date,
                    archetype,
                    activity,
                    work_start_min: spec.utc_start_minute as i64
                        + (rng.gen_range(-90.0..90.0f64)).round() as i64,
                    main_model: weighted(&mut rng, &spec.models),
                    g,
                    subtle: [all[a], all[b]],
                    first_day,
                    anchor_day,
                    incident_day,
                    spam_task: {
                        let personal = rng.gen::<u64>() | 1;
                        let team_gamer = cfg.team_gaming.as_ref().is_some_and(|tg| {
                            tg.archetype == archetype && cfg.teams[team].name == tg.team
                        });
                        if team_gamer {
                            // The team's standard sub-agent, re-spawned.
                            let agents: &Vec<u64> = &team_agents[team];
                            agents[i % agents.len()]
                        } else {
                            personal
                        }
                    },
                    big_context,
                    big_context_size: rng.gen_range(40_000..120_000),
                    contexts,
                    output_scale: (rng.gen_range(-0.3..0.3f64)).exp(),
                }
            })
            .collect();
        Ok(Plan {
            cfg: cfg.clone(),
            users,
            common_prompts,
            team_agents,
            team_contexts,
            session_key: mix(&[seed, tag::SESSION_KEY]),
        })
    }

    /// The 32-bit session id of session `k` of `user` on `day`.
    pub(crate) fn session_id(&self, user: u32, day: u32, k: u32) -> u32 {
        let slot = ((user as u64 * self.cfg.days as u64 + day as u64) * MAX_SESSIONS_PER_USER_DAY
            + k as u64) as u32;
        permute32(slot, self.session_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permute32_is_a_bijection_on_a_range() {
        let mut v: Vec<u32> = (0..200_000u32)
            .map(|x| permute32(x, 0xdead_beef_1234))
            .collect();
        v.sort_unstable();
        v.dedup();
        assert_eq!(v.len(), 200_000);
    }

    #[test]
    fn plan_counts_and_new_hires() {
        let cfg = SynthConfig::new(300, 14, 9);
        let p = Plan::new(&cfg).unwrap();
        assert_eq!(p.users.len(), 300);
        for u in &p.users {
            if u.archetype == Archetype::NewHire {
                assert!(u.first_day >= 1 && u.first_day <= 7);
                assert_eq!(
                    u.start_date,
                    Some(cfg.start + chrono::Days::new(u.first_day as u64))
                );
            } else {
                assert_eq!(u.first_day, 0);
            }
            assert_eq!(u.g > 0.0, u.archetype.is_gaming());
        }
        assert_eq!(p.users[42].id, "u-00042");
    }
}
