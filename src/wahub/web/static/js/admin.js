// The admin pages' script (they work without it): the browser's time zone for the times they show, and logging
// out through the API, which also revokes the refresh token (a plain POST /logout only clears the cookies).

import { logOut, rememberTimeZone } from "./session.js";

rememberTimeZone();

document.getElementById("logout")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  await logOut();
  location.assign("/login");
});
