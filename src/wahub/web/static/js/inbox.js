// The inbox page: wires htmx (CSRF header, session renewal), the conversation list, the open conversation,
// the composer and the live stream. Parts come from the server as HTML (escaped there); this module places them.

import * as composer from "./composer.js";
import * as jump from "./jump.js";
import * as listnav from "./listnav.js";
import { Live } from "./live.js";
import "./media.js";
import * as replies from "./replies.js";
import { csrfToken, goToLogin, keepSessionFresh, logOut, part, refreshSession, rememberTimeZone, request } from "./session.js";
import * as thread from "./thread.js";
import * as ticks from "./ticks.js";
import * as workflow from "./workflow.js";

const shell = document.getElementById("shell");
const list = document.getElementById("conversation-list");
const listQuery = shell.dataset.listQuery; // the list's view (filter, account, entity, search): web/listing.py
ticks.configure(JSON.parse(shell.dataset.ranks), JSON.parse(shell.dataset.tickLabels));
rememberTimeZone();
keepSessionFresh();

// --- htmx: every request carries the CSRF token; a 401 renews the session and asks again ----------------

document.body.addEventListener("htmx:configRequest", (event) => {
  event.detail.headers["X-CSRF-Token"] = csrfToken();
});

document.body.addEventListener("htmx:responseError", async (event) => {
  const { xhr, elt, requestConfig } = event.detail;
  if (xhr.status !== 401) return;
  if (await refreshSession(true)) {
    window.htmx.ajax(requestConfig.verb.toUpperCase(), requestConfig.path, { source: elt });
  } else {
    goToLogin();
  }
});

document.body.addEventListener("htmx:afterSwap", (event) => {
  const target = event.detail.target;
  if (target.id === "pane") conversationOpened();
  else thread.oneSeparatorPerDay();
});

// --- the open conversation ------------------------------------------------------------------------------

function headOf() {
  return document.querySelector("#conv-header .conv-head");
}

function conversationOpened() {
  const open = thread.openConversation();
  shell.classList.toggle("has-pane", Boolean(open) || Boolean(document.getElementById("not-found")));
  for (const link of list.querySelectorAll(".row > a")) {
    if (link.closest(".row").dataset.id === String(open)) link.setAttribute("aria-current", "true");
    else link.removeAttribute("aria-current");
  }
  composer.setUp(document.getElementById("composer"));
  jump.toTarget();
  markRead();
}

// Opening a conversation reads it: the newest inbound message is marked read (the customer sees blue
// ticks, the unread count clears) through POST /api/v1/messages/{id}/read.
async function markRead(messageId) {
  const head = headOf();
  if (!head || document.visibilityState !== "visible") return;
  const id = messageId || head.dataset.lastInbound;
  if (!id || (!messageId && Number(head.dataset.unread) === 0)) return;
  head.dataset.unread = "0";
  await request(`/api/v1/messages/${id}/read`, { method: "POST" });
}

document.addEventListener("visibilitychange", async () => {
  if (document.visibilityState === "visible" && thread.openConversation()) {
    await refreshHeader(thread.openConversation());
    markRead();
  }
});

async function refreshHeader(conversationId) {
  const response = await part(`/c/${conversationId}/header`);
  const header = document.getElementById("conv-header");
  if (!response.ok || !header || thread.openConversation() !== conversationId) return;
  workflow.renew(header, await response.text());
  const head = headOf();
  composer.reflectWindow(document.getElementById("composer"), head?.dataset.windowOpen === "true", head?.dataset.windowNote);
}

// --- the list -----------------------------------------------------------------------------------------

async function refreshRow(conversationId) {
  const response = await part(`/list/${conversationId}?${listQuery}`);
  const existing = document.getElementById(`conv-${conversationId}`);
  if (response.status === 204) {
    existing?.remove();
    return;
  }
  if (!response.ok) return;
  const template = document.createElement("template");
  template.innerHTML = await response.text();
  const row = template.content.querySelector(".row");
  if (!row) return;
  if (conversationId === thread.openConversation()) row.querySelector("a").setAttribute("aria-current", "true");
  const focused = existing?.contains(document.activeElement); // the keyboard's selection stays on the row
  existing?.remove();
  list.querySelector(".empty")?.remove();
  // Newest activity first, as the server orders them: before the first row that is older (ISO times in UTC
  // compare as text), or as old with a lower id (times are to the second: ties are common).
  const { activity, id } = row.dataset;
  const older = [...list.querySelectorAll(".row")].find(
    (other) => other.dataset.activity < activity || (other.dataset.activity === activity && Number(other.dataset.id) < Number(id)),
  );
  list.insertBefore(row, older || list.querySelector(".more"));
  window.htmx.process(row);
  if (focused) row.querySelector("a").focus({ preventScroll: true });
}

// --- live events ----------------------------------------------------------------------------------------

// A batch of events (live.js), in order. The open conversation's new messages are fetched together and added
// in one go, and only the newest inbound one is marked read; a conversation updated several times is renewed
// once (its row and header are read whole, so once shows the latest).
async function onEvents(events) {
  const open = thread.openConversation();
  await showNew(open, events.filter(({ kind, data }) => kind === "message.created" && data.conversation_id === open));
  const renewed = new Set();
  for (const { kind, data } of events) {
    if (kind === "message.created") continue;
    if (kind === "conversation.updated") {
      if (renewed.has(data.conversation_id)) continue;
      renewed.add(data.conversation_id);
    }
    await onEvent(kind, data);
  }
}

async function showNew(open, created) {
  const fresh = created.map(({ data }) => data).filter((data) => !thread.bubbleOf(data.message_id));
  // A thread opened deep inside (at a search's result) gets its newest messages by scrolling down.
  if (!fresh.length || !jump.atNewest()) return;
  // One bubble that cannot be fetched (the network dropped) does not keep the others out.
  const parts = await Promise.all(fresh.map(async (data) => {
    const response = await part(`/c/${open}/messages/${data.message_id}`).catch(() => null);
    return response?.status === 200 ? response.text().catch(() => "") : "";
  }));
  if (thread.openConversation() !== open) return;
  const html = parts.filter((text, i) => text && !thread.bubbleOf(fresh[i].message_id)).join("");
  if (html) thread.append(html);
  const inbound = fresh.filter((data) => data.direction === "inbound").pop();
  if (inbound) markRead(inbound.message_id);
}

async function onEvent(kind, data) {
  const open = thread.openConversation();
  if (kind === "conversation.updated") {
    await refreshRow(data.conversation_id);
    if (data.conversation_id === open) await refreshHeader(open);
    return;
  }
  if (kind === "message.updated") {
    const reason = data.error ? [data.error.title, data.error.code ? `(code ${data.error.code})` : ""].join(" ").trim() : "";
    const preview = document.querySelector(`#conv-${data.conversation_id} .preview .tick[data-message-id="${data.message_id}"]`);
    if (data.why === "status") {
      ticks.advance(preview, data.status, reason);
      const bubble = thread.bubbleOf(data.message_id);
      if (!bubble) return;
      replies.replyable(bubble, data.wamid);
      if (ticks.advance(bubble.querySelector(".tick"), data.status, reason) && data.status === "failed") {
        thread.showFailure(bubble, `Not delivered: ${reason || "WhatsApp gave no reason"}`);
      }
      return;
    }
    if (data.conversation_id !== open || !thread.bubbleOf(data.message_id)) return;
    const response = await part(`/c/${open}/messages/${data.message_id}`);
    if (response.status === 200) thread.replace(data.message_id, await response.text());
  }
}

async function onResync() {
  const response = await part(`/list?${listQuery}`);
  const after = Number(response.headers.get("X-Wahub-Stream-After") || 0);
  if (response.ok) {
    list.innerHTML = await response.text();
    window.htmx.process(list);
  }
  const open = thread.openConversation();
  if (open) await window.htmx.ajax("GET", `/c/${open}`, { target: "#pane", swap: "innerHTML" });
  else conversationOpened();
  return after;
}

function onState(state) {
  const dot = document.getElementById("live");
  const label = state === "live" ? "Live updates: on" : "Live updates: reconnecting";
  dot.dataset.state = state;
  dot.title = label;
  dot.setAttribute("aria-label", label);
  document.getElementById("connection-notice").hidden = state !== "reconnecting";
}

// --- log out: through the API, which also revokes the refresh token ------------------------------------

document.getElementById("logout")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  await logOut();
  location.assign("/login");
});

listnav.setUp(document.querySelector(".sidebar"));
jump.setUp(document.getElementById("pane"));
workflow.setUp(document.getElementById("pane"), async (conversationId) => {
  await refreshHeader(conversationId);
  await refreshRow(conversationId);
});
conversationOpened();
new Live(Number(shell.dataset.streamAfter || 0), { onEvents, onResync, onState }).open();
