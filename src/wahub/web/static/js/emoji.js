// A small emoji panel: a fixed set, no library. A pick goes in at the caret.

const EMOJI = [
  "😀", "😃", "😄", "😁", "😂", "🙂", "😊", "😉", "😍", "😘", "🤗", "🤩", "🤔", "😅", "😎", "😴",
  "😢", "😭", "😡", "😮", "👍", "👎", "👌", "👏", "🙏", "💪", "👋", "🤝", "✌️", "❤️", "💔", "🔥",
  "🎉", "✅", "❌", "⭐", "⏰", "📅", "📞", "📎", "📷", "🚚", "💰", "🛒", "🎁", "☕",
];

export function setUp(form) {
  const opener = document.getElementById("emoji-open");
  const panel = document.getElementById("emoji-panel");
  const text = form.querySelector("textarea");
  if (!opener || !panel) return;
  panel.replaceChildren(...EMOJI.map((emoji) => {
    const pick = document.createElement("button");
    pick.type = "button";
    pick.textContent = emoji;
    pick.setAttribute("aria-label", `Insert ${emoji}`);
    return pick;
  }));
  const show = (open) => {
    panel.hidden = !open;
    opener.setAttribute("aria-expanded", String(open));
  };
  opener.addEventListener("click", () => {
    show(panel.hidden);
    if (!panel.hidden) panel.querySelector("button").focus();
  });
  panel.addEventListener("click", (event) => {
    const pick = event.target.closest("button");
    if (!pick || text.disabled) return;
    text.focus();
    text.setRangeText(pick.textContent, text.selectionStart, text.selectionEnd, "end");
    text.dispatchEvent(new Event("input", { bubbles: true }));
    show(false);
  });
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      show(false);
      opener.focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (!panel.hidden && !panel.contains(event.target) && !opener.contains(event.target)) show(false);
  });
}
