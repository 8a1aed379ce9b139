// A conversation opened at a message (/c/{id}?at={message_id}, a search's result): the message in view and
// marked, older pages loaded above as the thread is scrolled up and newer ones below as it is scrolled down
// (partials/chunk.html), the messages in view staying where they are while a page goes in.

import { oneSeparatorPerDay } from "./thread.js";

export function toTarget() {
  const target = document.querySelector("#thread .bubble.target");
  if (!target) return;
  target.scrollIntoView({ block: "center" }); // the focus stays where it was (the list, walked by keyboard)
}

// The scroller stacks from its end (newest at the bottom), so a page added below pushes what is in view up.
// The browser's scroll anchoring corrects that only sometimes (measured: 0 or 248 px off, run to run), so it
// is off for the thread (flow.css) and done here: the bubble above the page goes back where it was, in the
// task that swapped the page in, before anything is painted.
export function setUp(root) {
  let kept = null;
  root.addEventListener("htmx:beforeSwap", (event) => {
    const sentinel = event.detail.target;
    if (!sentinel.classList?.contains("newer")) return;
    const anchor = sentinel.previousElementSibling;
    kept = anchor ? { anchor, top: anchor.getBoundingClientRect().top } : null;
  });
  root.addEventListener("htmx:afterSwap", () => {
    if (!kept) return;
    const { anchor, top } = kept;
    kept = null; // once per page (htmx tells each new element)
    oneSeparatorPerDay(); // the page's first day may be the anchor's: its separator goes first, then measure
    const scroller = document.getElementById("messages");
    if (scroller && anchor.isConnected) scroller.scrollTop += anchor.getBoundingClientRect().top - top;
  });
}

// Whether the thread shows the newest messages (a live message belongs at its end), or a page deep inside it.
export function atNewest() {
  return !document.querySelector("#thread .newer");
}
