// A conversation opened at a message (/c/{id}?at={message_id}, a search's result): the message in view and
// marked, older pages loaded above as the thread is scrolled up and newer ones below as it is scrolled down,
// the messages in view staying where they are while a page goes in.

export function toTarget() {
  const target = document.querySelector("#thread .bubble.target");
  if (!target) return;
  target.scrollIntoView({ block: "center" }); // the focus stays where it was (the list, walked by keyboard)
}

// The scroller stacks from its end (newest at the bottom): a page added below would push what is in view up.
// Before it goes in, remember where the last bubble is; after, put it back there.
export function setUp(root) {
  let kept = null;
  root.addEventListener("htmx:beforeSwap", (event) => {
    const sentinel = event.detail.target;
    if (!sentinel.classList?.contains("newer")) return;
    const anchor = sentinel.previousElementSibling;
    kept = anchor ? { anchor, top: anchor.getBoundingClientRect().top } : null;
  });
  root.addEventListener("htmx:afterSwap", () => {
    if (!kept || !kept.anchor.isConnected) return;
    const scroller = document.getElementById("messages");
    if (scroller) scroller.scrollTop += kept.anchor.getBoundingClientRect().top - kept.top;
    kept = null;
  });
}

// Whether the thread shows the newest messages (a live message belongs at its end), or a page deep inside it.
export function atNewest() {
  return !document.querySelector("#thread .newer");
}
