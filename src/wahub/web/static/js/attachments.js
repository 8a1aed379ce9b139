// Files: chosen with the picker, dropped on the conversation or pasted into the text. Each is checked against
// WhatsApp's types and sizes before anything is uploaded (the server's own table, domain.MEDIA_TYPES, handed
// over by the page), shown with a caption field, then uploaded (POST /api/v1/media) and sent by its id.
// A refused upload or send keeps its reason on the bubble.

import { send, reasonOf, refuse } from "./sending.js";
import { part, request } from "./session.js";
import * as thread from "./thread.js";

const CAPTIONED = new Set(["image", "video", "document"]);
const KIND_NAMES = { image: "photos", video: "videos", audio: "audio files", document: "documents", sticker: "stickers" };
let limits = null;
let preview = null; // the blob: URL of the file on show

function table() {
  limits ??= JSON.parse(document.getElementById("shell").dataset.mediaLimits);
  return limits;
}

export function setUp(form) {
  const input = document.getElementById("attach-input");
  document.getElementById("attach-open")?.addEventListener("click", () => input.click());
  input?.addEventListener("change", () => {
    if (input.files.length) choose(form, [...input.files]);
    input.value = "";
  });
  const section = document.getElementById("conversation");
  section?.addEventListener("dragover", (event) => {
    if (!carriesFiles(event) || !writable(form)) return;
    event.preventDefault();
    section.classList.add("dropping");
  });
  section?.addEventListener("dragleave", (event) => {
    if (!section.contains(event.relatedTarget)) section.classList.remove("dropping");
  });
  section?.addEventListener("drop", (event) => {
    section.classList.remove("dropping");
    if (!carriesFiles(event)) return;
    event.preventDefault();
    if (writable(form)) choose(form, [...event.dataTransfer.files]);
  });
  form.querySelector("textarea").addEventListener("paste", (event) => {
    const files = [...(event.clipboardData?.files || [])];
    if (!files.length) return;
    event.preventDefault();
    choose(form, files);
  });
}

function carriesFiles(event) {
  return [...(event.dataTransfer?.types || [])].includes("Files");
}

function writable(form) {
  return !form.querySelector("textarea").disabled;
}

export function close() {
  const panel = document.getElementById("attachment");
  if (panel) {
    panel.hidden = true;
    panel.replaceChildren();
  }
  if (preview) URL.revokeObjectURL(preview);
  preview = null;
}

// What WhatsApp makes of `file`: { mime, as, max }, or { error } saying why it cannot be sent.
export function check(file) {
  const { types, extensions } = table();
  let mime = (file.type || "").split(";")[0].trim().toLowerCase();
  const dot = file.name.lastIndexOf(".");
  const extension = dot >= 0 ? file.name.slice(dot).toLowerCase() : "";
  if ((!mime || mime === "application/octet-stream") && extensions[extension]) mime = extensions[extension];
  const entry = types[mime];
  if (!entry) {
    const what = extension ? `${extension} files` : `files of type ${mime || "unknown"}`;
    return { error: `WhatsApp does not take ${what}. It takes ${accepted()}.` };
  }
  if (file.size === 0) return { error: `${file.name} is empty.` };
  if (file.size > entry.max) {
    return { error: `${file.name} is ${size(file.size)}: WhatsApp takes ${KIND_NAMES[entry.as]} of at most ${size(entry.max)}.` };
  }
  return { mime, as: entry.as, max: entry.max };
}

function accepted() {
  const { types, extensions } = table();
  const byKind = {};
  for (const [extension, mime] of Object.entries(extensions)) {
    const kind = types[mime]?.as;
    if (kind) (byKind[kind] ||= []).push(extension);
  }
  return Object.keys(KIND_NAMES).filter((kind) => byKind[kind]).map((kind) => `${KIND_NAMES[kind]} (${byKind[kind].join(" ")})`).join(", ");
}

export function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

function choose(form, files) {
  close();
  const panel = document.getElementById("attachment");
  const file = files[0];
  const checked = check(file);
  const actions = element("div", "attach-actions");
  const cancel = button("Cancel", "secondary", () => { close(); form.querySelector("textarea").focus(); });
  if (checked.error) {
    const error = element("p", "attach-error", `Not sent: ${checked.error}`);
    error.setAttribute("role", "alert");
    actions.append(cancel);
    panel.append(error, actions);
    panel.hidden = false;
    cancel.textContent = "Close";
    cancel.focus();
    return;
  }
  preview = URL.createObjectURL(file);
  const about = element("div", "attach-about");
  about.append(shown(file, checked), element("p", "attach-name", `${file.name} · ${size(file.size)}`));
  if (files.length > 1) about.append(element("p", "attach-hint", `One file at a time: ${files.length - 1} more not attached.`));
  panel.append(about);
  let caption = null;
  if (CAPTIONED.has(checked.as)) {
    caption = document.createElement("textarea");
    caption.id = "attach-caption";
    caption.rows = 1;
    caption.maxLength = 1024;
    caption.placeholder = "Add a caption";
    const label = element("label", "visually-hidden", "Caption");
    label.htmlFor = caption.id;
    caption.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        go.click();
      }
    });
    panel.append(label, caption);
  }
  const go = button("Send", "primary", () => {
    const text = caption ? caption.value.trim() : "";
    const url = preview;
    preview = null; // the pending bubble shows it now
    close();
    sendFile(form, file, checked, text, url);
  });
  go.id = "attach-send";
  actions.append(cancel, go);
  panel.append(actions);
  panel.hidden = false;
  (caption || go).focus();
}

// The file as the page can show it before it is sent: the picture or the player, or a document's chip.
function shown(file, checked) {
  if (checked.as === "image" || checked.as === "sticker") {
    const img = document.createElement("img");
    img.src = preview;
    img.alt = `Preview of ${file.name}`;
    return img;
  }
  if (checked.as === "video" || checked.as === "audio") {
    const player = document.createElement(checked.as);
    player.src = preview;
    player.controls = true;
    return player;
  }
  const dot = file.name.lastIndexOf(".");
  const extension = dot > 0 ? file.name.slice(dot + 1).toUpperCase() : "";
  return element("span", "doc-icon", /^[A-Z0-9]{1,4}$/.test(extension) ? extension : "FILE");
}

async function sendFile(form, file, checked, caption, url) {
  const bubble = thread.pendingBubble(caption);
  if (!caption) bubble.querySelector(".text").remove();
  const look = checked.as === "image" || checked.as === "sticker" ? document.createElement("img") : element("p", "kind", file.name);
  if (look.tagName === "IMG") {
    look.src = url;
    look.alt = file.name;
  }
  const media = element("div", "media");
  media.append(look);
  bubble.prepend(media);
  bubble.classList.add("has-media", `media-${checked.as}`);

  const body = new FormData();
  body.append("file", file, file.name);
  body.append("type", checked.mime);
  if (form.dataset.from) body.append("from", form.dataset.from);
  let uploaded;
  try {
    const response = await request("/api/v1/media", { method: "POST", body });
    const answer = await response.json().catch(() => null);
    if (response.status !== 201 || !answer?.id) {
      refuse(bubble, `Not sent: the upload was refused: ${reasonOf(response, answer)}`);
      return;
    }
    uploaded = answer;
  } catch {
    refuse(bubble, "Not sent: the file could not be uploaded (wahub cannot be reached).");
    return;
  }
  const content = { wahub_media_id: uploaded.id };
  if (caption && CAPTIONED.has(checked.as)) content.caption = caption;
  if (checked.as === "document") content.filename = file.name;
  const id = await send(form, { type: checked.as, [checked.as]: content }, bubble);
  if (id === null) return;
  // The server's rendering: the file through its signed link, as everyone else sees it.
  const response = await part(`/c/${form.dataset.conversation}/messages/${id}`);
  if (response.status === 200) thread.replace(id, await response.text());
  URL.revokeObjectURL(url);
}

function element(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

function button(text, className, onClick) {
  const made = element("button", className, text);
  made.type = "button";
  made.addEventListener("click", onClick);
  return made;
}
