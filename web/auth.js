// Sign-in with the Cognito Hosted UI: Authorization Code flow with PKCE (RFC 7636).
// Tokens live in sessionStorage: they leave with the tab, and nothing else on this
// origin runs third-party code that could read them.

const STORE = "uploads.tokens";
const PENDING = "uploads.pkce";

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(size = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

async function challengeFor(verifier) {
  return base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
}

export function redirectUri(config) {
  const here = window.location.origin + window.location.pathname;
  return config.redirectUris.find((uri) => here.startsWith(uri.replace(/\/$/, ""))) || config.redirectUris[0];
}

export async function signIn(config) {
  const verifier = randomString(48);
  const state = randomString(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state }));
  const params = new URLSearchParams({
    response_type: "code",
    client_id: config.userPoolClientId,
    redirect_uri: redirectUri(config),
    scope: config.scopes.join(" "),
    state,
    code_challenge_method: "S256",
    code_challenge: await challengeFor(verifier),
  });
  window.location.assign(`${config.cognitoDomain}/oauth2/authorize?${params}`);
}

let refreshing = null;

async function tokenRequest(config, body) {
  const response = await fetch(`${config.cognitoDomain}/oauth2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: config.userPoolClientId, ...body }),
  });
  if (!response.ok) throw new Error(`sign-in failed (${response.status})`);
  const tokens = await response.json();
  const saved = {
    accessToken: tokens.access_token,
    idToken: tokens.id_token,
    refreshToken: tokens.refresh_token || current()?.refreshToken,
    expiresAt: Date.now() + (tokens.expires_in - 60) * 1000,
  };
  sessionStorage.setItem(STORE, JSON.stringify(saved));
  return saved;
}

// Called on every page load: finishes a sign-in if Cognito just redirected back here.
export async function completeSignIn(config) {
  const query = new URLSearchParams(window.location.search);
  if (!query.has("code") && !query.has("error")) return current();
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  window.history.replaceState({}, "", window.location.pathname);
  if (query.has("error")) throw new Error(query.get("error_description") || query.get("error"));
  if (!pending || pending.state !== query.get("state")) throw new Error("sign-in state did not match; try again");
  return tokenRequest(config, {
    grant_type: "authorization_code",
    code: query.get("code"),
    redirect_uri: redirectUri(config),
    code_verifier: pending.verifier,
  });
}

export function current() {
  return JSON.parse(sessionStorage.getItem(STORE) || "null");
}

// The access token, refreshed when it has expired. Null means "sign in again":
// no session, or a refresh token Cognito no longer accepts.
export async function accessToken(config) {
  const tokens = current();
  if (!tokens) return null;
  if (Date.now() < tokens.expiresAt) return tokens.accessToken;
  if (!tokens.refreshToken) return null;
  // Parallel requests (multipart parts) share one refresh.
  refreshing ??= tokenRequest(config, { grant_type: "refresh_token", refresh_token: tokens.refreshToken })
    .then((fresh) => fresh.accessToken)
    .catch(() => {
      sessionStorage.removeItem(STORE);
      return null;
    })
    .finally(() => { refreshing = null; });
  return refreshing;
}

export function username() {
  const tokens = current();
  if (!tokens?.idToken) return "";
  const payload = tokens.idToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  // atob gives bytes; claims are UTF-8 (a name or an email may not be ASCII).
  const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
  const claims = JSON.parse(new TextDecoder().decode(bytes));
  return claims.email || claims["cognito:username"] || claims.sub;
}

export function signOut(config) {
  sessionStorage.removeItem(STORE);
  const params = new URLSearchParams({ client_id: config.userPoolClientId, logout_uri: redirectUri(config) });
  window.location.assign(`${config.cognitoDomain}/logout?${params}`);
}
