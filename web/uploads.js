// How a file's bytes reach S3, checked, hashed and resumable. No DOM here:
// an Upload reports its state and progress as events.
//
// - Up to the API's multipart threshold: one ticket carrying the file's SHA-256,
//   then one PUT that S3 checks against it.
// - Above it: a multipart upload. Parts are hashed in a Web Worker, signed a few
//   at a time just before they are sent (each URL carries its part's SHA-256),
//   sent in parallel, retried with backoff, and signed again when refused (an
//   expired URL).
// - A multipart upload's identity is kept in localStorage. Picking the same
//   file again (name, size, last-modified time) after a reload or a crash asks
//   the API which parts S3 already holds and sends only the others.

import { ApiError, backoffMs, isPassing, networkError, pause, withRetries } from "./api.js";
import { formatSize } from "./format.js";

const PARALLEL_PARTS = 4;
const PARTS_PER_SIGNING = 4;
const PART_TRIES = 5;
const STORE = "uploads.resumable";
// Types a browser or viewer would run; the worker would block them anyway.
const ACTIVE_TYPES = new Set(["text/html", "application/xhtml+xml", "image/svg+xml", "text/javascript",
  "application/javascript", "application/x-msdownload", "application/x-sh", "application/x-msdos-program"]);
// Headers a page may not set; the browser sends its own.
const FORBIDDEN_HEADERS = new Set(["content-length", "host", "connection"]);

// --- Hashing in a Web Worker -----------------------------------------------------

let hasher = null;
let nextHash = 0;
const hashing = new Map();

function startHasher() {
  const worker = new Worker(new URL("./hash-worker.js", import.meta.url), { type: "module" });
  worker.addEventListener("message", ({ data }) => {
    const waiting = hashing.get(data.id);
    hashing.delete(data.id);
    if (data.error) waiting?.reject(new ApiError(0, "hash_failed", `The file could not be read: ${data.error}`));
    else waiting?.resolve(data.sha256);
  });
  return worker;
}

export function sha256(blob) {
  hasher ??= startHasher();
  const id = nextHash++;
  return new Promise((resolve, reject) => {
    hashing.set(id, { resolve, reject });
    hasher.postMessage({ id, blob });
  });
}

// --- What is remembered for resuming ---------------------------------------------

export const fingerprint = (file) => `${file.name}\u0000${file.size}\u0000${file.lastModified}`;

export const resumable = {
  all(owner) {
    const entries = JSON.parse(localStorage.getItem(STORE) || "[]");
    return entries.filter((entry) => entry.owner === owner);
  },
  find(owner, file) {
    return this.all(owner).find((entry) => entry.fingerprint === fingerprint(file)) || null;
  },
  save(entry) {
    const others = JSON.parse(localStorage.getItem(STORE) || "[]").filter((e) => e.fileId !== entry.fileId);
    localStorage.setItem(STORE, JSON.stringify([...others, entry]));
  },
  forget(fileId) {
    const entries = JSON.parse(localStorage.getItem(STORE) || "[]");
    localStorage.setItem(STORE, JSON.stringify(entries.filter((e) => e.fileId !== fileId)));
  },
};

// --- Checks before any bytes move ------------------------------------------------

// Why the file cannot be uploaded, in words, or null; and the type to declare.
export function check(file, config, room) {
  const type = (file.type || "").toLowerCase();
  if (file.size === 0) return { problem: `${file.name} is empty; there is nothing to upload.` };
  if (file.size > config.maxFileSize) {
    return { problem: `${file.name} is ${formatSize(file.size)}, over the ${formatSize(config.maxFileSize)} limit for one file.` };
  }
  if (ACTIVE_TYPES.has(type)) {
    return { problem: `${file.name} is ${type}, content that could run in a browser; it is not accepted.` };
  }
  if (room && file.size > room.bytes) {
    return { problem: `${file.name} (${formatSize(file.size)}) does not fit: only ${formatSize(Math.max(room.bytes, 0))} of your storage is left.` };
  }
  if (room && room.files < 1) return { problem: `${file.name} does not fit: you have reached your limit on the number of files.` };
  // The worker sniffs the bytes; a type the API does not list is declared as generic bytes.
  return { contentType: config.acceptedTypes.includes(type) ? type : "application/octet-stream" };
}

// --- Sending bytes ---------------------------------------------------------------

function s3Refusal(xhr, what) {
  const xml = new DOMParser().parseFromString(xhr.responseText || "<x/>", "application/xml");
  const code = xml.querySelector("Code")?.textContent || String(xhr.status);
  const detail = xml.querySelector("Message")?.textContent || xhr.statusText;
  return new ApiError(xhr.status, code, `S3 refused ${what}: ${detail || code}`);
}

// XMLHttpRequest rather than fetch: it reports upload progress.
function send(method, url, body, headers, signal, onProgress, what) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers || {})) {
      if (!FORBIDDEN_HEADERS.has(name.toLowerCase())) xhr.setRequestHeader(name, value);
    }
    xhr.upload.addEventListener("progress", (event) => onProgress(event.loaded));
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.getResponseHeader("ETag"));
      else reject(s3Refusal(xhr, what));
    });
    xhr.addEventListener("error", () => reject(networkError()));
    xhr.addEventListener("abort", () => reject(signal.reason));
    signal.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(body);
  });
}

// --- One upload ------------------------------------------------------------------

export class Upload extends EventTarget {
  constructor(api, file, { owner, contentType, multipartThreshold }) {
    super();
    this.api = api;
    this.file = file;
    this.owner = owner;
    this.contentType = contentType;
    this.multipart = file.size > multipartThreshold;
    this.state = "queued";
    this.error = null;
    this.fileId = null;
    this.confirmed = 0; // bytes S3 holds
    this.inFlight = new Map(); // part number → bytes sent so far
    this.resumedBytes = 0;
  }

  get sent() {
    let sent = this.confirmed;
    for (const loaded of this.inFlight.values()) sent += loaded;
    return Math.min(sent, this.file.size);
  }

  set(state) {
    this.state = state;
    this.dispatchEvent(new Event("state"));
  }

  progressed() {
    this.dispatchEvent(new Event("progress"));
  }

  async start() {
    this.stop = new AbortController();
    this.error = null;
    this.inFlight.clear();
    this.set("uploading");
    try {
      if (this.multipart) await this.sendParts();
      else await this.sendWhole();
      this.confirmed = this.file.size;
      this.set("done");
    } catch (error) {
      if (["cancelling", "cancelled"].includes(this.state)) {
        // Cancelled while its ticket was being issued: that ticket goes too.
        if (this.fileId && !this.abortedOnServer) await this.api.abortUpload(this.fileId).catch(() => {});
        return;
      }
      this.error = error instanceof ApiError ? error : new ApiError(0, "failed", String(error?.message || error));
      // A single upload starts over on retry, so its ticket goes now; a
      // multipart upload stays, so a retry or a reload can resume it.
      if (!this.multipart && this.fileId) this.api.abortUpload(this.fileId).catch(() => {});
      this.set("failed");
    }
  }

  // Cancelled once the server has aborted the upload, not before.
  async cancel() {
    this.set("cancelling");
    this.stop?.abort(new DOMException("cancelled", "AbortError"));
    if (this.fileId) {
      this.abortedOnServer = true;
      resumable.forget(this.fileId);
      try {
        await this.api.abortUpload(this.fileId);
      } catch (error) {
        this.abortedOnServer = false;
        this.error = error;
        this.set("failed");
        return;
      }
    }
    this.set("cancelled");
  }

  async sendWhole() {
    const { signal } = this.stop;
    this.set("hashing");
    const digest = await sha256(this.file);
    this.set("uploading");
    const ticket = await this.api.createUpload(
      { filename: this.file.name, contentType: this.contentType, size: this.file.size, sha256: digest }, signal);
    this.fileId = ticket.fileId;
    // With a SHA-256 the ticket is a PUT signed with it: S3 refuses any other bytes.
    const { upload } = ticket;
    const onProgress = (loaded) => { this.inFlight.set(1, loaded); this.progressed(); };
    await withRetries(() => send("PUT", upload.url, this.file, upload.headers, signal, onProgress, "the upload"), signal);
  }

  // The upload this file resumes, with the parts S3 holds, or a new one. The API
  // decides: a stale, finished or aborted upload (404, 409) starts over.
  async resumeOrCreate(signal) {
    const entry = resumable.find(this.owner, this.file);
    if (entry) {
      try {
        const { parts } = await this.api.listParts(entry.fileId, signal);
        return { entry, held: parts };
      } catch (error) {
        if (![404, 409].includes(error.status)) throw error;
        resumable.forget(entry.fileId);
      }
    }
    const ticket = await this.api.createUpload(
      { filename: this.file.name, contentType: this.contentType, size: this.file.size }, signal);
    const fresh = {
      owner: this.owner,
      fingerprint: fingerprint(this.file),
      fileId: ticket.fileId,
      uploadId: ticket.upload.uploadId,
      partSize: ticket.upload.partSize,
      partCount: ticket.upload.partCount,
      name: this.file.name,
      size: this.file.size,
      lastModified: this.file.lastModified,
      savedAt: new Date().toISOString(),
    };
    resumable.save(fresh);
    return { entry: fresh, held: [] };
  }

  async sendParts() {
    const { signal } = this.stop;
    const { entry, held } = await this.resumeOrCreate(signal);
    this.fileId = entry.fileId;
    const { partSize, partCount } = entry;
    const sizeOf = (n) => (n < partCount ? partSize : this.file.size - partSize * (partCount - 1));
    const blobOf = (n) => this.file.slice((n - 1) * partSize, (n - 1) * partSize + sizeOf(n));
    // Completing names each part's SHA-256, so a part S3 holds is hashed here
    // too; one whose size or S3-reported checksum differs (another file under
    // the same name) is sent again.
    const done = new Map();
    for (const part of held) {
      if (part.size !== sizeOf(part.partNumber)) continue;
      const digest = await sha256(blobOf(part.partNumber));
      if (part.sha256 && part.sha256 !== digest) continue;
      done.set(part.partNumber, { etag: part.etag, sha256: digest });
    }
    this.confirmed = [...done.keys()].reduce((sum, n) => sum + sizeOf(n), 0);
    this.resumedBytes = this.confirmed;
    this.progressed();
    const missing = Array.from({ length: partCount }, (_, i) => i + 1).filter((n) => !done.has(n));

    const sign = async (batch) => {
      const { parts } = await this.api.signParts(this.fileId, batch, signal);
      return new Map(parts.map((part) => [part.partNumber, part]));
    };

    const sendPart = async (n, digest, signed) => {
      let url = signed;
      for (let tried = 1; ; tried += 1) {
        try {
          const etag = await send("PUT", url.url, blobOf(n), url.headers, signal,
            (loaded) => { this.inFlight.set(n, loaded); this.progressed(); }, `part ${n}`);
          if (!etag) throw new ApiError(502, "no_etag", "S3 did not expose the part's ETag (the bucket's CORS)");
          return etag;
        } catch (error) {
          this.inFlight.delete(n);
          // 403 is what S3 says to an expired URL: sign the part again.
          const again = isPassing(error) || error.status === 403;
          if (signal.aborted || !again || tried >= PART_TRIES) throw error;
          await pause(backoffMs(tried, error), signal);
          if (error.status === 403) url = (await sign([{ partNumber: n, sha256: digest }])).get(n);
        }
      }
    };

    // Few parts are spread over all the streams; many are signed a few at a time.
    const perSigning = Math.max(1, Math.min(PARTS_PER_SIGNING, Math.floor(missing.length / PARALLEL_PARTS)));
    const worker = async () => {
      while (missing.length && !signal.aborted) {
        const batch = [];
        for (const n of missing.splice(0, perSigning)) batch.push({ partNumber: n, sha256: await sha256(blobOf(n)) });
        const urls = await sign(batch);
        for (const { partNumber: n, sha256: digest } of batch) {
          done.set(n, { etag: await sendPart(n, digest, urls.get(n)), sha256: digest });
          this.inFlight.delete(n);
          this.confirmed += sizeOf(n);
          this.progressed();
        }
      }
    };
    const workers = Array.from({ length: Math.min(PARALLEL_PARTS, missing.length) }, worker);
    try {
      await Promise.all(workers);
    } catch (error) {
      // One part gave up: the others stop too, and settle before the upload fails.
      if (!signal.aborted) this.stop.abort(error);
      await Promise.allSettled(workers);
      throw error;
    }
    this.set("completing");
    const parts = [...done].sort(([a], [b]) => a - b).map(([partNumber, part]) => ({ partNumber, ...part }));
    await this.api.completeUpload(this.fileId, parts, signal);
    resumable.forget(this.fileId);
  }
}
