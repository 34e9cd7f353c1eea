//! How serious a score or an alert is.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::CoreError;

/// How serious a score or an alert is. Ordered: `None < Low < Medium < High < Critical`.
///
/// The detector assigns it to each user's score; the alert store, the sinks
/// and the report use the same value. Serialised as its lowercase name.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Nothing notable (not delivered by default).
    #[default]
    None,
    /// Mildly unusual: worth a look in context.
    Low,
    /// Unusual; likely gaming.
    Medium,
    /// Strong evidence of tokenmaxxing (alerts by default).
    High,
    /// Overwhelming, large-scale evidence.
    Critical,
}

impl Severity {
    /// Every severity, ascending.
    pub const ALL: [Severity; 5] = [
        Severity::None,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The lowercase name used in output columns, JSON, TOML and the state database.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::None => "none",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses [`Severity::as_str`]'s spelling (case-insensitive, surrounding
    /// blanks ignored); `None` for anything else.
    ///
    /// ```
    /// use goodhart_core::Severity;
    /// assert_eq!(Severity::parse(" High"), Some(Severity::High));
    /// assert_eq!(Severity::parse("severe"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Severity> {
        let s = s.trim();
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::parse(s).ok_or_else(|| CoreError::Severity(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for s in Severity::ALL {
            assert_eq!(s.as_str().parse::<Severity>().unwrap(), s);
            let j = serde_json::to_string(&s).unwrap();
            assert_eq!(j, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<Severity>(&j).unwrap(), s);
        }
        let e = "severe".parse::<Severity>().unwrap_err().to_string();
        assert!(e.contains("\"severe\"") && e.contains("critical"), "{e}");
        assert!(Severity::Low < Severity::Critical);
    }
}
