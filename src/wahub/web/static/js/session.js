// The browser's session with wahub: the CSRF token every change carries, renewing the 15-minute access token
// through the refresh cookie (POST /api/v1/auth/refresh), and the time zone the pages show times in.

const CSRF_COOKIE = "wahub_csrf";
const CSRF_HEADER = "X-CSRF-Token";
const REFRESHED_AT = "wahub-refreshed-at";
const ZONE = /^[A-Za-z][A-Za-z0-9_+\-]*(\/[A-Za-z0-9_+\-]+){0,2}$/;

export function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === CSRF_COOKIE) return value.join("=");
  }
  return "";
}

export function rememberTimeZone() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && ZONE.test(zone)) {
    document.cookie = `wahub_tz=${zone}; path=/; max-age=31536000; samesite=strict`;
  }
}

let inFlight = null;

// Renew the session; resolves to whether it is valid now. Each refresh token works once, so tabs take turns
// (a Web Lock) and a tab that finds the session renewed a moment ago by another does not renew it again.
export function refreshSession(force = false) {
  if (!inFlight) {
    const run = () => renew(force);
    const done = navigator.locks ? navigator.locks.request("wahub-session-refresh", run) : run();
    inFlight = done.finally(() => { inFlight = null; });
  }
  return inFlight;
}

async function renew(force) {
  const last = Number(localStorage.getItem(REFRESHED_AT) || 0);
  if (!force && Date.now() - last < 10_000) return true;
  let response;
  try {
    response = await fetch("/api/v1/auth/refresh", {
      method: "POST", headers: { [CSRF_HEADER]: csrfToken() }, credentials: "same-origin",
    });
  } catch {
    return false;
  }
  if (response.ok) localStorage.setItem(REFRESHED_AT, String(Date.now()));
  return response.ok;
}

export function keepSessionFresh(minutes = 10) {
  setInterval(() => { refreshSession(); }, minutes * 60 * 1000);
}

export function goToLogin() {
  location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
}

// fetch() for wahub: same-origin cookies, the CSRF header on changes, one renewal and retry on a 401.
export async function request(url, options = {}, retried = false) {
  const headers = new Headers(options.headers || {});
  const method = (options.method || "GET").toUpperCase();
  if (method !== "GET" && method !== "HEAD") headers.set(CSRF_HEADER, csrfToken());
  const response = await fetch(url, { ...options, headers, credentials: "same-origin" });
  if (response.status === 401 && !retried) {
    if (await refreshSession(true)) return request(url, options, true);
    goToLogin();
  }
  return response;
}

// A part of a page (an htmx-style partial): the server answers the part, not the whole page.
export function part(url) {
  return request(url, { headers: { "HX-Request": "true" } });
}

export async function logOut() {
  await request("/api/v1/auth/logout", { method: "POST" }, true).catch(() => null);
  localStorage.removeItem(REFRESHED_AT);
}
