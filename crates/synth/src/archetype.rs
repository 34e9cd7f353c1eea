//! The behaviour archetypes of synthetic people (`labels.parquet`).

/// What kind of user a synthetic person is. See the crate docs for what each
/// archetype does to the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Archetype {
    /// Legitimate: little usage.
    Light,
    /// Legitimate: the baseline.
    Regular,
    /// Legitimate: 3-5x the sessions of a regular user, same waste ratios.
    Power,
    /// Legitimate: one huge day of many distinct contexts and few changes.
    Incident,
    /// Legitimate: starts inside the window; first week is reading-heavy.
    NewHire,
    /// Legitimate: wide fan-out of distinct sub-agents, many accepted changes.
    Migration,
    /// Gaming: spawns the same task again and again; agents do nothing useful.
    AgentSpammer,
    /// Gaming: re-loads one large context many times, uncached.
    ContextReloader,
    /// Gaming: sends one (non-common) prompt again and again in long runs.
    PromptLooper,
    /// Gaming: huge outputs per request, no more accepted work.
    VerboseBurner,
    /// Gaming: mixed waste in the 48 hours before the Friday 17:00 UTC snapshot.
    LeaderboardSprinter,
    /// Gaming: many trivial 1-3-line accepted changes, many later reverted.
    ChangePadder,
    /// Gaming: two of the patterns above at about a third of the intensity.
    Subtle,
}

impl Archetype {
    /// Every archetype: the six legitimate ones, then the seven gaming ones.
    pub const ALL: [Archetype; 13] = [
        Archetype::Light,
        Archetype::Regular,
        Archetype::Power,
        Archetype::Incident,
        Archetype::NewHire,
        Archetype::Migration,
        Archetype::AgentSpammer,
        Archetype::ContextReloader,
        Archetype::PromptLooper,
        Archetype::VerboseBurner,
        Archetype::LeaderboardSprinter,
        Archetype::ChangePadder,
        Archetype::Subtle,
    ];

    /// The seven gaming archetypes.
    pub const GAMING: [Archetype; 7] = [
        Archetype::AgentSpammer,
        Archetype::ContextReloader,
        Archetype::PromptLooper,
        Archetype::VerboseBurner,
        Archetype::LeaderboardSprinter,
        Archetype::ChangePadder,
        Archetype::Subtle,
    ];

    /// The spelling of the `archetype` column of `labels.parquet`.
    pub fn as_str(self) -> &'static str {
        match self {
            Archetype::Light => "light",
            Archetype::Regular => "regular",
            Archetype::Power => "power",
            Archetype::Incident => "incident",
            Archetype::NewHire => "new_hire",
            Archetype::Migration => "migration",
            Archetype::AgentSpammer => "agent_spammer",
            Archetype::ContextReloader => "context_reloader",
            Archetype::PromptLooper => "prompt_looper",
            Archetype::VerboseBurner => "verbose_burner",
            Archetype::LeaderboardSprinter => "leaderboard_sprinter",
            Archetype::ChangePadder => "change_padder",
            Archetype::Subtle => "subtle",
        }
    }

    /// Parses [`Archetype::as_str`]'s spelling.
    ///
    /// ```
    /// use goodhart_synth::Archetype;
    /// assert_eq!(Archetype::parse("agent_spammer"), Some(Archetype::AgentSpammer));
    /// assert_eq!(Archetype::parse("spammer"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Archetype> {
        Archetype::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// True for the seven gaming archetypes (`is_gaming` in `labels.parquet`).
    pub fn is_gaming(self) -> bool {
        Archetype::GAMING.contains(&self)
    }

    /// True for the legitimate archetypes that look suspicious by volume
    /// (power users, incidents, new hires, migrations): `hard_negative` in
    /// `labels.parquet`, the people a token leaderboard would wrongly flag.
    pub fn is_hard_negative(self) -> bool {
        matches!(
            self,
            Archetype::Power | Archetype::Incident | Archetype::NewHire | Archetype::Migration
        )
    }
}

impl std::fmt::Display for Archetype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
