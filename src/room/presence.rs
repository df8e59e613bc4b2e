//! Who is online: one entry per client id, however many tabs it has open.
//!
//! Built from the sessions of the sockets the runtime still holds, never
//! from a list in memory, so it is right after hibernation too.

use std::collections::HashSet;

use crate::room::session::Session;
use crate::settings::limits::PRESENCE_LIST_MAX;
use crate::wire::protocol::{Line, Member, PresenceLine, ServerFrame};

/// The room's members, sorted by client id: the runtime lists sockets in no
/// meaningful order, and a stable order keeps member lists from jumping.
pub fn members<'a>(sessions: impl IntoIterator<Item = &'a Session>) -> Vec<Member> {
    let mut seen = HashSet::new();
    let mut members: Vec<Member> = sessions
        .into_iter()
        .filter(|s| seen.insert(s.client_id.as_str()))
        .map(|s| Member {
            client_id: s.client_id.clone(),
            name: s.name.clone(),
        })
        .collect();
    members.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    members
}

/// The `presence` frame a newcomer gets: the exact count of people, the
/// first [`PRESENCE_LIST_MAX`] of them by client id, and how many `relays`
/// hold the room's sockets.
pub fn frame<'a>(
    sessions: impl IntoIterator<Item = &'a Session>,
    relays: usize,
    now: u64,
) -> ServerFrame {
    let mut members = members(sessions);
    let count = members.len();
    members.truncate(PRESENCE_LIST_MAX);
    ServerFrame::Presence(PresenceLine {
        line: Line::server(&format!("{count} online"), now),
        members,
        count,
        relays,
    })
}

/// Whether `client_id` has a socket among `sessions`.
pub fn is_online<'a>(client_id: &str, sessions: impl IntoIterator<Item = &'a Session>) -> bool {
    sessions.into_iter().any(|s| s.client_id == client_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(id: &str, name: Option<&str>) -> Session {
        Session::of(id, name)
    }

    #[test]
    fn each_client_counts_once_across_tabs() {
        let sessions = [s("b", None), s("a", Some("Ann")), s("a", Some("Ann"))];
        let m = members(&sessions);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].client_id, "a");
        assert_eq!(m[0].name.as_deref(), Some("Ann"));
        assert_eq!(m[1].client_id, "b");
    }

    #[test]
    fn a_huge_room_lists_some_and_counts_all() {
        let sessions: Vec<Session> = (0..PRESENCE_LIST_MAX + 7)
            .map(|i| s(&format!("m{i:05}"), None))
            .collect();
        let ServerFrame::Presence(p) = frame(&sessions, 4, 0) else {
            panic!("a presence frame");
        };
        assert_eq!(
            (p.count, p.members.len(), p.relays),
            (PRESENCE_LIST_MAX + 7, PRESENCE_LIST_MAX, 4)
        );
        assert_eq!(p.members[0].client_id, "m00000");
    }

    #[test]
    fn online_means_at_least_one_socket() {
        let sessions = [s("a", None)];
        assert!(is_online("a", &sessions));
        assert!(!is_online("b", &sessions));
    }
}
