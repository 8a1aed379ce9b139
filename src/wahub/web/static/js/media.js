// Files in bubbles. Their links are signed for five minutes (GET /api/v1/media/{id}/content?expires=…&sig=…):
// a player or picture whose link has expired, or a document clicked after that, gets its bubble rendered
// again by the server with fresh links. A file WhatsApp's media is still being fetched for is asked again
// (its bubble) a few times, then shown when it is there.

import { part } from "./session.js";
import * as thread from "./thread.js";

const CHECK_AFTER_MS = [1000, 2000, 3000, 5000, 8000, 13000, 21000, 34000];
const RENEW_EVERY_MS = 60_000; // a bubble's links are renewed at most this often (a file that stays broken)
const renewed = new Map();

async function rendered(bubble) {
  const conversation = thread.openConversation();
  const id = bubble.dataset.messageId;
  if (!conversation || !id) return null;
  const response = await part(`/c/${conversation}/messages/${id}`);
  return response.status === 200 ? response.text() : null;
}

async function renew(bubble) {
  const id = bubble.dataset.messageId;
  if (!id || Date.now() - (renewed.get(id) || 0) < RENEW_EVERY_MS) return false;
  renewed.set(id, Date.now());
  const html = await rendered(bubble);
  if (html === null) return false;
  thread.replace(id, html);
  return true;
}

function watchPending(media, attempt = 0) {
  if (attempt >= CHECK_AFTER_MS.length || media.dataset.watched === String(attempt)) return;
  media.dataset.watched = String(attempt);
  setTimeout(async () => {
    const bubble = media.closest(".bubble");
    if (!media.isConnected || !bubble) return;
    const html = await rendered(bubble);
    if (html === null || !media.isConnected) return;
    if (html.includes('data-state="pending"')) watchPending(media, attempt + 1);
    else thread.replace(bubble.dataset.messageId, html);
  }, CHECK_AFTER_MS[attempt]);
}

function expired(link) {
  const expires = Number(new URL(link.href, location.href).searchParams.get("expires") || 0);
  return expires * 1000 - Date.now() < 5_000;
}

// A picture or player that failed to load: most likely its link expired.
document.addEventListener("error", (event) => {
  const player = event.target;
  if (!(player instanceof HTMLElement) || !player.matches(".media img, .media video, .media audio")) return;
  const bubble = player.closest(".bubble[data-message-id]");
  if (bubble) renew(bubble);
}, true);

// A document (or a picture opened) after its link expired: fresh links first, then the same click.
document.addEventListener("click", async (event) => {
  const link = event.target.closest?.(".media a.doc, .media a.open");
  if (!link || !expired(link)) return;
  event.preventDefault();
  const bubble = link.closest(".bubble[data-message-id]");
  if (!bubble || !(await renew(bubble))) return;
  thread.bubbleOf(bubble.dataset.messageId)?.querySelector(link.classList.contains("doc") ? ".media a.doc" : ".media a.open")?.click();
});

new MutationObserver((changes) => {
  for (const change of changes) {
    for (const node of change.addedNodes) {
      if (!(node instanceof HTMLElement)) continue;
      const found = node.matches('.media[data-state="pending"]') ? [node] : node.querySelectorAll('.media[data-state="pending"]');
      for (const media of found) watchPending(media);
    }
  }
}).observe(document.body, { childList: true, subtree: true });

for (const media of document.querySelectorAll('.media[data-state="pending"]')) watchPending(media);
