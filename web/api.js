// The HTTP API's client, and the two ways a file's bytes reach S3: one presigned
// POST, or a multipart upload whose parts go straight to S3 in parallel.

const PARALLEL_PARTS = 4;
const URLS_PER_CALL = 2;
const TRIES = 3;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A request that failed for a passing reason (the network, throttling, a 5xx)
// is tried again with backoff; anything else fails at once.
async function withRetries(attempt, signal) {
  for (let tried = 1; ; tried += 1) {
    try {
      return await attempt();
    } catch (error) {
      const passing = !(error instanceof ApiError) || error.status === 429 || error.status >= 500;
      if (!passing || tried >= TRIES || signal?.aborted) throw error;
      await pause(300 * 2 ** tried);
    }
  }
}

export function createClient(config, getToken) {
  async function call(method, path, body, signal, extraHeaders = {}) {
    return withRetries(async () => {
      const token = await getToken();
      if (!token) throw new ApiError(401, "unauthorized", "Your session has ended; sign in again.");
      const response = await fetch(`${config.apiUrl.replace(/\/$/, "")}${path}`, {
        method,
        signal,
        headers: {
          Authorization: `Bearer ${token}`,
          ...(body ? { "Content-Type": "application/json" } : {}),
          ...extraHeaders,
        },
        body: body ? JSON.stringify(body) : undefined,
      });
      if (response.status === 204) return null;
      const payload = await response.json().catch(() => ({}));
      if (!response.ok) {
        const error = payload.error || { code: String(response.status), message: payload.message || response.statusText };
        throw new ApiError(response.status, error.code, error.message);
      }
      return payload;
    }, signal);
  }

  return {
    listFiles: (cursor) => call("GET", `/files?limit=25${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`),
    getFile: (fileId) => call("GET", `/files/${fileId}`),
    downloadUrl: (fileId) => call("POST", `/files/${fileId}/download`),
    deleteFile: (fileId) => call("DELETE", `/files/${fileId}`),

    async upload(file, onProgress) {
      // The key makes a retried request return the same ticket, not a second file.
      const ticket = await call("POST", "/uploads", {
        filename: file.name,
        contentType: file.type || "application/octet-stream",
        size: file.size,
      }, undefined, { "Idempotency-Key": crypto.randomUUID() });
      const stop = new AbortController();
      try {
        if (ticket.upload.method === "POST") {
          await withRetries(() => postObject(ticket.upload, file, stop.signal), stop.signal);
          onProgress(1);
        } else {
          const parts = await uploadParts(call, ticket, file, onProgress, stop);
          await call("POST", `/uploads/${ticket.fileId}/complete`, { parts });
        }
      } catch (error) {
        // Nothing half-done is left behind: in-flight parts stop, then the ticket goes.
        stop.abort();
        await call("DELETE", `/uploads/${ticket.fileId}`).catch(() => {});
        throw error;
      }
      return ticket;
    },
  };
}

async function postObject(upload, file, signal) {
  const form = new FormData();
  for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
  form.append("file", file); // S3 requires the file to be the last field
  const response = await fetch(upload.url, { method: "POST", body: form, signal });
  if (!response.ok) throw new ApiError(response.status, "upload_failed", `S3 refused the upload (${response.status})`);
}

async function putPart(url, blob, partNumber, signal) {
  const response = await fetch(url, { method: "PUT", body: blob, signal });
  if (!response.ok) throw new ApiError(response.status, "upload_failed", `S3 refused part ${partNumber} (${response.status})`);
  const etag = response.headers.get("ETag");
  // Null when the bucket's CORS does not expose ETag: completing would fail anyway.
  if (!etag) throw new ApiError(502, "upload_failed", "S3 did not expose the part's ETag (bucket CORS)");
  return etag;
}

async function uploadParts(call, ticket, file, onProgress, stop) {
  const { partSize, partCount } = ticket.upload;
  const numbers = Array.from({ length: partCount }, (_, i) => i + 1);
  const done = [];

  // Part URLs are asked for a few at a time, just before use, so none expires
  // while a large upload is still running.
  async function worker() {
    while (numbers.length && !stop.signal.aborted) {
      const batch = numbers.splice(0, URLS_PER_CALL);
      const { parts } = await call("POST", `/uploads/${ticket.fileId}/parts`, { partNumbers: batch }, stop.signal);
      for (const part of parts) {
        const start = (part.partNumber - 1) * partSize;
        const blob = file.slice(start, start + partSize);
        const etag = await withRetries(() => putPart(part.url, blob, part.partNumber, stop.signal), stop.signal);
        done.push({ partNumber: part.partNumber, etag });
        onProgress(done.length / partCount);
      }
    }
  }

  const workers = Array.from({ length: Math.min(PARALLEL_PARTS, partCount) }, worker);
  try {
    await Promise.all(workers);
  } catch (error) {
    // Stop the other workers and let them settle before the caller aborts the upload.
    stop.abort();
    await Promise.allSettled(workers);
    throw error;
  }
  return done.sort((a, b) => a.partNumber - b.partNumber);
}
