// What a sign-in token says, read without checking it: who it names, until
// when, and when to ask for a fresh one. The room verifies the signature and
// decides everything, so nothing here checks one; the payload is read only
// to know the client id, the name to show and when the session would end.

import { CLIENT_ID_RE, TOKEN_REFRESH_LEAD_MS } from "./limits.js";

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

/** How long after `now` to refresh a token with these claims: a minute
 *  before `exp`, or halfway there for a token that lives less than two, so
 *  a short-lived token is not refreshed in a tight loop. Null: never. */
export function refreshInMs(claims, now) {
  if (!claims || claims.exp === null) return null;
  const left = claims.exp - now;
  return Math.max(0, Math.max(left - TOKEN_REFRESH_LEAD_MS, left / 2));
}
