//! The price table: USD per million tokens per model and bucket.

use serde::{Deserialize, Serialize};

use crate::WasteError;

/// Date the default prices were taken from the vendors' public list-price
/// pages (Anthropic: platform.claude.com/docs/en/about-claude/pricing;
/// OpenAI: platform.openai.com/docs/pricing). Standard (non-batch) rates,
/// 5-minute cache writes.
pub const DEFAULT_PRICES_DATE: &str = "2026-11-30";

/// One row of the price table: a glob on model names and its prices in USD
/// per million tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceRule {
    /// Case-insensitive glob on the model name: `*` any run of characters,
    /// `?` one character, e.g. `claude-sonnet-4*`.
    pub model: String,
    /// Uncached input tokens.
    pub input: f64,
    /// Output tokens (reasoning included).
    pub output: f64,
    /// Cache-read tokens.
    pub cache_read: f64,
    /// Cache-write tokens.
    pub cache_write: f64,
}

impl PriceRule {
    fn new(model: &str, input: f64, output: f64, cache_read: f64, cache_write: f64) -> Self {
        PriceRule {
            model: model.into(),
            input,
            output,
            cache_read,
            cache_write,
        }
    }

    /// USD of the given bucket tokens at this rule's prices.
    pub fn usd(&self, input: u64, output: u64, cache_read: u64, cache_write: u64) -> f64 {
        (input as f64 * self.input
            + output as f64 * self.output
            + cache_read as f64 * self.cache_read
            + cache_write as f64 * self.cache_write)
            / 1e6
    }
}

/// `[prices]` of `goodhart.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PricesSection {
    /// Rules tried before the shipped defaults (first match wins).
    pub models: Vec<PriceRule>,
    /// Use the shipped defaults after `models` (default true).
    pub defaults: bool,
}

impl Default for PricesSection {
    fn default() -> Self {
        PricesSection {
            models: Vec::new(),
            defaults: true,
        }
    }
}

/// Models × buckets prices; the first rule whose glob matches a model wins.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceTable {
    /// Rules in match order (overrides first).
    pub rules: Vec<PriceRule>,
    /// Date of the shipped defaults ([`DEFAULT_PRICES_DATE`]), `None` when
    /// the defaults are off.
    pub defaults_date: Option<String>,
}

impl Default for PriceTable {
    fn default() -> Self {
        PriceTable::defaults()
    }
}

impl PriceTable {
    /// The shipped defaults: public list prices as of [`DEFAULT_PRICES_DATE`].
    /// OpenAI bills no cache writes (they cost as uncached input); o3-pro has
    /// no cached-input discount.
    pub fn defaults() -> PriceTable {
        let r = PriceRule::new;
        PriceTable {
            rules: vec![
                // Anthropic (5-minute cache writes = 1.25 × input, reads = 0.1 × input).
                r("claude-opus-4-1*", 15.0, 75.0, 1.50, 18.75),
                r("claude-opus-4-0*", 15.0, 75.0, 1.50, 18.75),
                r("claude-opus-4-2025*", 15.0, 75.0, 1.50, 18.75),
                r("claude-opus-4*", 5.0, 25.0, 0.50, 6.25),
                r("claude-opus-5*", 5.0, 25.0, 0.50, 6.25),
                r("claude-sonnet-5*", 2.0, 10.0, 0.20, 2.50),
                r("claude-sonnet-4*", 3.0, 15.0, 0.30, 3.75),
                r("claude-3-7-sonnet*", 3.0, 15.0, 0.30, 3.75),
                r("claude-haiku-4*", 1.0, 5.0, 0.10, 1.25),
                r("claude-3-5-haiku*", 0.80, 4.0, 0.08, 1.0),
                // OpenAI.
                r("gpt-5-mini*", 0.25, 2.0, 0.025, 0.25),
                r("gpt-5-nano*", 0.05, 0.40, 0.005, 0.05),
                r("gpt-5*", 1.25, 10.0, 0.125, 1.25),
                r("gpt-4.1-mini*", 0.40, 1.60, 0.10, 0.40),
                r("gpt-4.1*", 2.0, 8.0, 0.50, 2.0),
                r("gpt-4o-mini*", 0.15, 0.60, 0.075, 0.15),
                r("gpt-4o*", 2.50, 10.0, 1.25, 2.50),
                r("o3-pro*", 20.0, 80.0, 20.0, 20.0),
                r("o3-mini*", 1.10, 4.40, 0.55, 1.10),
                r("o3*", 2.0, 8.0, 0.50, 2.0),
                r("o4-mini*", 1.10, 4.40, 0.275, 1.10),
            ],
            defaults_date: Some(DEFAULT_PRICES_DATE.to_string()),
        }
    }

    /// The table of a `[prices]` section: its rules, then (unless
    /// `defaults = false`) the shipped defaults. Every price must be finite
    /// and >= 0, every glob non-empty.
    pub fn from_section(s: &PricesSection) -> Result<PriceTable, WasteError> {
        for (i, r) in s.models.iter().enumerate() {
            if r.model.trim().is_empty() {
                return Err(WasteError::Price {
                    setting: format!("prices.models[{i}].model"),
                    reason: "empty glob; give a model name pattern such as \"claude-sonnet-4*\""
                        .into(),
                });
            }
            for (name, v) in [
                ("input", r.input),
                ("output", r.output),
                ("cache_read", r.cache_read),
                ("cache_write", r.cache_write),
            ] {
                if !v.is_finite() || v < 0.0 {
                    return Err(WasteError::Price {
                        setting: format!("prices.models[{i}].{name}"),
                        reason: format!(
                            "{v} is not a price; give USD per million tokens, a finite number >= 0"
                        ),
                    });
                }
            }
        }
        let mut rules = s.models.clone();
        let mut defaults_date = None;
        if s.defaults {
            let d = PriceTable::defaults();
            rules.extend(d.rules);
            defaults_date = d.defaults_date;
        }
        Ok(PriceTable {
            rules,
            defaults_date,
        })
    }

    /// The rule pricing `model`, if any.
    ///
    /// ```
    /// use goodhart_waste::PriceTable;
    /// let t = PriceTable::defaults();
    /// assert_eq!(t.lookup("claude-sonnet-4-5").unwrap().output, 15.0);
    /// assert_eq!(t.lookup("GPT-5-mini").unwrap().input, 0.25);
    /// assert!(t.lookup("acme-llm-7").is_none());
    /// ```
    pub fn lookup(&self, model: &str) -> Option<&PriceRule> {
        let m = model.to_ascii_lowercase();
        self.rules
            .iter()
            .find(|r| glob_match(&r.model.to_ascii_lowercase(), &m))
    }
}

/// `*` / `?` glob match. Hand-written (about twenty lines, no escaping or
/// character classes needed for model names) rather than a new dependency:
/// iterative with one backtrack point, linear in practice.
pub(crate) fn glob_match(pattern: &str, s: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = s.chars().collect();
    let (mut i, mut j) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    while i < p.len() && p[i] == '*' {
        i += 1;
    }
    i == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("claude-*", "claude-sonnet-4-5"));
        assert!(glob_match("*sonnet*", "claude-sonnet-4-5"));
        assert!(glob_match("gpt-5?mini", "gpt-5-mini"));
        assert!(!glob_match("gpt-5", "gpt-5-mini"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a*b", "acd"));
    }

    #[test]
    fn overrides_come_first_and_bad_prices_name_the_setting() {
        let s = PricesSection {
            models: vec![PriceRule::new("claude-sonnet-*", 1.0, 2.0, 0.1, 1.5)],
            defaults: true,
        };
        let t = PriceTable::from_section(&s).unwrap();
        assert_eq!(t.lookup("claude-sonnet-4-5").unwrap().output, 2.0);
        assert_eq!(t.lookup("claude-haiku-4-5").unwrap().output, 5.0);
        let bad = PricesSection {
            models: vec![PriceRule::new("x", 1.0, -2.0, 0.1, 1.5)],
            defaults: false,
        };
        let e = PriceTable::from_section(&bad).unwrap_err().to_string();
        assert!(e.contains("prices.models[0].output"), "{e}");
        let none = PriceTable::from_section(&PricesSection {
            models: vec![],
            defaults: false,
        })
        .unwrap();
        assert!(none.lookup("claude-sonnet-4-5").is_none());
    }
}
