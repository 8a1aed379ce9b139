// The login page: remembers the browser's time zone (the inbox shows times in it) and, when a session may
// still be alive (its access token expired, or the page was opened from another site, which sends no
// SameSite=Strict cookie), renews it through the refresh cookie and goes on without asking for the password.

import { csrfToken, refreshSession, rememberTimeZone } from "./session.js";

const RENEWED = "wahub-renewed-at";

rememberTimeZone();
const form = document.getElementById("login-form");

async function resume() {
  if (!form || !form.hasAttribute("data-resume") || !csrfToken()) return;
  // Renewed a moment ago and sent back here all the same: ask for the password instead of going round.
  const last = Number(sessionStorage.getItem(RENEWED) || 0);
  if (Date.now() - last < 10_000) return;
  if (await refreshSession(true)) {
    sessionStorage.setItem(RENEWED, String(Date.now()));
    location.replace(form.dataset.next || "/");
  }
}

resume();
