// Room names as the page handles them: the room in the page's own URL, a
// name the person typed into the room box, and a new private room's name
// made of random bits. Pure functions, tested under `node --test`.

import { DEFAULT_ROOM, ROOM_MAX_CHARS, ROOM_RE } from "./client/limits.js";
import { PRIVATE_ROOM_ALPHABET, PRIVATE_ROOM_CHARS } from "./limits.js";

/** `/` is the default room and `/r/<name>` any other; a bad name falls back
 *  to the default rather than failing at connect. */
export function roomFromPath(pathname) {
  const match = pathname.match(/^\/r\/([^/]+)\/?$/);
  let name = DEFAULT_ROOM;
  try {
    if (match) name = decodeURIComponent(match[1]);
  } catch {
    // A malformed escape is a bad name like any other.
  }
  return ROOM_RE.test(name) ? name : DEFAULT_ROOM;
}

/** What the person typed, made into a room name (`Team Chat` -> `team-chat`),
 *  or null if nothing of it is usable. */
export function roomFromInput(raw) {
  const name = raw
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, ROOM_MAX_CHARS);
  return ROOM_RE.test(name) ? name : null;
}

/** The page's path for `room`. */
export function roomPath(room) {
  return room === DEFAULT_ROOM ? "/" : `/r/${room}`;
}

/**
 * A new private room's name: PRIVATE_ROOM_CHARS characters drawn uniformly
 * from PRIVATE_ROOM_ALPHABET. `randomBytes(n)` returns n random bytes
 * (crypto.getRandomValues in the page). A byte at or above the largest
 * multiple of the alphabet's size is skipped, so no character is likelier
 * than another and every character carries its full log2(36) bits.
 */
export function privateRoomName(randomBytes) {
  const size = PRIVATE_ROOM_ALPHABET.length;
  const usable = 256 - (256 % size);
  let name = "";
  while (name.length < PRIVATE_ROOM_CHARS) {
    for (const byte of randomBytes(PRIVATE_ROOM_CHARS)) {
      if (byte < usable && name.length < PRIVATE_ROOM_CHARS) {
        name += PRIVATE_ROOM_ALPHABET[byte % size];
      }
    }
  }
  return name;
}
