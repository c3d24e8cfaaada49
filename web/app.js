// The dashboard: sign in, upload, and watch each file go pending -> processed | failed.
// Every user-controlled string is rendered with textContent, never as HTML.

import { accessToken, completeSignIn, signIn, signOut, username } from "./auth.js";
import { createClient } from "./api.js";

// Pending files are polled one by one, starting fast and backing off.
const POLL_FIRST_MS = 1000;
const POLL_MAX_MS = 30000;
const PARALLEL_FILES = 3;
const $ = (id) => document.getElementById(id);

let config;
let api;
let cursor = null;
let pollTimer = null;
let pollDelay = POLL_FIRST_MS;

function show(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.className = kind;
  box.hidden = !text;
}

function formatSize(bytes) {
  if (bytes == null) return "";
  const units = ["B", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

// A one-line summary of the extractor's metadata, by kind.
export function describe(metadata) {
  if (!metadata) return "";
  const m = metadata;
  switch (m.kind) {
    case "image": return `${m.format} ${m.width}×${m.height}${m.exif?.model ? `, ${m.exif.model}` : ""}`;
    case "pdf": return `${m.pages} page${m.pages === 1 ? "" : "s"}${m.title ? `, “${m.title}”` : ""}${m.encrypted ? ", encrypted" : ""}`;
    case "csv": case "tsv": return `${m.rows ?? `~${m.rowsEstimated}`} rows × ${m.columns?.length ?? 0} columns`;
    case "json": return m.topLevel === "array" ? `array of ${m.length}` : `object, ${m.keys?.length ?? 0} keys`;
    case "text": return `${m.lines} lines, ${m.encoding}`;
    case "zip": case "docx": case "xlsx": case "pptx": return `${m.kind}, ${m.entries} entries`;
    default: return m.kind;
  }
}

function cell(row, text, className) {
  const td = row.insertCell();
  if (className) td.className = className;
  td.textContent = text ?? "";
  return td;
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

function renderRow(file) {
  const row = document.createElement("tr");
  row.dataset.status = file.status;
  row.dataset.fileId = file.fileId;
  cell(row, file.filename, "name");
  cell(row, formatSize(file.size));
  const status = cell(row, "");
  const badge = document.createElement("span");
  badge.className = `status ${file.status}`;
  badge.textContent = file.status;
  status.append(badge);
  if (file.error) {
    const reason = document.createElement("span");
    reason.className = "reason";
    reason.textContent = file.error.message;
    status.append(reason);
  }
  cell(row, describe(file.metadata), "details");
  cell(row, new Date(file.createdAt).toLocaleString());
  const actions = cell(row, "", "actions");
  if (file.status === "processed") actions.append(button("Download", () => download(file)));
  actions.append(button("Delete", () => remove(file, row)));
  return row;
}

async function loadFiles({ append = false } = {}) {
  const page = await api.listFiles(append ? cursor : null);
  const body = $("files").tBodies[0];
  if (!append) body.replaceChildren();
  for (const file of page.items) body.append(renderRow(file));
  cursor = page.nextCursor;
  $("more").hidden = !cursor;
  $("empty").hidden = body.rows.length > 0;
  pollDelay = POLL_FIRST_MS;
  schedulePoll();
}

// Only the rows still pending are asked about, in place, so pages added with
// "Load more" stay; a hidden tab does not poll at all.
function schedulePoll() {
  clearTimeout(pollTimer);
  if (!document.querySelector("#files tbody tr[data-status=pending]")) return;
  pollTimer = setTimeout(pollPending, pollDelay);
  pollDelay = Math.min(pollDelay * 2, POLL_MAX_MS);
}

async function pollPending() {
  if (document.hidden) return;
  const rows = [...document.querySelectorAll("#files tbody tr[data-status=pending]")];
  for (const row of rows) {
    try {
      const file = await api.getFile(row.dataset.fileId);
      if (file.status !== "pending") row.replaceWith(renderRow(file));
    } catch (error) {
      if (error.status === 404) row.remove();
      else return report(error);
    }
  }
  schedulePoll();
}

async function download(file) {
  const { url } = await api.downloadUrl(file.fileId).catch(report) || {};
  if (url) window.location.assign(url);
}

async function remove(file, row) {
  if (!window.confirm(`Delete ${file.filename}?`)) return;
  try {
    await api.deleteFile(file.fileId);
    row.remove();
    $("empty").hidden = $("files").tBodies[0].rows.length > 0;
  } catch (error) {
    report(error);
  }
}

async function uploadOne(file) {
  const item = document.createElement("li");
  const name = document.createElement("span");
  name.textContent = file.name;
  const bar = document.createElement("progress");
  bar.max = 1;
  bar.value = 0;
  item.append(name, bar);
  $("uploads").append(item);
  try {
    await api.upload(file, (fraction) => { bar.value = fraction; });
    item.remove();
  } catch (error) {
    bar.remove();
    const reason = document.createElement("span");
    reason.className = "reason";
    reason.textContent = error.message;
    item.append(reason);
  }
}

async function uploadAll(files) {
  const queue = [...files];
  const worker = async () => { while (queue.length) await uploadOne(queue.shift()); };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_FILES, queue.length) }, worker));
  await loadFiles();
}

function report(error) {
  if (error.status === 401) {
    $("session").hidden = true;
    $("signed-in").hidden = true;
    $("signed-out").hidden = false;
  }
  show(error.message);
}

function wireUploads() {
  const drop = $("drop");
  $("picker").addEventListener("change", (event) => uploadAll(event.target.files).catch(report));
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    uploadAll(event.dataTransfer.files).catch(report);
  });
  $("refresh").addEventListener("click", () => loadFiles().catch(report));
  $("more").addEventListener("click", () => loadFiles({ append: true }).catch(report));
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && api) {
    pollDelay = POLL_FIRST_MS;
    schedulePoll();
  }
});

async function main() {
  config = await (await fetch("config.json", { cache: "no-store" })).json();
  $("sign-in").addEventListener("click", () => signIn(config));
  $("sign-out").addEventListener("click", () => signOut(config));
  const tokens = await completeSignIn(config).catch((error) => { show(error.message); return null; });
  if (!tokens) {
    $("signed-out").hidden = false;
    return;
  }
  api = createClient(config, () => accessToken(config));
  $("user").textContent = username();
  $("session").hidden = false;
  $("signed-in").hidden = false;
  wireUploads();
  await loadFiles().catch(report);
}

main();
