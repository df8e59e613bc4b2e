// Where this tab's sign-in token comes from: the URL fragment
// (`#token=<jwt>`), which never reaches a server, and which the page then
// clears. What the token says is the client library's to read
// (client/src/token.js). Pure functions, tested under `node --test`.

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
