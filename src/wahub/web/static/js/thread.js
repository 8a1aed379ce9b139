// The open conversation's thread: adding, replacing and separating bubbles (server-rendered HTML only: every
// value in it was escaped by the server's templates; text the page makes itself goes in as textContent).

import * as ticks from "./ticks.js";

export function openConversation() {
  const section = document.getElementById("conversation");
  return section ? Number(section.dataset.id) : 0;
}

export function threadElement() {
  return document.getElementById("thread");
}

export function bubbleOf(id) {
  return document.getElementById(`m-${id}`);
}

// One separator per day: after a page of older messages goes above, or a new message below, the later of
// two separators of one day goes.
export function oneSeparatorPerDay(root = threadElement()) {
  if (!root) return;
  const seen = new Set();
  for (const day of root.querySelectorAll(".day")) {
    if (seen.has(day.dataset.day)) day.remove();
    else seen.add(day.dataset.day);
  }
}

// New bubbles at the end. While the reader is at the end, the thread keeps its newest KEPT bubbles and lets
// the older ones go (scrolling up loads them again, as when the conversation was opened): a conversation left
// open under a stream of messages does not grow without end, and a new bubble costs the same after an hour.
const KEPT = 200;
const NEAR_END_PX = 160;

export function append(html) {
  const thread = threadElement();
  if (!thread) return;
  const scroller = thread.closest(".scroller");
  // Read before the change (layout is clean then). The scroller stacks from its end: 0 there, negative above.
  const atEnd = !scroller || Math.abs(scroller.scrollTop) < NEAR_END_PX;
  thread.querySelector(".no-messages")?.remove();
  thread.insertAdjacentHTML("beforeend", html);
  oneSeparatorPerDay(thread);
  if (atEnd) keepNewest(thread, KEPT);
}

export function keepNewest(thread, kept) {
  const bubbles = thread.querySelectorAll(":scope > .bubble[data-message-id]");
  if (bubbles.length <= kept) return;
  const first = bubbles[bubbles.length - kept];
  let separator = null; // the first kept bubble's day separator, if it goes with the older ones
  while (thread.firstElementChild && thread.firstElementChild !== first) {
    const node = thread.firstElementChild;
    if (node.classList.contains("day") && node.dataset.day === first.dataset.day) separator = node;
    node.remove();
  }
  if (separator) thread.prepend(separator);
  const older = element("div", "older", "Loading older messages…");
  older.setAttribute("hx-get", `/c/${openConversation()}/messages?before=${first.dataset.messageId}`);
  older.setAttribute("hx-trigger", "intersect once");
  older.setAttribute("hx-swap", "outerHTML");
  thread.prepend(older);
  window.htmx?.process(older);
}

// Replace a bubble with a newer rendering of it, keeping the further tick of the two.
export function replace(id, html) {
  const old = bubbleOf(id);
  if (!old) return;
  const template = document.createElement("template");
  template.innerHTML = html;
  const fresh = template.content.querySelector(".bubble");
  if (!fresh) return;
  const before = old.querySelector(".tick");
  const after = fresh.querySelector(".tick");
  if (before && after && ticks.rank(before.dataset.status) > ticks.rank(after.dataset.status)) {
    ticks.set(after, before.dataset.status, before.getAttribute("title"));
  }
  old.replaceWith(fresh);
}

export function showFailure(bubble, reason) {
  bubble.classList.add("failed");
  const error = bubble.querySelector(".error");
  if (error) {
    error.textContent = reason;
    error.hidden = false;
  }
}

// A bubble the composer shows at once, before the server has the message.
export function pendingBubble(text) {
  const thread = threadElement();
  const now = new Date();
  const day = [now.getFullYear(), now.getMonth() + 1, now.getDate()].map((n) => String(n).padStart(2, "0")).join("-");
  const days = thread.querySelectorAll(".day");
  if (!days.length || days[days.length - 1].dataset.day !== day) {
    const separator = element("div", "day");
    separator.dataset.day = day;
    separator.setAttribute("role", "separator");
    separator.append(element("span", "", "Today"));
    thread.append(separator);
  }
  const bubble = element("div", "bubble outbound pending");
  bubble.dataset.day = day;
  bubble.append(element("p", "text", text));
  const error = element("p", "error");
  error.hidden = true;
  const meta = element("div", "meta");
  const time = element("time", "", now.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false }));
  time.dateTime = now.toISOString();
  const tick = element("span", "tick");
  tick.setAttribute("role", "img");
  ticks.set(tick, "pending", "sending");
  meta.append(time, tick);
  bubble.append(error, meta);
  thread.querySelector(".no-messages")?.remove();
  thread.append(bubble);
  return bubble;
}

function element(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}
