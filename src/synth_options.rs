//! The scenario options of `goodhart synth` (issue #17): a team gaming the
//! same way, office hours (everyone or some teams), agent-heavy workloads,
//! the migration weight and templated migrations.

use crate::args::SynthArgs;
use goodhart::synth::{Archetype, SynthConfig, TeamGaming};

/// Applies the scenario options of `a` to `cfg` (defaults leave it as is).
pub(crate) fn apply(a: &SynthArgs, cfg: &mut SynthConfig) -> crate::Result<()> {
    if let Some(spec) = &a.team_gaming {
        cfg.team_gaming = Some(parse_team_gaming(spec).map_err(crate::usage)?);
    }
    cfg.office_hours = a.office_hours;
    cfg.agent_heavy = a.agent_heavy;
    if let Some(w) = a.migration_weight {
        cfg.legit_mix.migration = w;
    }
    cfg.migration_same_task = a.migration_same_task;
    for name in &a.office_hours_team {
        let Some(t) = cfg.teams.iter_mut().find(|t| t.name == *name) else {
            return Err(crate::usage(format!(
                "--office-hours-team `{name}` is not a team; use one of {}",
                cfg.teams
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        t.office_hours = true;
    }
    Ok(())
}

/// Parses `TEAM:SHARE:ARCHETYPE`.
fn parse_team_gaming(spec: &str) -> Result<TeamGaming, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let [team, share, archetype] = parts[..] else {
        return Err(format!(
            "--team-gaming `{spec}`: expected TEAM:SHARE:ARCHETYPE, e.g. ml:0.67:agent_spammer"
        ));
    };
    let share: f64 = share.trim().parse().map_err(|_| {
        format!("--team-gaming `{spec}`: share `{share}` is not a number; use e.g. 0.67")
    })?;
    let archetype = Archetype::parse(archetype.trim()).ok_or_else(|| {
        format!(
            "--team-gaming `{spec}`: unknown archetype `{archetype}`; use one of {}",
            Archetype::GAMING.map(|a| a.as_str()).join(", ")
        )
    })?;
    Ok(TeamGaming::new(team.trim(), share, archetype))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_gaming_parses_and_errors_name_the_part() {
        let t = parse_team_gaming("ml:0.67:agent_spammer").unwrap();
        assert_eq!((t.team.as_str(), t.share), ("ml", 0.67));
        assert_eq!(t.archetype, Archetype::AgentSpammer);
        assert!(parse_team_gaming("ml:0.67")
            .unwrap_err()
            .contains("TEAM:SHARE:ARCHETYPE"));
        assert!(parse_team_gaming("ml:x:agent_spammer")
            .unwrap_err()
            .contains("share"));
        assert!(parse_team_gaming("ml:0.5:spammer")
            .unwrap_err()
            .contains("agent_spammer"));
    }
}
