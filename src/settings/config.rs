//! The room's tunable settings: defaults chosen in [`crate::settings::limits`], each
//! overridable by an operator through `[vars]` in `wrangler.toml`.
//!
//! Parsing is pure so it is tested natively; the adapters hand in a lookup
//! function over the Worker's environment.

use crate::settings::auth_mode;
use crate::settings::limits;
use crate::settings::origin;

/// Settings read once per object (or per request in the Worker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Messages a newcomer gets, and the most a `since` catch-up carries.
    pub history_limit: u64,
    /// Days a room keeps a message.
    pub history_retain_days: u64,
    /// Messages a room keeps at most.
    pub history_retain_messages: u64,
    /// Longest accepted chat message, in Unicode scalar values.
    pub max_message_chars: usize,
    /// Sustained messages per second one connection may send.
    pub rate_per_sec: u32,
    /// Messages one connection may send in a burst above that rate.
    pub rate_burst: u32,
    /// Open sockets one room accepts, over its object and its relays.
    pub max_connections: usize,
    /// Sockets the room's own object holds before new ones go to relays.
    pub relay_threshold: usize,
    /// Sockets one relay object holds.
    pub relay_capacity: usize,
    /// Sockets from which join and leave notices are grouped.
    pub group_notices_at: usize,
    /// Open sockets one client may hold in a room.
    pub max_sockets_per_client: usize,
    /// Open sockets one address may hold in a room.
    pub max_sockets_per_address: usize,
    /// Seconds a socket may stay silent (no frame, no ping) before the room
    /// closes it.
    pub idle_timeout_secs: u64,
    /// Origins allowed to open sockets, besides the Worker's own origin.
    /// Empty means only the Worker's own origin and localhost.
    pub allowed_origins: Vec<String>,
    /// Flow control's budgets (see [`crate::send::flow`]), in bytes.
    pub flow: Budgets,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            history_limit: limits::HISTORY_LIMIT,
            history_retain_days: limits::HISTORY_RETAIN_DAYS,
            history_retain_messages: limits::HISTORY_RETAIN_MESSAGES,
            max_message_chars: limits::MAX_MESSAGE_CHARS,
            rate_per_sec: limits::RATE_PER_SEC,
            rate_burst: limits::RATE_BURST,
            max_connections: limits::MAX_CONNECTIONS_PER_ROOM,
            relay_threshold: limits::RELAY_THRESHOLD,
            relay_capacity: limits::RELAY_CAPACITY,
            group_notices_at: limits::GROUP_NOTICES_AT,
            max_sockets_per_client: limits::MAX_SOCKETS_PER_CLIENT,
            max_sockets_per_address: limits::MAX_SOCKETS_PER_ADDRESS,
            idle_timeout_secs: limits::IDLE_TIMEOUT_SECS,
            allowed_origins: Vec::new(),
            flow: Budgets {
                socket: limits::FLOW_SOCKET_BUDGET_KB * 1024,
                room: limits::FLOW_ROOM_BUDGET_KB * 1024,
                plain_read: limits::FLOW_PLAIN_READ_KB_PER_SEC * 1024,
            },
        }
    }
}

/// Flow control's budgets, in bytes (see [`crate::send::flow`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// Unconfirmed bytes a receipt-sending socket may hold.
    pub socket: u64,
    /// Unconfirmed bytes all sockets together may hold before the room
    /// closes some.
    pub room: u64,
    /// Bytes a second a plain socket is presumed to read.
    pub plain_read: u64,
}

impl Budgets {
    /// Where room-wide eviction stops: a quarter under the budget, so the
    /// next eviction is far away.
    pub fn low_water(&self) -> u64 {
        self.room / 4 * 3
    }
}

/// A whole-number setting: its key in `[vars]` and the values it accepts.
/// Reading a value and [`problems`] both go through this, so a range is
/// written once.
pub(crate) struct Number {
    pub key: &'static str,
    pub min: u64,
    pub max: u64,
}

impl Number {
    pub(crate) const fn new(key: &'static str, min: u64, max: u64) -> Number {
        Number { key, min, max }
    }

    /// The value `var` gives, or `default` if it is unset, does not parse,
    /// or is out of range.
    pub(crate) fn read(&self, var: &impl Fn(&str) -> Option<String>, default: u64) -> u64 {
        var(self.key)
            .and_then(|raw| self.accept(&raw))
            .unwrap_or(default)
    }

    fn accept(&self, raw: &str) -> Option<u64> {
        let v = raw.trim().parse::<u64>().ok()?;
        (self.min..=self.max).contains(&v).then_some(v)
    }

    /// Why the value `var` gives is ignored, if it is set and ignored.
    fn problem(&self, var: &impl Fn(&str) -> Option<String>) -> Option<String> {
        let raw = var(self.key)?;
        self.accept(&raw).is_none().then(|| {
            format!(
                "{} = {raw:?} is not a whole number from {} to {}; the default is used",
                self.key, self.min, self.max
            )
        })
    }
}

pub(crate) const HISTORY_LIMIT: Number = Number::new("HISTORY_LIMIT", 1, 10_000);
/// Up to a century: a records policy may say "forever".
pub(crate) const HISTORY_RETAIN_DAYS: Number = Number::new("HISTORY_RETAIN_DAYS", 1, 36_500);
/// At least 100, a screen or two; at most ten million, about 6 GB of the
/// object's 10 GB with the search index.
pub(crate) const HISTORY_RETAIN_MESSAGES: Number =
    Number::new("HISTORY_RETAIN_MESSAGES", 100, 10_000_000);
pub(crate) const MAX_MESSAGE_CHARS: Number = Number::new("MAX_MESSAGE_CHARS", 1, 16_000);
/// Up to 100,000: enough for a bot or a bridge relaying a whole other
/// room, and for a load test to measure the room rather than this limit.
pub(crate) const RATE_PER_SEC: Number = Number::new("RATE_PER_SEC", 1, 100_000);
pub(crate) const RATE_BURST: Number = Number::new("RATE_BURST", 1, 10_000);
/// Up to a million: past [`RELAY_THRESHOLD`] sockets live on relays.
pub(crate) const MAX_CONNECTIONS: Number = Number::new("MAX_CONNECTIONS_PER_ROOM", 1, 1_000_000);
/// 0 puts every socket on a relay (the tests' forced sharding).
pub(crate) const RELAY_THRESHOLD: Number = Number::new("RELAY_THRESHOLD", 0, 32_000);
/// At most the runtime's cap on one object's sockets.
pub(crate) const RELAY_CAPACITY: Number = Number::new("RELAY_CAPACITY", 1, 32_000);
pub(crate) const GROUP_NOTICES_AT: Number = Number::new("GROUP_NOTICES_AT", 2, 1_000_000);
/// At most 16: more tabs than that is not a person.
pub(crate) const MAX_SOCKETS_PER_CLIENT: Number = Number::new("MAX_SOCKETS_PER_CLIENT", 1, 16);
/// Up to a whole room, for a load test from one machine.
pub(crate) const MAX_SOCKETS_PER_ADDRESS: Number =
    Number::new("MAX_SOCKETS_PER_ADDRESS", 1, 1_000_000);
pub(crate) const IDLE_TIMEOUT_SECS: Number = Number::new("IDLE_TIMEOUT_SECS", 5, 86_400);
/// At least 512 KiB: one batch frame may be 256 KiB, and the page confirms
/// every 64 KiB. At most 96 MiB: three times that is the object's whole
/// memory.
pub(crate) const FLOW_SOCKET_BUDGET_KB: Number = Number::new("FLOW_SOCKET_BUDGET_KB", 512, 98_304);
pub(crate) const FLOW_ROOM_BUDGET_KB: Number = Number::new("FLOW_ROOM_BUDGET_KB", 512, 98_304);
/// At least 1 KiB a second; at most 100 MiB a second, which presumes every
/// plain socket reads everything (the room then never closes one).
pub(crate) const FLOW_PLAIN_READ: Number = Number::new("FLOW_PLAIN_READ_KB_PER_SEC", 1, 102_400);

/// `WEBHOOK_RETRY_BASE_MS`: down to 1 ms so tests retry in moments.
pub(crate) const WEBHOOK_RETRY_BASE_MS: Number = Number::new("WEBHOOK_RETRY_BASE_MS", 1, 3_600_000);
pub(crate) const WEBHOOK_MAX_ATTEMPTS: Number = Number::new("WEBHOOK_MAX_ATTEMPTS", 1, 100);
pub(crate) const WEBHOOK_OUTBOX_CAP: Number = Number::new("WEBHOOK_OUTBOX_CAP", 1, 1_000_000);

/// Every whole-number setting, the webhooks' included.
const NUMBERS: [&Number; 19] = [
    &HISTORY_LIMIT,
    &HISTORY_RETAIN_DAYS,
    &HISTORY_RETAIN_MESSAGES,
    &MAX_MESSAGE_CHARS,
    &RATE_PER_SEC,
    &RATE_BURST,
    &MAX_CONNECTIONS,
    &RELAY_THRESHOLD,
    &RELAY_CAPACITY,
    &GROUP_NOTICES_AT,
    &MAX_SOCKETS_PER_CLIENT,
    &MAX_SOCKETS_PER_ADDRESS,
    &IDLE_TIMEOUT_SECS,
    &FLOW_SOCKET_BUDGET_KB,
    &FLOW_ROOM_BUDGET_KB,
    &FLOW_PLAIN_READ,
    &WEBHOOK_RETRY_BASE_MS,
    &WEBHOOK_MAX_ATTEMPTS,
    &WEBHOOK_OUTBOX_CAP,
];

/// What in `[vars]` the room ignores, one readable sentence each: a number
/// that does not parse or is out of range, and an `ALLOWED_ORIGINS` entry
/// that cannot match any origin. The room keeps serving with defaults, so
/// without this a typo would go unnoticed; the room logs these as it starts.
/// First, if `AUTH_MODE` and `AUTH_SECRET` let no one in, why.
pub fn problems(var: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let auth = auth_mode::problem(&var).map(|problem| {
        format!(
            "{}; until then every socket and API call is refused",
            problem.describe()
        )
    });
    let numbers = NUMBERS.iter().filter_map(|n| n.problem(&var));
    let mut found: Vec<String> = auth.into_iter().chain(numbers).collect();
    // Numbered too: a log line withholds an entry that looks like a URL
    // (it may be any URL, a webhook's with its key), and still says which.
    for (i, origin) in allowed_origins(&var).iter().enumerate() {
        if !origin::can_match(origin) {
            found.push(format!(
                "ALLOWED_ORIGINS entry {origin:?} (number {}) is not a lowercase origin \
                 (a scheme and a host, with no path), so it matches nothing",
                i + 1
            ));
        }
    }
    found
}

/// `ALLOWED_ORIGINS` split at commas, each without a trailing slash.
fn allowed_origins(var: &impl Fn(&str) -> Option<String>) -> Vec<String> {
    var("ALLOWED_ORIGINS")
        .map(|v| {
            v.split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

impl Config {
    /// Reads overrides through `var`. A value that does not parse, or that
    /// is out of its sane range, keeps the default: a typo in `[vars]` must
    /// not take the chat down. [`problems`] reports such values.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Config {
        let d = Config::default();
        Config {
            history_limit: HISTORY_LIMIT.read(&var, d.history_limit),
            history_retain_days: HISTORY_RETAIN_DAYS.read(&var, d.history_retain_days),
            history_retain_messages: HISTORY_RETAIN_MESSAGES.read(&var, d.history_retain_messages),
            max_message_chars: MAX_MESSAGE_CHARS.read(&var, d.max_message_chars as u64) as usize,
            rate_per_sec: RATE_PER_SEC.read(&var, d.rate_per_sec.into()) as u32,
            rate_burst: RATE_BURST.read(&var, d.rate_burst.into()) as u32,
            max_connections: MAX_CONNECTIONS.read(&var, d.max_connections as u64) as usize,
            relay_threshold: RELAY_THRESHOLD.read(&var, d.relay_threshold as u64) as usize,
            relay_capacity: RELAY_CAPACITY.read(&var, d.relay_capacity as u64) as usize,
            group_notices_at: GROUP_NOTICES_AT.read(&var, d.group_notices_at as u64) as usize,
            max_sockets_per_client: MAX_SOCKETS_PER_CLIENT
                .read(&var, d.max_sockets_per_client as u64)
                as usize,
            max_sockets_per_address: MAX_SOCKETS_PER_ADDRESS
                .read(&var, d.max_sockets_per_address as u64)
                as usize,
            idle_timeout_secs: IDLE_TIMEOUT_SECS.read(&var, d.idle_timeout_secs),
            allowed_origins: allowed_origins(&var),
            flow: Budgets {
                socket: FLOW_SOCKET_BUDGET_KB.read(&var, d.flow.socket / 1024) * 1024,
                room: FLOW_ROOM_BUDGET_KB.read(&var, d.flow.room / 1024) * 1024,
                plain_read: FLOW_PLAIN_READ.read(&var, d.flow.plain_read / 1024) * 1024,
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
        let c = Config::from_vars(vars(&[
            ("MAX_SOCKETS_PER_CLIENT", "16"),
            ("MAX_SOCKETS_PER_ADDRESS", "5000"),
        ]));
        assert_eq!(
            (c.max_sockets_per_client, c.max_sockets_per_address),
            (16, 5000)
        );
        let c = Config::from_vars(vars(&[("MAX_SOCKETS_PER_CLIENT", "17")]));
        assert_eq!(c.max_sockets_per_client, 8, "at most 16");
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

    #[test]
    fn ignored_values_are_reported_by_name_and_valid_ones_are_not() {
        let found = problems(vars(&[
            ("AUTH_MODE", "open"),
            ("HISTORY_LIMIT", "lots"),
            ("RATE_PER_SEC", "100001"),
            ("WEBHOOK_MAX_ATTEMPTS", "0"),
            ("RATE_BURST", " 30 "),
            ("IDLE_TIMEOUT_SECS", "5"),
        ]));
        assert_eq!(found.len(), 3, "{found:?}");
        let lots = "HISTORY_LIMIT = \"lots\" is not a whole number from 1 to 10000";
        assert!(found[0].starts_with(lots), "{found:?}");
        assert!(
            found[1].starts_with("RATE_PER_SEC = \"100001\""),
            "{found:?}"
        );
        assert!(
            found[2].starts_with("WEBHOOK_MAX_ATTEMPTS = \"0\""),
            "{found:?}"
        );
        assert!(problems(vars(&[("AUTH_MODE", "open")])).is_empty());
    }

    #[test]
    fn settings_that_let_no_one_in_are_reported_first() {
        let found = problems(vars(&[("HISTORY_LIMIT", "lots")]));
        assert_eq!(found.len(), 2, "{found:?}");
        let not_configured = auth_mode::Problem::NotConfigured.describe();
        assert!(found[0].starts_with(not_configured), "{found:?}");
        assert!(found[0].ends_with("every socket and API call is refused"));
        let short = problems(vars(&[("AUTH_SECRET", "s3cret")]));
        assert!(
            short[0].starts_with(auth_mode::Problem::SecretTooShort.describe()),
            "{short:?}"
        );
        assert!(!short[0].contains("s3cret"), "the secret is never logged");
        let token = "0123456789abcdef0123456789abcdef";
        assert!(problems(vars(&[("AUTH_SECRET", token)])).is_empty());
    }

    #[test]
    fn origins_that_cannot_match_are_reported() {
        let listed = "chat.example.com, https://ok.example/, https://x.example/app, \
                      https://Caps.example, http://localhost:8787, https://";
        let found = problems(vars(&[("AUTH_MODE", "open"), ("ALLOWED_ORIGINS", listed)]));
        let named: Vec<&str> = found.iter().map(|p| p.split('"').nth(1).unwrap()).collect();
        assert_eq!(
            named,
            [
                "chat.example.com",
                "https://x.example/app",
                "https://Caps.example",
                "https:"
            ]
        );
    }

    /// The settings tables in docs/operations.md are what operators read: every whole-number
    /// setting there must be one the room checks, with the same range.
    #[test]
    fn the_readme_states_every_number_setting_with_its_range() {
        let mut documented = Vec::new();
        for row in include_str!("../../docs/operations.md").lines() {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let (Some(key), Some(range)) = (cells.get(1), cells.get(3)) else {
                continue;
            };
            let num = |v: &str| v.replace(',', "").parse::<u64>().ok();
            if let Some((Some(min), Some(max))) =
                range.split_once('–').map(|(a, b)| (num(a), num(b)))
            {
                documented.push((key.trim_matches('`').to_owned(), min, max));
            }
        }
        let mut checked: Vec<(String, u64, u64)> = NUMBERS
            .iter()
            .map(|n| (n.key.to_owned(), n.min, n.max))
            .collect();
        documented.sort();
        checked.sort();
        assert_eq!(documented, checked);
    }
}
