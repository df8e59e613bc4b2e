// Who this tab is in token mode: the sign-in token from the URL fragment
// (`#token=<jwt>`) or from the tab's storage, and what its payload says.
// The payload is decoded only to show a name and to know when to stop:
// the server verifies the signature and decides everything, so nothing here
// checks one. Pure functions, tested under `node --test`.

import { CLIENT_ID_RE } from "./limits.js";

/** The token a fragment such as `#token=<jwt>` carries, or null. A fragment
 *  never reaches a server, which is why the link carries the token there. */
export function tokenFromFragment(hash) {
  const token = new URLSearchParams(String(hash || "").replace(/^#/, "")).get("token");
  return token ? token.trim() : null;
}

/** The fragment with its `token` removed ("" if nothing else was in it), so
 *  the address bar, bookmarks and shared links never show the token. */
export function fragmentWithoutToken(hash) {
  const params = new URLSearchParams(String(hash || "").replace(/^#/, ""));
  params.delete("token");
  const rest = params.toString();
  return rest ? `#${rest}` : "";
}

/**
 * What the token's payload says, for display: `{ sub, name, role, exp,
 * rooms }` with `exp` in milliseconds (null if absent), or null when the
 * token is not three base64url parts with a JSON payload whose `sub` is a
 * valid client id.
 */
export function readClaims(token) {
  const parts = typeof token === "string" ? token.split(".") : [];
  if (parts.length !== 3) return null;
  let claims;
  try {
    claims = JSON.parse(base64urlText(parts[1]));
  } catch {
    return null;
  }
  if (!claims || typeof claims.sub !== "string" || !CLIENT_ID_RE.test(claims.sub)) return null;
  return {
    sub: claims.sub,
    name: typeof claims.name === "string" ? claims.name : "",
    role: claims.role === "moderator" ? "moderator" : "member",
    exp: Number.isFinite(claims.exp) ? claims.exp * 1000 : null,
    rooms: Array.isArray(claims.rooms) ? claims.rooms.filter((r) => typeof r === "string") : [],
  };
}

/** Whether a token with these claims has expired at `now` (milliseconds). */
export function expired(claims, now) {
  return claims.exp !== null && now >= claims.exp;
}

function base64urlText(part) {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) throw new Error("not base64url");
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  // Display names may be any Unicode: the bytes are UTF-8.
  return new TextDecoder("utf-8", { fatal: true }).decode(
    Uint8Array.from(binary, (c) => c.charCodeAt(0)),
  );
}
