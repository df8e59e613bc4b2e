//! Mints a sign-in token for token mode, for operators and local use:
//!
//! ```sh
//! cargo run --bin mint-token -- alice --name Alice --rooms lobby,team --role moderator --ttl 1h
//! ```
//!
//! Prints the token, then a page link that carries it in the URL fragment
//! (`#token=`), which browsers never send to a server. The secret is
//! `AUTH_SECRET` from the environment, else from `.dev.vars` (what
//! `wrangler dev` reads). Signing is the library's own, the same code the
//! tests use, so a token minted here is one the Worker accepts.

// A native tool: on wasm32 (the Worker's target) there is nothing to build.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

use std::time::{SystemTime, UNIX_EPOCH};

use edge_chat::access::auth::{sign, Claims, Role, Secret, ANY_ROOM};
use edge_chat::settings::auth_mode::{self, Problem};
use edge_chat::settings::limits::DEFAULT_ROOM;
use edge_chat::wire::validate;

const USAGE: &str = "usage: mint-token <client-id> [--name NAME] [--rooms a,b|*] \
    [--role member|moderator|service] [--ttl 90s|30m|1h|7d] [--url http://127.0.0.1:8787]";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
struct Request {
    claims_without_exp: Claims,
    ttl_secs: u64,
    base_url: String,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let request = parse_args(&args).unwrap_or_else(|why| fail(&why));
    let secret = usable(find_secret().as_deref()).unwrap_or_else(|why| fail(&why));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let claims = Claims {
        exp: now + request.ttl_secs,
        ..request.claims_without_exp.clone()
    };
    let token = sign(&claims, &secret);
    println!("{token}");
    println!("{}", page_link(&request.base_url, &claims.rooms, &token));
}

fn fail(why: &str) -> ! {
    eprintln!("mint-token: {why}\n{USAGE}");
    std::process::exit(2);
}

fn parse_args(args: &[String]) -> Result<Request, String> {
    let mut args = args.iter();
    let sub = args.next().ok_or("a client id is required")?;
    validate::client_id(sub).map_err(|why| why.0)?;
    let mut claims = Claims {
        sub: sub.clone(),
        name: None,
        rooms: vec![DEFAULT_ROOM.to_owned()],
        role: Role::Member,
        exp: 0,
        nbf: None,
    };
    let (mut ttl_secs, mut base_url) = (3600, "http://127.0.0.1:8787".to_owned());
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--name" => claims.name = Some(validate::display_name(value).map_err(|why| why.0)?),
            "--rooms" => claims.rooms = rooms(value)?,
            "--role" => claims.role = role(value)?,
            "--ttl" => ttl_secs = ttl(value)?,
            "--url" => base_url = value.trim_end_matches('/').to_owned(),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Request {
        claims_without_exp: claims,
        ttl_secs,
        base_url,
    })
}

fn rooms(list: &str) -> Result<Vec<String>, String> {
    list.split(',')
        .map(str::trim)
        .map(|room| match room {
            ANY_ROOM => Ok(room.to_owned()),
            _ => validate::room_name(room)
                .map(str::to_owned)
                .map_err(|why| why.0),
        })
        .collect()
}

fn role(name: &str) -> Result<Role, String> {
    match name {
        "member" => Ok(Role::Member),
        "moderator" => Ok(Role::Moderator),
        "service" => Ok(Role::Service),
        _ => Err(format!(
            "role must be member, moderator or service, not {name:?}"
        )),
    }
}

/// `90`, `90s`, `30m`, `1h` or `7d`, in seconds.
fn ttl(text: &str) -> Result<u64, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("ttl {text:?}: use a number with s, m, h or d")),
    };
    number
        .parse::<u64>()
        .ok()
        .filter(|&n| n > 0)
        .and_then(|n| n.checked_mul(scale))
        .ok_or(format!(
            "ttl {text:?}: use a positive number with s, m, h or d"
        ))
}

/// `AUTH_SECRET` from the environment, else from `.dev.vars` here or at
/// the crate's root.
fn find_secret() -> Option<String> {
    if let Some(secret) = std::env::var("AUTH_SECRET").ok().filter(|v| !v.is_empty()) {
        return Some(secret);
    }
    [
        ".dev.vars".into(),
        format!("{}/.dev.vars", env!("CARGO_MANIFEST_DIR")),
    ]
    .iter()
    .filter_map(|path| std::fs::read_to_string(path).ok())
    .find_map(|text| dev_var(&text, "AUTH_SECRET"))
    .filter(|v| !v.is_empty())
}

/// The secret to sign with, refused as the Worker refuses it: a token
/// signed with a secret too short to use is one no Worker accepts, and the
/// secret is guessable from it.
fn usable(value: Option<&str>) -> Result<Secret, String> {
    let value = value
        .ok_or("no AUTH_SECRET: set it in the environment or in .dev.vars (AUTH_SECRET=...)")?;
    auth_mode::long_enough(value)
        .ok()
        .and_then(Secret::new)
        .ok_or_else(|| format!("not signing: {}", Problem::SecretTooShort.describe()))
}

/// `key`'s value in a `.dev.vars` file (dotenv syntax: `KEY=value`, the
/// value optionally in double or single quotes).
fn dev_var(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.trim().split_once('=')?;
        (k.trim() == key).then(|| {
            let v = v.trim();
            let unquoted = ['"', '\'']
                .iter()
                .find_map(|q| v.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)));
            unquoted.unwrap_or(v).to_owned()
        })
    })
}

/// The page of the first named room, with the token in the fragment.
fn page_link(base_url: &str, rooms: &[String], token: &str) -> String {
    let room = rooms
        .iter()
        .find(|r| *r != ANY_ROOM)
        .map_or(DEFAULT_ROOM, String::as_str);
    format!("{base_url}/r/{room}#token={token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_documented_command_line_parses() {
        let r = parse_args(&args(
            "alice --name Alice --rooms lobby,team --role moderator --ttl 1h",
        ))
        .unwrap();
        let c = &r.claims_without_exp;
        assert_eq!(
            (c.sub.as_str(), c.name.as_deref()),
            ("alice", Some("Alice"))
        );
        assert_eq!(c.rooms, ["lobby", "team"]);
        assert_eq!((c.role, r.ttl_secs), (Role::Moderator, 3600));
        assert_eq!(r.base_url, "http://127.0.0.1:8787");
    }

    #[test]
    fn defaults_are_a_member_of_the_lobby_for_an_hour() {
        let r = parse_args(&args("bob")).unwrap();
        assert_eq!(r.claims_without_exp.rooms, ["lobby"]);
        assert_eq!(
            (r.claims_without_exp.role, r.ttl_secs),
            (Role::Member, 3600)
        );
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        for line in [
            "",
            "a.b",
            "bob --rooms Team",
            "bob --role admin",
            "bob --ttl 0",
            "bob --ttl 5w",
            "bob --ttl",
            "bob --color red",
            "server",
            "API --role service",
        ] {
            assert!(parse_args(&args(line)).is_err(), "{line:?}");
        }
    }

    #[test]
    fn ttls_take_units() {
        assert_eq!(ttl("90"), Ok(90));
        assert_eq!(ttl("30m"), Ok(1800));
        assert_eq!(ttl("7d"), Ok(604_800));
    }

    #[test]
    fn dev_vars_values_may_be_quoted() {
        let text = "# local\nOTHER=x\nAUTH_SECRET = \"s3cret\"\n";
        assert_eq!(dev_var(text, "AUTH_SECRET").as_deref(), Some("s3cret"));
        assert_eq!(
            dev_var("AUTH_SECRET='q'", "AUTH_SECRET").as_deref(),
            Some("q")
        );
        assert_eq!(dev_var("OTHER=x", "AUTH_SECRET"), None);
    }

    #[test]
    fn a_secret_the_worker_would_refuse_is_not_signed_with() {
        let at_least = edge_chat::settings::limits::MIN_AUTH_SECRET_BYTES;
        for short in ["Zq7", &"Zq7".repeat(at_least / 3)] {
            let why = usable(Some(short)).unwrap_err();
            assert!(why.contains("shorter than 32 bytes"), "{why}");
            assert!(!why.contains(short), "the secret is never printed: {why}");
        }
        assert!(usable(None).unwrap_err().contains("no AUTH_SECRET"));
        let long = "x".repeat(at_least);
        assert_eq!(usable(Some(&long)), Ok(Secret::new(&long).unwrap()));
    }

    #[test]
    fn the_link_opens_the_first_named_room_with_the_token_in_the_fragment() {
        let rooms = vec!["*".to_owned(), "team".to_owned()];
        assert_eq!(
            page_link("http://h", &rooms, "t.o.k"),
            "http://h/r/team#token=t.o.k"
        );
        assert_eq!(
            page_link("http://h", &["*".into()], "t"),
            "http://h/r/lobby#token=t"
        );
    }

    #[test]
    fn a_minted_token_verifies() {
        let secret = Secret::new("s").unwrap();
        let r = parse_args(&args("alice --rooms team")).unwrap();
        let claims = Claims {
            exp: 4_102_444_800,
            ..r.claims_without_exp
        };
        let verified =
            edge_chat::access::auth::verify(&sign(&claims, &secret), &secret, 1_700_000_000);
        assert_eq!(verified, Ok(claims));
    }
}
