// The typing indicator: while someone types, the customer sees "typing…". Meta shows it with a read receipt
// of their last message, for up to 25 s; so the page asks at most every 20 s (the API throttles too:
// POST /api/v1/messages/{id}/read with typing_indicator, once per 20 s per message).

import { request } from "./session.js";

const EVERY_MS = 20_000;
let last = { id: "", at: 0 };

export function typed(value) {
  if (!value.trim() || value.startsWith("/")) return; // nothing yet, or looking for a canned reply
  const head = document.querySelector("#conv-header .conv-head");
  const id = head?.dataset.lastInbound;
  if (!id || head.dataset.windowOpen !== "true") return;
  const now = Date.now();
  if (last.id === id && now - last.at < EVERY_MS) return;
  last = { id, at: now };
  const asked = request(`/api/v1/messages/${id}/read`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ typing_indicator: true }),
  });
  // Not taken (the read receipt was on its way at that moment): the next keystroke asks again.
  asked.then((response) => (response.ok ? response.json() : null)).then((answer) => {
    if (!answer?.typing_indicator) last = { id: "", at: 0 };
  }).catch(() => { last = { id: "", at: 0 }; });
}
