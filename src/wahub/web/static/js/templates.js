// The template picker (a <dialog>): the conversation's approved templates come from the server as a form
// (GET /c/{id}/templates, escaped there), one fieldset per template with a field per variable. Typing fills
// the preview (as text, never HTML); sending builds Meta's template object from the fields and sends it
// through the API like any message. Templates go out whether or not the 24-hour window is open.

import { send } from "./sending.js";
import { part } from "./session.js";
import * as thread from "./thread.js";

export function setUp(form) {
  for (const opener of document.querySelectorAll("#composer-box .templates-open")) {
    opener.addEventListener("click", () => open(form));
  }
}

async function open(form) {
  const dialog = document.getElementById("template-picker");
  if (!dialog) return;
  const response = await part(`/c/${form.dataset.conversation}/templates`);
  if (!response.ok) return;
  dialog.innerHTML = await response.text();
  wire(form, dialog);
  dialog.showModal();
  dialog.querySelector("#template-choice, [data-close]")?.focus();
}

function wire(form, dialog) {
  const picker = dialog.querySelector("#template-form");
  const choice = dialog.querySelector("#template-choice");
  for (const closer of dialog.querySelectorAll("[data-close]")) closer.addEventListener("click", () => dialog.close());
  choice?.addEventListener("change", () => {
    for (const set of dialog.querySelectorAll("fieldset.template")) {
      const chosen = set.id === `template-${choice.value}`;
      set.hidden = !chosen;
      set.disabled = !chosen;
    }
    showError(dialog, "");
    chosen(dialog)?.querySelector("input")?.focus();
  });
  picker.addEventListener("input", (event) => {
    const input = event.target.closest("input[data-param]");
    if (!input) return;
    showError(dialog, "");
    for (const slot of input.closest("fieldset").querySelectorAll(`.param[data-param="${input.dataset.param}"]`)) {
      slot.textContent = input.value || `{{${input.dataset.name}}}`;
      slot.classList.toggle("filled", Boolean(input.value));
    }
  });
  picker.addEventListener("submit", (event) => {
    event.preventDefault();
    const set = chosen(dialog);
    if (!set) {
      showError(dialog, "Choose a template first.");
      return;
    }
    const missing = [...set.querySelectorAll("input[data-param]")].find((input) => !input.checkValidity());
    if (missing) {
      showError(dialog, `Fill in “${set.querySelector(`label[for="${missing.id}"]`).textContent}”${missing.dataset.media ? " with an https link" : ""}.`);
      missing.focus();
      return;
    }
    const message = { type: "template", template: build(set) };
    const preview = set.querySelector(".template-preview .text").textContent;
    dialog.close();
    sendTemplate(form, message, thread.pendingBubble(preview));
  });
}

// Sent, the bubble becomes the server's rendering: the template's header, text, footer and buttons.
async function sendTemplate(form, message, bubble) {
  const id = await send(form, message, bubble);
  if (id === null) return;
  const response = await part(`/c/${form.dataset.conversation}/messages/${id}`);
  if (response.status === 200) thread.replace(id, await response.text());
}

function chosen(dialog) {
  const value = dialog.querySelector("#template-choice")?.value;
  return value ? dialog.querySelector(`#template-${CSS.escape(value)}`) : null;
}

function showError(dialog, text) {
  const error = dialog.querySelector("#template-error");
  error.textContent = text;
  error.hidden = !text;
}

// Meta's template object: name, language, and a component per part with parameters, in the variables'
// order (named ones carry their parameter_name); a URL button's variable goes as its button's parameter.
export function build(set) {
  const named = set.hasAttribute("data-named");
  const components = [];
  const buttons = new Map();
  const parts = { header: [], body: [] };
  for (const input of set.querySelectorAll("input[data-param]")) {
    const kind = input.dataset.component;
    let parameter;
    if (input.dataset.media) {
      parameter = { type: input.dataset.media, [input.dataset.media]: { link: input.value.trim() } };
    } else {
      parameter = { type: "text", text: input.value };
      if (named && kind !== "button") parameter.parameter_name = input.dataset.name;
    }
    if (kind === "button") {
      const index = input.dataset.button;
      if (!buttons.has(index)) buttons.set(index, []);
      buttons.get(index).push(parameter);
    } else {
      parts[kind].push(parameter);
    }
  }
  for (const kind of ["header", "body"]) {
    if (parts[kind].length) components.push({ type: kind, parameters: parts[kind] });
  }
  for (const [index, parameters] of buttons) {
    components.push({ type: "button", sub_type: "url", index, parameters });
  }
  const template = { name: set.dataset.name, language: { code: set.dataset.language } };
  if (components.length) template.components = components;
  return template;
}
