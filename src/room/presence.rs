//! Who is online: one entry per client id, however many tabs it has open.
//!
//! Built from the sessions of the sockets the runtime still holds, never
//! from a list in memory, so it is right after hibernation too.

use std::collections::HashSet;

use crate::room::session::Session;
use crate::room::{Audience, Delivery};
use crate::settings::limits::PRESENCE_LIST_MAX;
use crate::wire::protocol::{CrowdLine, Line, Member, PresenceLine, ServerFrame};

/// The room's members, sorted by client id: the runtime lists sockets in no
/// meaningful order, and a stable order keeps member lists from jumping.
pub fn members<'a>(sessions: impl IntoIterator<Item = &'a Session>) -> Vec<Member> {
    let mut seen = HashSet::new();
    let mut members: Vec<Member> = sessions
        .into_iter()
        .filter(|s| seen.insert(s.client_id.as_str()))
        .map(member)
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
    let mut seen = HashSet::new();
    let mut people: Vec<&Session> = (sessions.into_iter())
        .filter(|s| seen.insert(s.client_id.as_str()))
        .collect();
    let count = people.len();
    // The first by client id, found without sorting (or copying) everyone:
    // a big room has a newcomer every moment.
    let by_id = |a: &&Session, b: &&Session| a.client_id.cmp(&b.client_id);
    if people.len() > PRESENCE_LIST_MAX {
        people.select_nth_unstable_by(PRESENCE_LIST_MAX, by_id);
        people.truncate(PRESENCE_LIST_MAX);
    }
    people.sort_unstable_by(by_id);
    let members = people.into_iter().map(member).collect();
    ServerFrame::Presence(PresenceLine {
        line: Line::server(&format!("{count} online"), now),
        members,
        count,
        relays,
    })
}

fn member(s: &Session) -> Member {
    Member {
        client_id: s.client_id.clone(),
        name: s.name.clone(),
    }
}

/// How many people `sessions` are: one per client id.
pub fn count<'a>(sessions: impl IntoIterator<Item = &'a Session>) -> usize {
    let mut seen = HashSet::new();
    sessions
        .into_iter()
        .filter(|s| seen.insert(s.client_id.as_str()))
        .count()
}

/// A crowded room's join and leave notices, counted instead of sent, and
/// sent as one `crowd` frame when its timer comes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Crowd {
    joined: u32,
    left: u32,
}

impl Crowd {
    /// In a room of `sockets` sockets, at least `group_at`: takes the join
    /// and leave broadcasts out of `deliveries` and counts them. A
    /// newcomer still gets its own `join`. True if these are the first
    /// counted since the last notice: the caller arms its timer.
    pub fn absorb(
        &mut self,
        deliveries: &mut Vec<Delivery>,
        sockets: usize,
        group_at: usize,
    ) -> bool {
        if sockets < group_at {
            return false;
        }
        let was_quiet = self.joined + self.left == 0;
        deliveries.retain_mut(|d| match (&d.to, &d.frame) {
            (Audience::Everyone, ServerFrame::Join(_)) => {
                self.joined += 1;
                d.to = Audience::Sender;
                true
            }
            (Audience::Others, ServerFrame::Leave(_)) => {
                self.left += 1;
                false
            }
            _ => true,
        });
        was_quiet && self.joined + self.left > 0
    }

    /// The notice for what was counted, with `count` people and `relays`
    /// now; `None` if nothing was.
    pub fn notice(&mut self, count: usize, relays: usize, now: u64) -> Option<Delivery> {
        let (joined, left) = (
            std::mem::take(&mut self.joined),
            std::mem::take(&mut self.left),
        );
        if joined + left == 0 {
            return None;
        }
        let text = match (joined, left) {
            (j, 0) => format!("+{j} joined"),
            (0, l) => format!("{l} left"),
            (j, l) => format!("+{j} joined, {l} left"),
        };
        let line = Line::server(&text, now);
        let crowd = CrowdLine {
            line,
            joined,
            left,
            count,
            relays,
        };
        Some(Delivery::new(Audience::Everyone, ServerFrame::Crowd(crowd)))
    }
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
        // Listed newest first, as no order is promised.
        let sessions: Vec<Session> = (0..PRESENCE_LIST_MAX + 7)
            .rev()
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
        let last = &p.members[PRESENCE_LIST_MAX - 1].client_id;
        assert_eq!(last, &format!("m{:05}", PRESENCE_LIST_MAX - 1));
    }

    #[test]
    fn a_crowded_room_counts_comings_and_goings_into_one_notice() {
        let join = |to| Delivery::new(to, ServerFrame::Join(Line::new("a", "Online", 0)));
        let leave = Delivery::new(
            Audience::Others,
            ServerFrame::Leave(Line::new("b", "Offline", 0)),
        );
        let mut crowd = Crowd::default();
        let mut small = vec![join(Audience::Everyone)];
        assert!(
            !crowd.absorb(&mut small, 999, 1000),
            "below the mark nothing changes"
        );
        assert_eq!(small[0].to, Audience::Everyone);
        let mut first = vec![join(Audience::Everyone)];
        assert!(
            crowd.absorb(&mut first, 1000, 1000),
            "the first arms the timer"
        );
        assert_eq!(
            first[0].to,
            Audience::Sender,
            "the newcomer still hears its own"
        );
        let mut more = vec![join(Audience::Everyone), leave.clone(), leave];
        assert!(
            !crowd.absorb(&mut more, 1000, 1000),
            "the timer is already armed"
        );
        assert_eq!(more.len(), 1, "leaves are counted, not sent");
        let Some(Delivery {
            to: Audience::Everyone,
            frame: ServerFrame::Crowd(c),
        }) = crowd.notice(1001, 2, 5)
        else {
            panic!("a crowd notice");
        };
        assert_eq!((c.joined, c.left, c.count, c.relays), (2, 2, 1001, 2));
        assert_eq!(c.line.message, "+2 joined, 2 left");
        assert_eq!(crowd.notice(1001, 2, 6), None, "counted once");
    }

    #[test]
    fn online_means_at_least_one_socket() {
        let sessions = [s("a", None)];
        assert!(is_online("a", &sessions));
        assert!(!is_online("b", &sessions));
    }
}
