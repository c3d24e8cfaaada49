// The dashboard: sign-in, the upload queue and the files. Everything the API
// or S3 says is shown in words; status changes are announced to screen readers.

import { accessToken, completeSignIn, signIn, signOut, username } from "./auth.js";
import { createClient } from "./api.js";
import { FileList } from "./files.js";
import { formatDuration, formatSize, kindLabel } from "./format.js";
import { Upload, check, fingerprint, resumable } from "./uploads.js";

const PARALLEL_FILES = 3;
// Speed is measured over the last few seconds, so a stall shows quickly.
const SPEED_WINDOW_MS = 5000;
const $ = (id) => document.getElementById(id);

let config;
let api;
let files;
let usage = null;
const queue = [];
let running = 0;

// --- Messages -------------------------------------------------------------------

function show(text, kind = "error") {
  $("message-text").textContent = text;
  $("message").className = kind;
  $("message").hidden = !text;
}

function announce(text) {
  // Cleared first, so the same words twice are announced twice.
  $("announcer").textContent = "";
  requestAnimationFrame(() => { $("announcer").textContent = text; });
}

function report(error) {
  if (error?.status === 401) {
    $("session").hidden = true;
    $("signed-in").hidden = true;
    $("signed-out").hidden = false;
  }
  show(error?.message || String(error));
}

// --- Usage ----------------------------------------------------------------------

async function refreshUsage() {
  try {
    usage = await api.usage();
  } catch (error) {
    usage = null;
    $("usage").hidden = true;
    return;
  }
  const { bytes, files: count } = usage;
  $("usage-meter").max = bytes.allowed;
  $("usage-meter").value = bytes.used;
  $("usage-text").textContent = `${formatSize(bytes.used)} of ${formatSize(bytes.allowed)} used · `
    + `${count.used.toLocaleString("en")} of ${count.allowed.toLocaleString("en")} files`;
  $("usage").hidden = false;
}

// What is left for new files, less what this page is about to ask for.
function room() {
  if (!usage) return null;
  const waiting = queue.filter((u) => !u.fileId && !["failed", "cancelled", "done"].includes(u.state));
  return {
    bytes: usage.bytes.allowed - usage.bytes.used - waiting.reduce((sum, u) => sum + u.file.size, 0),
    files: usage.files.allowed - usage.files.used - waiting.length,
  };
}

// --- The upload queue -----------------------------------------------------------

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

function actionButton(label, onClick, ariaLabel, className) {
  const b = element("button", className, label);
  b.type = "button";
  b.setAttribute("aria-label", ariaLabel);
  b.addEventListener("click", onClick);
  return b;
}

function uploadItem(name, size) {
  const item = element("li", "upload");
  const icon = element("span", "preview icon", kindLabel({ filename: name }));
  icon.setAttribute("aria-hidden", "true");
  const main = element("div", "upload-main");
  const title = element("div", "upload-name", name);
  const bar = element("progress");
  bar.max = size;
  bar.value = 0;
  bar.setAttribute("aria-label", `Upload of ${name}`);
  const stats = element("div", "upload-stats");
  const actions = element("div", "upload-actions");
  main.append(title, bar, stats);
  item.append(icon, main, actions);
  $("uploads").append(item);
  $("uploads-section").hidden = false;
  return { item, bar, stats, actions };
}

function dismiss(item) {
  item.remove();
  $("uploads-section").hidden = !$("uploads").children.length;
}

function track(upload) {
  const view = uploadItem(upload.file.name, upload.file.size);
  view.item.dataset.fingerprint = fingerprint(upload.file);
  let samples = [];
  const name = upload.file.name;

  const progress = () => {
    const now = performance.now();
    const sent = upload.sent;
    samples.push([now, sent]);
    samples = samples.filter(([t]) => now - t <= SPEED_WINDOW_MS);
    const [t0, s0] = samples[0];
    const speed = now - t0 > 400 ? ((sent - s0) * 1000) / (now - t0) : 0;
    view.bar.value = sent;
    const parts = [`${formatSize(sent)} of ${formatSize(upload.file.size)}`];
    if (speed > 0) parts.push(`${formatSize(speed)}/s`, `${formatDuration((upload.file.size - sent) / speed)} left`);
    if (upload.resumedBytes) parts.push(`resumed: ${formatSize(upload.resumedBytes)} were already uploaded`);
    view.stats.textContent = parts.join(" · ");
  };

  const state = () => {
    view.item.dataset.state = upload.state;
    view.actions.replaceChildren();
    switch (upload.state) {
      case "hashing":
        view.stats.textContent = "Computing the checksum…";
        view.actions.append(actionButton("Cancel", () => cancel(upload), `Cancel the upload of ${name}`));
        break;
      case "uploading":
        samples = [];
        progress();
        view.actions.append(actionButton("Cancel", () => cancel(upload), `Cancel the upload of ${name}`));
        break;
      case "completing":
        view.stats.textContent = "Assembling the parts…";
        break;
      case "done":
        announce(`${name} is uploaded; we are examining it now.`);
        dismiss(view.item);
        if (upload.fileId) api.getFile(upload.fileId).then((file) => files.upsert(file)).catch(report);
        refreshUsage();
        break;
      case "failed":
        view.stats.textContent = upload.error.message;
        view.stats.classList.add("reason");
        announce(`The upload of ${name} failed: ${upload.error.message}`);
        view.actions.append(
          actionButton("Retry", () => { view.stats.classList.remove("reason"); enqueue(upload); }, `Retry the upload of ${name}`),
          actionButton("Cancel", () => cancel(upload), `Cancel the upload of ${name}`),
        );
        refreshUsage();
        break;
      case "cancelling":
        view.stats.textContent = "Cancelling…";
        break;
      case "cancelled":
        view.stats.textContent = "Cancelled.";
        announce(`The upload of ${name} was cancelled.`);
        view.actions.append(actionButton("Dismiss", () => dismiss(view.item), `Dismiss ${name}`));
        break;
      default:
        view.stats.textContent = "Waiting…";
    }
  };
  upload.addEventListener("progress", progress);
  upload.addEventListener("state", state);
  state();
}

async function cancel(upload) {
  await upload.cancel();
  refreshUsage();
}

function enqueue(upload) {
  queue.push(upload);
  upload.set("queued");
  pump();
}

function pump() {
  while (running < PARALLEL_FILES) {
    const next = queue.find((u) => u.state === "queued");
    if (!next) return;
    running += 1;
    next.start().finally(() => {
      running -= 1;
      queue.splice(queue.indexOf(next), 1);
      pump();
    });
  }
}

async function uploadAll(list) {
  show("");
  await refreshUsage();
  const owner = username();
  const refused = [];
  for (const file of list) {
    const resuming = resumable.find(owner, file);
    // A resumed upload already holds its room; only a new file is measured against what is left.
    const verdict = check(file, config, resuming ? null : room());
    if (verdict.problem) {
      refused.push(verdict.problem);
      continue;
    }
    document.querySelector(`#uploads li[data-paused="${CSS.escape(fingerprint(file))}"]`)?.remove();
    const upload = new Upload(api, file, { owner, contentType: verdict.contentType, multipartThreshold: config.multipartThreshold });
    track(upload);
    enqueue(upload);
  }
  if (refused.length) {
    show(refused.join(" "));
    announce(refused.join(" "));
  }
}

// Uploads a reload or a crash interrupted: the API says which parts S3 holds;
// the person picks the file again to send the rest.
async function showPaused() {
  for (const entry of resumable.all(username())) {
    let parts;
    try {
      ({ parts } = await api.listParts(entry.fileId));
    } catch (error) {
      if ([404, 409].includes(error.status)) resumable.forget(entry.fileId);
      continue;
    }
    const held = parts.reduce((sum, part) => sum + part.size, 0);
    const view = uploadItem(entry.name, entry.size);
    view.item.dataset.state = "paused";
    view.item.dataset.paused = entry.fingerprint;
    view.bar.value = held;
    view.stats.textContent = `Paused: ${parts.length} of ${entry.partCount} parts (${formatSize(held)}) are uploaded. `
      + "Choose the same file again to send the rest.";
    view.actions.append(
      actionButton("Choose file", () => $("picker").click(), `Choose ${entry.name} again to resume`),
      actionButton("Discard", async () => {
        resumable.forget(entry.fileId);
        dismiss(view.item);
        await api.abortUpload(entry.fileId).catch(report);
        refreshUsage();
      }, `Discard the upload of ${entry.name}`),
    );
  }
}

function wireUploads() {
  const drop = $("drop");
  $("picker").addEventListener("change", (event) => {
    uploadAll([...event.target.files]).catch(report);
    event.target.value = ""; // the same file can be picked again
  });
  $("empty-pick").addEventListener("click", () => $("picker").click());
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    uploadAll([...event.dataTransfer.files]).catch(report);
  });
  $("choose").addEventListener("click", (event) => { event.stopPropagation(); $("picker").click(); });
  drop.addEventListener("click", () => $("picker").click());
}

async function main() {
  config = await (await fetch("config.json", { cache: "no-store" })).json();
  $("sign-in").addEventListener("click", () => signIn(config));
  $("sign-out").addEventListener("click", () => signOut(config));
  $("message-close").addEventListener("click", () => show(""));
  const tokens = await completeSignIn(config).catch((error) => { show(error.message); return null; });
  if (!tokens) {
    $("signed-out").hidden = false;
    return;
  }
  api = createClient(config, () => accessToken(config));
  $("user").textContent = username();
  $("session").hidden = false;
  $("signed-in").hidden = false;
  files = new FileList(api, { report, announce, changed: refreshUsage });
  wireUploads();
  await Promise.all([files.load().catch(report), refreshUsage(), showPaused()]);
}

main();
