// The workflow bar of the open conversation (partials/workflow.html): assign (to me, to someone, to nobody),
// resolve, reopen, link to an ERP record and remove a link, each through the API. The answer renews the header
// at once; the live stream moves the conversation between the lists (here and in every other inbox).

import { request } from "./session.js";

export function setUp(pane, onChanged) {
  pane.addEventListener("click", async (event) => {
    const button = event.target.closest(".workflow button");
    if (!button || button.type === "submit") return;
    const bar = button.closest(".workflow");
    const base = `/api/v1/conversations/${bar.dataset.conversation}`;
    if (button.dataset.assign) {
      await act(bar, `${base}/assign`, "POST", { user_id: button.dataset.assign }, onChanged);
    } else if (button.dataset.action) {
      await act(bar, `${base}/${button.dataset.action}`, "POST", null, onChanged);
    } else if (button.dataset.unlinkType !== undefined) {
      const query = new URLSearchParams({ entity_type: button.dataset.unlinkType, entity_id: button.dataset.unlinkId });
      await act(bar, `${base}/entities?${query}`, "DELETE", null, onChanged);
    }
  });
  pane.addEventListener("change", async (event) => {
    const select = event.target.closest(".workflow select[data-assign-select]");
    if (!select) return;
    const bar = select.closest(".workflow");
    const userId = select.value === "none" ? null : Number(select.value);
    await act(bar, `/api/v1/conversations/${bar.dataset.conversation}/assign`, "POST", { user_id: userId }, onChanged);
  });
  pane.addEventListener("submit", async (event) => {
    const form = event.target.closest(".workflow form[data-link-form]");
    if (!form) return;
    event.preventDefault();
    const bar = form.closest(".workflow");
    const body = { entity_type: form.elements.entity_type.value.trim(), entity_id: form.elements.entity_id.value.trim() };
    await act(bar, `/api/v1/conversations/${bar.dataset.conversation}/entities`, "POST", body, onChanged);
  });
}

// The header (and its bar) is rendered again on every change of its conversation: what is being typed in the
// link form stays, and so does the focus.
export function renew(header, html) {
  const inputs = [...header.querySelectorAll(".link-form input")];
  const typed = inputs.map((input) => input.value);
  const focused = inputs.indexOf(document.activeElement);
  header.innerHTML = html;
  const fresh = [...header.querySelectorAll(".link-form input")];
  fresh.forEach((input, n) => { input.value = typed[n] ?? ""; });
  if (focused >= 0) fresh[focused]?.focus();
}

async function act(bar, url, method, body, onChanged) {
  const error = bar.querySelector(".wf-error");
  const options = { method };
  if (body) {
    options.headers = { "Content-Type": "application/json" };
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await request(url, options);
  } catch {
    return show(error, "wahub could not be reached: try again.");
  }
  if (!response.ok) {
    const answer = await response.json().catch(() => null);
    return show(error, answer?.error?.message || `That did not work (${response.status}).`);
  }
  show(error, "");
  bar.querySelector(".link-form")?.reset(); // done: what was typed goes
  await onChanged(Number(bar.dataset.conversation));
}

function show(error, text) {
  if (!error) return;
  error.textContent = text;
  error.hidden = !text;
}
