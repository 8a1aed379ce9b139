// The composer: Enter sends, Shift+Enter starts a new line. The message shows at once as a pending bubble,
// is posted to the API (POST /api/v1/messages, the session's cookies and CSRF token), and becomes the real
// message when it is queued; a refusal (422: the window closed, a bad number…) stays on the bubble with its reason.

import { request } from "./session.js";
import * as thread from "./thread.js";
import * as ticks from "./ticks.js";

export function setUp(form) {
  if (!form || form.dataset.ready) return;
  form.dataset.ready = "true";
  const text = form.querySelector("textarea");
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = text.value.trim();
    if (!body || text.disabled) return;
    text.value = "";
    send(form, body);
  });
}

// Free text needs the 24-hour window open (the header says whether it is).
export function reflectWindow(form, open) {
  if (!form) return;
  const writable = open && Boolean(form.dataset.to);
  form.querySelector("textarea").disabled = !writable;
  form.querySelector("button[type=submit]").disabled = !writable;
  const note = form.querySelector(".composer-note");
  if (note) note.hidden = writable;
}

async function send(form, body) {
  const bubble = thread.pendingBubble(body);
  const tick = bubble.querySelector(".tick");
  const message = { to: form.dataset.to, type: "text", text: { body } };
  if (form.dataset.from) message.from = form.dataset.from;
  let response;
  let answer = null;
  try {
    response = await request("/api/v1/messages", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(message),
    });
    answer = await response.json().catch(() => null);
  } catch {
    refuse(bubble, tick, "Not sent: wahub cannot be reached. Check the connection and send it again.");
    return;
  }
  if (response.status === 202 && answer && answer.id) {
    if (thread.bubbleOf(answer.id)) {
      bubble.remove(); // the live stream showed it first
      return;
    }
    bubble.id = `m-${answer.id}`;
    bubble.dataset.messageId = String(answer.id);
    bubble.classList.remove("pending");
    ticks.advance(tick, answer.status || "queued");
    return;
  }
  const reason = answer && answer.error ? answer.error.message : `the server answered ${response.status}`;
  refuse(bubble, tick, `Not sent: ${reason}`);
}

function refuse(bubble, tick, reason) {
  bubble.classList.remove("pending");
  bubble.classList.add("refused");
  ticks.set(tick, "refused", reason);
  const error = bubble.querySelector(".error");
  error.textContent = reason;
  error.hidden = false;
}
