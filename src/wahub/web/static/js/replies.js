// Replies: a bubble's reply button puts its quote above the composer, and the next message sent goes with
// Meta's context (the quoted message's wamid). A quote in a bubble scrolls to the original when clicked,
// loading older pages until it is there, or says why it cannot.

import * as thread from "./thread.js";

const PAGES_TO_LOAD = 10; // older pages loaded to find an original (50 messages each) before giving up
let replyTo = null; // { wamid, who, text }

export function setUp(form) {
  replyTo = null;
  document.getElementById("reply-cancel")?.addEventListener("click", () => {
    cancel();
    form.querySelector("textarea").focus();
  });
  form.querySelector("textarea").addEventListener("keydown", (event) => {
    if (event.key === "Escape" && replyTo && !event.defaultPrevented) cancel();
  });
}

// The reply waiting to go with the next message (and no longer shown above the composer), or null.
export function take() {
  const taken = replyTo;
  cancel();
  return taken;
}

export function cancel() {
  replyTo = null;
  const bar = document.getElementById("reply-bar");
  if (bar) bar.hidden = true;
}

// A pending bubble shows what it answers, as the server's rendering of it will.
export function showOn(bubble, reply) {
  const quote = quoteElement(reply.who, reply.text);
  bubble.prepend(quote);
}

// A bubble the page made learns its wamid from its first status: it can be replied to from then on.
export function replyable(bubble, wamid) {
  if (!wamid || bubble.dataset.wamid) return;
  bubble.dataset.wamid = wamid;
  if (bubble.querySelector(".reply-to")) return;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "reply-to";
  button.title = "Reply";
  button.setAttribute("aria-label", "Reply to this message");
  button.textContent = "\u21a9";
  bubble.append(button);
}

function start(bubble) {
  const form = document.getElementById("composer");
  const text = form?.querySelector("textarea");
  if (!bubble.dataset.wamid || !text || text.disabled) return;
  const who = bubble.classList.contains("outbound")
    ? "You"
    : document.querySelector("#conv-header .name")?.textContent || "Contact";
  replyTo = { wamid: bubble.dataset.wamid, who, text: summary(bubble) };
  const bar = document.getElementById("reply-bar");
  bar.querySelector(".quote-who").textContent = who;
  bar.querySelector(".quote-text").textContent = replyTo.text;
  bar.hidden = false;
  text.focus();
}

// What a bubble says in one line: its first text, else what it is (its label, a file's name).
function summary(bubble) {
  const own = [...bubble.children].filter((c) => !c.classList.contains("quote"));
  for (const selector of [".text", ".kind", ".doc-name", ".card-name"]) {
    const found = own.map((c) => (c.matches(selector) ? c : c.querySelector(selector))).find(Boolean);
    if (found && found.textContent.trim()) return found.textContent.trim().slice(0, 200);
  }
  if (bubble.querySelector(".media img")) return "📷 Photo";
  return "Message";
}

function quoteElement(who, text) {
  const quote = document.createElement("div");
  quote.className = "quote";
  const whoLine = document.createElement("span");
  whoLine.className = "quote-who";
  whoLine.textContent = who;
  const textLine = document.createElement("span");
  textLine.className = "quote-text";
  textLine.textContent = text;
  quote.append(whoLine, textLine);
  return quote;
}

async function jump(quote) {
  const id = quote.dataset.quoted;
  if (!id) {
    notice(quote, "The original message is not in wahub.");
    return;
  }
  let original = thread.bubbleOf(id);
  for (let page = 0; !original && page < PAGES_TO_LOAD; page++) {
    if (!(await loadOlder())) break;
    original = thread.bubbleOf(id);
  }
  if (!original) {
    notice(quote, "The original message is not loaded: it is further back. Scroll up to load older messages.");
    return;
  }
  original.scrollIntoView({ block: "center" });
  original.classList.remove("flash");
  void original.offsetWidth; // restart the highlight
  original.classList.add("flash");
}

// Ask for the page of older messages now (the sentinel htmx loads when it scrolls into view); resolves to
// whether one came.
function loadOlder() {
  const older = thread.threadElement()?.querySelector(".older");
  if (!older || !window.htmx) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(false), 15_000);
    const done = (loaded) => {
      clearTimeout(timer);
      document.body.removeEventListener("htmx:afterSettle", settled);
      document.body.removeEventListener("htmx:responseError", failed);
      resolve(loaded);
    };
    const settled = () => { if (!older.isConnected) done(true); };
    const failed = () => done(false);
    document.body.addEventListener("htmx:afterSettle", settled);
    document.body.addEventListener("htmx:responseError", failed);
    window.htmx.trigger(older, "intersect");
  });
}

function notice(quote, text) {
  const bubble = quote.closest(".bubble");
  bubble.querySelector(".quote-note")?.remove();
  const line = document.createElement("p");
  line.className = "quote-note";
  line.setAttribute("role", "status");
  line.textContent = text;
  quote.after(line);
  setTimeout(() => line.remove(), 6000);
}

document.addEventListener("click", (event) => {
  const button = event.target.closest?.(".bubble .reply-to");
  if (button) {
    start(button.closest(".bubble"));
    return;
  }
  const quote = event.target.closest?.(".bubble button.quote");
  if (quote) jump(quote);
});
