//! The room's tunable settings: defaults chosen in [`crate::limits`], each
//! overridable by an operator through `[vars]` in `wrangler.toml`.
//!
//! Parsing is pure so it is tested natively; the adapters hand in a lookup
//! function over the Worker's environment.

use crate::flow::Budgets;
use crate::limits;

/// Settings read once per object (or per request in the Worker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Chat messages each room keeps; older ones are pruned.
    pub history_limit: u64,
    /// Longest accepted chat message, in Unicode scalar values.
    pub max_message_chars: usize,
    /// Sustained messages per second one connection may send.
    pub rate_per_sec: u32,
    /// Messages one connection may send in a burst above that rate.
    pub rate_burst: u32,
    /// Open sockets one room accepts.
    pub max_connections: usize,
    /// Seconds a socket may stay silent (no frame, no ping) before the room
    /// closes it.
    pub idle_timeout_secs: u64,
    /// Origins allowed to open sockets, besides the Worker's own origin.
    /// Empty means only the Worker's own origin and localhost.
    pub allowed_origins: Vec<String>,
    /// Flow control's budgets (see [`crate::flow`]), in bytes.
    pub flow: Budgets,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            history_limit: limits::HISTORY_LIMIT,
            max_message_chars: limits::MAX_MESSAGE_CHARS,
            rate_per_sec: limits::RATE_PER_SEC,
            rate_burst: limits::RATE_BURST,
            max_connections: limits::MAX_CONNECTIONS_PER_ROOM,
            idle_timeout_secs: limits::IDLE_TIMEOUT_SECS,
            allowed_origins: Vec::new(),
            flow: Budgets {
                socket: limits::FLOW_SOCKET_BUDGET_KB * 1024,
                room: limits::FLOW_ROOM_BUDGET_KB * 1024,
            },
        }
    }
}

/// The setting `key` read through `var` as a whole number in `range`, or
/// `default` if it is unset, does not parse, or is out of range.
pub(crate) fn number(
    var: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> u64 {
    var(key)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|v| range.contains(v))
        .unwrap_or(default)
}

impl Config {
    /// Reads overrides through `var`. A value that does not parse, or that
    /// is out of its sane range, keeps the default: a typo in `[vars]` must
    /// not take the chat down. [`Config::problems`] reports such values.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Config {
        let d = Config::default();
        let num =
            |key: &str, default: u64, min: u64, max: u64| number(&var, key, default, min..=max);
        Config {
            history_limit: num("HISTORY_LIMIT", d.history_limit, 1, 10_000),
            max_message_chars: num("MAX_MESSAGE_CHARS", d.max_message_chars as u64, 1, 16_000)
                as usize,
            // Up to 100,000: enough for a bot or a bridge relaying a whole
            // other room, and for a load test to measure the room rather
            // than this limit.
            rate_per_sec: num("RATE_PER_SEC", d.rate_per_sec.into(), 1, 100_000) as u32,
            rate_burst: num("RATE_BURST", d.rate_burst.into(), 1, 10_000) as u32,
            max_connections: num(
                "MAX_CONNECTIONS_PER_ROOM",
                d.max_connections as u64,
                1,
                32_000,
            ) as usize,
            idle_timeout_secs: num("IDLE_TIMEOUT_SECS", d.idle_timeout_secs, 5, 86_400),
            allowed_origins: var("ALLOWED_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().trim_end_matches('/').to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            // At least 512 KiB: one batch frame may be 256 KiB, and the page
            // confirms every 64 KiB. At most
            // 96 MiB: three times that is the object's whole memory.
            flow: Budgets {
                socket: num("FLOW_SOCKET_BUDGET_KB", d.flow.socket / 1024, 512, 98_304) * 1024,
                room: num("FLOW_ROOM_BUDGET_KB", d.flow.room / 1024, 512, 98_304) * 1024,
            },
        }
    }
}

/// Settings from a list of pairs, as the runtime's `[vars]` would give
/// them: for the tests of every module that reads settings.
#[cfg(test)]
pub(crate) fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::vars;

    #[test]
    fn no_vars_means_the_documented_defaults() {
        assert_eq!(Config::from_vars(|_| None), Config::default());
        assert_eq!(Config::default().history_limit, 100);
        assert_eq!(Config::default().max_message_chars, 2_000);
    }

    #[test]
    fn valid_overrides_apply() {
        let c = Config::from_vars(vars(&[("HISTORY_LIMIT", "5"), ("RATE_PER_SEC", " 3 ")]));
        assert_eq!(c.history_limit, 5);
        assert_eq!(c.rate_per_sec, 3);
        let c = Config::from_vars(vars(&[("FLOW_SOCKET_BUDGET_KB", "512")]));
        assert_eq!(c.flow.socket, 512 * 1024);
        assert_eq!(c.flow.room, 24 * 1024 * 1024);
    }

    #[test]
    fn unparseable_or_out_of_range_values_keep_the_default() {
        let c = Config::from_vars(vars(&[
            ("HISTORY_LIMIT", "lots"),
            ("RATE_BURST", "0"),
            ("RATE_PER_SEC", "100001"),
            ("FLOW_ROOM_BUDGET_KB", "16"),
        ]));
        assert_eq!(c.flow, Config::default().flow);
        assert_eq!(c.history_limit, 100);
        assert_eq!(c.rate_burst, Config::default().rate_burst);
        assert_eq!(c.rate_per_sec, Config::default().rate_per_sec);
    }

    #[test]
    fn allowed_origins_are_a_trimmed_comma_list() {
        let c = Config::from_vars(vars(&[(
            "ALLOWED_ORIGINS",
            "https://a.example/, https://b.example ,,",
        )]));
        assert_eq!(
            c.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
    }
}
