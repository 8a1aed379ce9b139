// Sending from the page: every message (text, file, template) goes to POST /api/v1/messages with the session's
// cookies and CSRF token. It shows at once as a pending bubble, becomes the real message when queued (202),
// and a refusal (422: the window closed, a bad number, a file WhatsApp does not take…) stays on the bubble
// with its reason. A reply's quote (replies.js) goes with whatever is sent next.

import * as replies from "./replies.js";
import { request } from "./session.js";
import * as thread from "./thread.js";
import * as ticks from "./ticks.js";

// Send `message` (its type and content) from the composer `form` to its conversation; resolves to the queued
// message's id, or null when it was refused (the reason is on `bubble`).
export async function send(form, message, bubble) {
  const tick = bubble.querySelector(".tick");
  message.to = form.dataset.to;
  if (form.dataset.from) message.from = form.dataset.from;
  const reply = replies.take();
  if (reply) {
    message.context = { message_id: reply.wamid };
    replies.showOn(bubble, reply);
  }
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
    refuse(bubble, "Not sent: wahub cannot be reached. Check the connection and send it again.");
    return null;
  }
  if (response.status === 202 && answer && answer.id) {
    if (thread.bubbleOf(answer.id)) {
      bubble.remove(); // the live stream showed it first
      return answer.id;
    }
    bubble.id = `m-${answer.id}`;
    bubble.dataset.messageId = String(answer.id);
    bubble.classList.remove("pending");
    ticks.advance(tick, answer.status || "queued");
    return answer.id;
  }
  refuse(bubble, `Not sent: ${reasonOf(response, answer)}`);
  return null;
}

export function reasonOf(response, answer) {
  return answer && answer.error ? answer.error.message : `the server answered ${response.status}`;
}

export function refuse(bubble, reason) {
  const tick = bubble.querySelector(".tick");
  bubble.classList.remove("pending");
  bubble.classList.add("refused");
  if (tick) ticks.set(tick, "refused", reason);
  const error = bubble.querySelector(".error");
  error.textContent = reason;
  error.hidden = false;
}
