// The caller's files: the list (rows on a wide screen, cards on a phone), the
// polling of pending files, and the details panel. Text from the API is always
// set with textContent, never as HTML.

import { describe, describeChecksum, exactTime, failureText, fieldsOf, formatSize, kindLabel, relativeTime, scanLabel,
  scanReleased, scanWhy } from "./format.js";

// Pending files are polled one by one, starting fast and backing off.
const POLL_FIRST_MS = 1000;
const POLL_MAX_MS = 30000;
const RELATIVE_TIMES_EVERY_MS = 30000;
const $ = (id) => document.getElementById(id);

function element(tag, { className, text, attrs } = {}, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function button(label, onClick, { className, ariaLabel } = {}) {
  const b = element("button", { className, text: label, attrs: { type: "button", ...(ariaLabel ? { "aria-label": ariaLabel } : {}) } });
  b.addEventListener("click", (event) => { event.stopPropagation(); onClick(event); });
  return b;
}

function when(iso) {
  return element("time", { text: relativeTime(iso), attrs: { datetime: iso, title: exactTime(iso), "data-relative": "" } });
}

export function statusChip(file) {
  return element("span", { className: `status ${file.status}`, text: file.status });
}

export function scanChip(file) {
  return element("span", { className: `scan scan-${file.scan?.status || "pending"}`, text: scanLabel(file.scan) });
}

// Still changing: being processed, or waiting for its malware scan.
function waiting(file) {
  return file.status === "pending" || file.scan?.status === "pending";
}

function downloadable(file) {
  return file.status === "processed" && scanReleased(file.scan);
}

function preview(file, large) {
  if (file.thumbnailUrl) {
    const img = element("img", { attrs: { src: file.thumbnailUrl, alt: large ? `Preview of ${file.filename}` : "", loading: "lazy", decoding: "async" } });
    return element("span", { className: large ? "preview large" : "preview" }, img);
  }
  return element("span", { className: `preview icon kind-${(file.metadata?.kind || "file")}`, text: kindLabel(file), attrs: { "aria-hidden": "true" } });
}

export class FileList {
  constructor(api, { report, announce, changed }) {
    this.api = api;
    this.report = report;
    this.announce = announce;
    this.changed = changed; // after every write: the usage shown is refreshed
    this.cursor = null;
    this.files = new Map();
    this.pollTimer = null;
    this.pollDelay = POLL_FIRST_MS;
    this.opener = null;
    this.openId = null;
    this.list = $("files");
    $("refresh").addEventListener("click", () => this.load().catch(report));
    $("more").addEventListener("click", () => this.load({ append: true }).catch(report));
    $("details-close").addEventListener("click", () => $("details").close());
    $("details").addEventListener("close", () => this.closed());
    // A click on the backdrop (outside the panel's box) closes it too.
    $("details").addEventListener("click", (event) => { if (event.target === $("details")) $("details").close(); });
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) this.restartPolling();
    });
    setInterval(() => this.refreshTimes(), RELATIVE_TIMES_EVERY_MS);
  }

  async load({ append = false } = {}) {
    const page = await this.api.listFiles(append ? this.cursor : null);
    if (!append) {
      this.list.replaceChildren();
      this.files.clear();
    }
    for (const file of page.items) this.list.append(this.row(file));
    this.cursor = page.nextCursor;
    $("more").hidden = !this.cursor;
    this.showEmpty();
    this.restartPolling();
  }

  // A file that just arrived, or changed: its row is replaced, or put first.
  upsert(file) {
    const old = this.rowOf(file.fileId);
    const fresh = this.row(file);
    if (old) old.replaceWith(fresh);
    else this.list.prepend(fresh);
    this.showEmpty();
    if (this.openId === file.fileId) this.fillDetails(file);
    this.restartPolling();
  }

  removeRow(fileId) {
    this.rowOf(fileId)?.remove();
    this.files.delete(fileId);
    this.showEmpty();
  }

  rowOf(fileId) {
    return this.list.querySelector(`li[data-file-id="${CSS.escape(fileId)}"]`);
  }

  showEmpty() {
    $("empty").hidden = this.list.children.length > 0;
    $("files-head").hidden = this.list.children.length === 0;
  }

  row(file) {
    this.files.set(file.fileId, file);
    const open = element("button", { className: "open", text: file.filename,
      attrs: { type: "button", "aria-haspopup": "dialog", "aria-label": `${file.filename}: show details` } });
    open.addEventListener("click", (event) => { event.stopPropagation(); this.open(file.fileId, open); });
    const status = element("span", { className: "cell status-cell" }, statusChip(file), " ", scanChip(file));
    if (file.error) status.append(element("span", { className: "reason", text: failureText(file.error) }));
    if (scanWhy(file.scan)) status.append(element("span", { className: "reason", text: scanWhy(file.scan) }));
    const actions = element("span", { className: "cell actions" });
    if (file.status === "processed") {
      const download = button("Download", () => this.download(file.fileId), { ariaLabel: `Download ${file.filename}` });
      // Shown, but only usable once the scan released it: the user sees what is coming.
      download.disabled = !downloadable(file);
      if (download.disabled) download.title = scanLabel(file.scan);
      actions.append(download);
    }
    actions.append(button("Delete", () => this.remove(file.fileId), { className: "danger", ariaLabel: `Delete ${file.filename}` }));
    const row = element("li", { className: "file-row", attrs: { "data-file-id": file.fileId, "data-status": file.status,
      "data-scan": file.scan?.status || "", ...(waiting(file) ? { "data-waiting": "" } : {}) } },
      element("span", { className: "cell thumb" }, preview(file, false)),
      element("span", { className: "cell name" }, open, element("span", { className: "summary", text: describe(file.metadata) })),
      element("span", { className: "cell size", text: formatSize(file.size) }),
      status,
      element("span", { className: "cell when" }, when(file.createdAt)),
      actions);
    row.addEventListener("click", () => this.open(file.fileId, open));
    return row;
  }

  refreshTimes() {
    for (const time of document.querySelectorAll("time[data-relative]")) time.textContent = relativeTime(time.dateTime);
  }

  // --- Polling: only the pending files are asked about, in place, so pages
  // added with "Load more" stay; a hidden tab does not poll at all.

  restartPolling() {
    this.pollDelay = POLL_FIRST_MS;
    this.schedulePoll();
  }

  schedulePoll() {
    clearTimeout(this.pollTimer);
    if (!this.list.querySelector("li[data-waiting]")) return;
    this.pollTimer = setTimeout(() => this.poll(), this.pollDelay);
    this.pollDelay = Math.min(this.pollDelay * 2, POLL_MAX_MS);
  }

  async poll() {
    if (document.hidden) return;
    for (const row of [...this.list.querySelectorAll("li[data-waiting]")]) {
      const { fileId } = row.dataset;
      try {
        const file = await this.api.getFile(fileId);
        if (file.status === row.dataset.status && (file.scan?.status || "") === row.dataset.scan) continue;
        const old = this.rowOf(fileId);
        const focused = old?.contains(document.activeElement);
        old?.replaceWith(this.row(file));
        if (focused) this.rowOf(fileId)?.querySelector("button.open")?.focus();
        if (this.openId === fileId) this.fillDetails(file);
        this.announce(file.status === "failed" ? `${file.filename} failed: ${failureText(file.error)}`
          : scanWhy(file.scan) ? `${file.filename}: ${scanLabel(file.scan)}` : `${file.filename} is ${file.status}.`);
        this.changed();
      } catch (error) {
        if (error.status === 404) this.removeRow(fileId);
        else return this.report(error);
      }
    }
    this.schedulePoll();
  }

  // --- Writes ----------------------------------------------------------------

  async download(fileId) {
    try {
      const { url } = await this.api.downloadUrl(fileId);
      window.location.assign(url);
    } catch (error) {
      this.report(error);
    }
  }

  async remove(fileId) {
    const file = this.files.get(fileId);
    if (!(await confirmDelete(file.filename))) return;
    try {
      await this.api.deleteFile(fileId);
      if (this.openId === fileId) $("details").close();
      this.removeRow(fileId);
      this.announce(`${file.filename} was deleted.`);
      this.changed();
    } catch (error) {
      this.report(error);
    }
  }

  // --- The details panel -------------------------------------------------------

  open(fileId, opener) {
    this.opener = opener;
    this.openId = fileId;
    this.fillDetails(this.files.get(fileId));
    const dialog = $("details");
    if (!dialog.open) dialog.showModal();
    $("details-close").focus();
    // The listing may be minutes old; the panel shows the file as it is now.
    this.api.getFile(fileId).then((file) => { if (this.openId === fileId) this.upsert(file); }).catch((error) => {
      if (error.status === 404) { dialog.close(); this.removeRow(fileId); }
      this.report(error);
    });
  }

  closed() {
    const fileId = this.openId;
    this.openId = null;
    // Focus goes back where it came from: the row's button, or the list.
    const target = (fileId && this.rowOf(fileId)?.querySelector("button.open")) || (this.opener?.isConnected && this.opener) || $("files-title");
    target.focus();
  }

  fillDetails(file) {
    $("details-title").textContent = file.filename;
    const facts = [["Status", statusChip(file)], ["Malware scan", scanChip(file)]];
    if (scanWhy(file.scan)) facts.push(["Why blocked", scanWhy(file.scan)]);
    if (file.error) {
      facts.push(["Why", failureText(file.error)], ["Error code", file.error.code, "mono"], ["Details", file.error.message]);
    }
    facts.push(
      ["Size", `${formatSize(file.size)} (${(file.size ?? 0).toLocaleString("en")} bytes)`],
      ["Uploaded", element("span", {}, when(file.createdAt), ` · ${exactTime(file.createdAt)}`)],
      ["Declared type", file.contentType || "none"],
    );
    if (file.metadata?.sniffedType) facts.push(["Detected type", file.metadata.sniffedType]);
    facts.push(["SHA-256", describeChecksum(file.sha256) || "not recorded", "mono"]);
    const sections = [];
    if (file.thumbnailUrl) sections.push(preview(file, true));
    sections.push(definitions(facts));
    const extracted = fieldsOf(file.metadata);
    if (extracted.length) {
      sections.push(element("h3", { text: `What we found (${file.metadata.kind})` }), definitions(extracted));
    } else if (file.status === "pending") {
      sections.push(element("p", { className: "hint", text: "We are still examining this file; its details appear here once it is processed." }));
    }
    $("details-body").replaceChildren(...sections);
    const download = $("details-download");
    download.hidden = file.status !== "processed";
    download.disabled = !downloadable(file);
    download.onclick = () => this.download(file.fileId);
    $("details-delete").onclick = () => this.remove(file.fileId);
  }
}

// [label, value, className] as a <dl>; a value is text, a node, a list, or a
// table ({ caption, head, rows }).
function definitions(pairs) {
  const list = element("dl", { className: "facts" });
  for (const [label, value, className] of pairs) {
    const dd = element("dd", { className });
    if (Array.isArray(value)) dd.append(element("ul", { className: "values" }, ...value.map((v) => element("li", { text: String(v) }))));
    else if (value?.head) dd.append(table(value));
    else if (value instanceof Node) dd.append(value);
    else dd.textContent = String(value);
    list.append(element("dt", { text: label }), dd);
  }
  return list;
}

function table({ caption, head, rows }) {
  const cells = (tag, values) => element("tr", {}, ...values.map((v) => element(tag, { text: String(v) })));
  return element("table", { className: "columns" },
    ...(caption ? [element("caption", { text: caption })] : []),
    element("thead", {}, cells("th", head)),
    element("tbody", {}, ...rows.map((values) => cells("td", values))));
}

// Resolves true when the person confirms; Escape or "Keep" resolves false.
function confirmDelete(filename) {
  const dialog = $("confirm");
  $("confirm-text").textContent = `Delete “${filename}”? This cannot be undone.`;
  return new Promise((resolve) => {
    const finish = (answer) => () => { dialog.close(answer); };
    $("confirm-yes").onclick = finish("yes");
    $("confirm-no").onclick = finish("no");
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    $("confirm-no").focus();
  });
}
