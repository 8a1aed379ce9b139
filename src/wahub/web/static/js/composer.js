// The composer: Enter sends, Shift+Enter starts a new line (sending.js sends). Its tools live in their own
// modules: emoji, files (attachments.js), templates, canned replies by "/", the reply's quote, and the typing
// indicator. Free text needs the 24-hour window open: what needs it carries data-needs-window.

import * as attachments from "./attachments.js";
import * as canned from "./canned.js";
import * as emoji from "./emoji.js";
import * as replies from "./replies.js";
import { send } from "./sending.js";
import * as templates from "./templates.js";
import * as thread from "./thread.js";
import * as typing from "./typing.js";

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
  text.addEventListener("input", () => typing.typed(text.value));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = text.value.trim();
    if (!body || text.disabled) return;
    text.value = "";
    send(form, { type: "text", text: { body } }, thread.pendingBubble(body));
  });
  replies.setUp(form);
  canned.setUp(form);
  emoji.setUp(form);
  attachments.setUp(form);
  templates.setUp(form);
}

// The header says whether the window is open, and if not since when it closed (`note`).
export function reflectWindow(form, open, note) {
  if (!form) return;
  const writable = open && Boolean(form.dataset.to);
  for (const control of form.querySelectorAll("[data-needs-window]")) control.disabled = !writable;
  const box = document.getElementById("composer-note");
  if (box) {
    box.hidden = writable;
    const line = box.querySelector(".note-text");
    if (line && note && form.dataset.to) line.textContent = note;
  }
  if (!writable) {
    replies.cancel();
    attachments.close();
  }
}
