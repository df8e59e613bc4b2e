// Every number the page's view lives by, each with the reason for its
// value, so that changing one is a one-line edit. The limits of the wire
// (message and name lengths, backoff, pings, typing) are the client
// library's (client/src/limits.js), which the room's own are compared with.

/** A private room's name is its only lock, so it carries at least 96 random
 *  bits: 19 characters of 36 are log2(36) * 19 = 98.2 bits. Letters and
 *  digits only (no `_` or `-`, though the server allows them), so a name
 *  retyped into the room box, which trims dashes, stays the same name. */
export const PRIVATE_ROOM_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
export const PRIVATE_ROOM_CHARS = 19;

/** 4 random bytes: unique enough among the people in one room. */
export const CLIENT_ID_BYTES = 4;

/** One or two failed attempts are a blip; after this many the page says the
 *  server cannot be reached, not just that the connection was lost (and, with
 *  a token, that the link may have expired: a browser hides the status of a
 *  refused WebSocket handshake, so the page cannot tell which). */
export const FAILED_ATTEMPTS_BEFORE_WARNING = 3;

/** A moderator's removal: 10 minutes is long enough to cool a conversation
 *  down, short enough that a mistaken removal costs little. */
export const KICK_DEFAULT_MINUTES = 10;

/** Show "is typing" a little longer than the room's forwarding interval
 *  (3 s), so a steady typist does not flicker. */
export const TYPING_SHOW_MS = 5000;

/** Messages from one sender within this long share one header. */
export const GROUP_WITHIN_MS = 5 * 60 * 1000;

/** Long enough to read "Reconnected", short enough not to linger. */
export const RECONNECTED_BANNER_MS = 4000;
/** Notices (errors, "link copied") stay long enough to read twice. */
export const NOTICE_MS = 6000;
/** Within this many pixels of the bottom counts as reading the newest
 *  messages, so the list keeps following (sub-pixel scroll positions). */
export const FOLLOW_SLACK_PX = 40;

/** Messages per page of scrollback: as many as the room sends at most, so
 *  reaching back a week takes few round trips. */
export const SCROLLBACK_PAGE = 100;

/** Hits per page of search results: a screenful to choose from. */
export const SEARCH_PAGE = 20;

/** Pages of scrollback a jump to a search hit loads at most (10,000
 *  messages): past that the reader is better served scrolling. */
export const JUMP_MAX_PAGES = 100;

/** The reactions offered in one click: the ones chat products find people
 *  use most; any other goes through the client library. */
export const QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "✅"];
