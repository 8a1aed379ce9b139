// Canned replies by "/": typing "/" (and the start of a code) at the start of an empty message lists the
// canned replies whose code begins so, with their fields filled for this conversation
// (GET /api/v1/canned-replies?conversation_id=…). Up/down choose, Enter or Tab puts the text in, Escape closes.

import { request } from "./session.js";

const SHOWN = 8;
const COMMAND = /^\/([a-z0-9_-]*)$/i;
let loaded = { conversation: "", replies: null };
let matches = [];
let active = 0;

export function setUp(form) {
  const text = form.querySelector("textarea");
  const list = document.getElementById("canned");
  if (!list) return;
  text.setAttribute("aria-controls", "canned");
  text.addEventListener("input", () => update(form, text, list));
  // Before the composer's own Enter (which sends): registered in the capture phase, it runs first.
  text.addEventListener("keydown", (event) => {
    if (list.hidden) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      highlight(list, text, (active + (event.key === "ArrowDown" ? 1 : -1) + matches.length) % Math.max(1, matches.length));
    } else if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey && matches.length) {
      event.preventDefault();
      event.stopImmediatePropagation();
      pick(text, list, matches[active]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      close(list, text);
    }
  }, { capture: true });
  text.addEventListener("blur", () => setTimeout(() => close(list, text), 200));
  list.addEventListener("mousedown", (event) => event.preventDefault()); // keep the focus in the text
  list.addEventListener("click", (event) => {
    const option = event.target.closest("[role=option][data-index]");
    if (option) pick(text, list, matches[Number(option.dataset.index)]);
  });
}

async function load(conversation) {
  if (loaded.conversation === conversation && loaded.replies) return loaded.replies;
  const response = await request(`/api/v1/canned-replies?conversation_id=${encodeURIComponent(conversation)}`);
  const replies = response.ok ? await response.json() : [];
  loaded = { conversation, replies };
  return replies;
}

async function update(form, text, list) {
  const command = COMMAND.exec(text.value);
  if (!command) {
    close(list, text);
    return;
  }
  const replies = await load(form.dataset.conversation);
  if (COMMAND.exec(text.value)?.[1] !== command[1]) return; // typed on meanwhile
  const typed = command[1].toLowerCase();
  matches = replies.filter((reply) => reply.code.startsWith(typed)).slice(0, SHOWN);
  const options = matches.map((reply, index) => {
    const option = document.createElement("li");
    option.id = `canned-${index}`;
    option.setAttribute("role", "option");
    option.dataset.index = String(index);
    const code = document.createElement("span");
    code.className = "canned-code";
    code.textContent = `/${reply.code}`;
    const body = document.createElement("span");
    body.className = "canned-text";
    body.textContent = reply.rendered ?? reply.text;
    option.append(code, body);
    return option;
  });
  if (!options.length) {
    const none = document.createElement("li");
    none.className = "canned-none";
    none.textContent = replies.length ? `No canned reply starts with /${typed}` : "No canned replies yet (an admin adds them).";
    options.push(none);
  }
  list.replaceChildren(...options);
  list.hidden = false;
  highlight(list, text, 0);
}

function highlight(list, text, index) {
  active = index;
  for (const option of list.querySelectorAll("[role=option]")) {
    option.setAttribute("aria-selected", String(Number(option.dataset.index) === index));
  }
  if (matches.length) {
    text.setAttribute("aria-activedescendant", `canned-${index}`);
    list.querySelector(`#canned-${index}`)?.scrollIntoView({ block: "nearest" });
  }
}

function pick(text, list, reply) {
  if (!reply) return;
  text.value = reply.rendered ?? reply.text;
  close(list, text);
  text.focus();
  text.setSelectionRange(text.value.length, text.value.length);
  text.dispatchEvent(new Event("input", { bubbles: true }));
}

function close(list, text) {
  list.hidden = true;
  list.replaceChildren();
  matches = [];
  text.removeAttribute("aria-activedescendant");
}
