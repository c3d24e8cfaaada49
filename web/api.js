// The HTTP API's client, and the two ways a file's bytes reach S3: one presigned
// PUT signed with the file's SHA-256, or a multipart upload whose parts go
// straight to S3 in parallel, each signed with its own SHA-256.

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

// One hashing worker for the page; answers are matched to requests by id.
let hasher;
const hashes = new Map();
let nextHash = 0;

export function sha256(blob) {
  if (!hasher) {
    hasher = new Worker(new URL("hash-worker.js", import.meta.url));
    hasher.onmessage = ({ data }) => {
      const { resolve, reject } = hashes.get(data.id);
      hashes.delete(data.id);
      if (data.error) reject(new ApiError(0, "hash_failed", `Could not read the file: ${data.error}`));
      else resolve(data.sha256);
    };
  }
  const id = nextHash++;
  return new Promise((resolve, reject) => {
    hashes.set(id, { resolve, reject });
    hasher.postMessage({ id, blob });
  });
}

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
      const request = { filename: file.name, contentType: file.type || "application/octet-stream", size: file.size };
      // A single upload is signed with the whole file's SHA-256; a multipart one with each part's.
      if (file.size <= config.multipartThreshold) request.sha256 = await sha256(file);
      // The key makes a retried request return the same ticket, not a second file.
      const ticket = await call("POST", "/uploads", request, undefined, { "Idempotency-Key": crypto.randomUUID() });
      const stop = new AbortController();
      try {
        if (ticket.upload.method === "PUT") {
          await withRetries(() => putObject(ticket.upload, file, stop.signal), stop.signal);
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

// S3's refusals are XML: <Error><Code>BadDigest</Code><Message>...</Message></Error>.
async function s3Refusal(response, what) {
  const text = await response.text().catch(() => "");
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] || String(response.status);
  const reason = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] || response.statusText;
  return new ApiError(response.status, "upload_failed", `S3 refused ${what}: ${code} (${reason})`);
}

async function putObject(upload, file, signal) {
  const response = await fetch(upload.url, { method: "PUT", body: file, headers: upload.headers, signal });
  if (!response.ok) throw await s3Refusal(response, "the upload");
}

async function putPart(part, blob, signal) {
  const response = await fetch(part.url, { method: "PUT", body: blob, headers: part.headers, signal });
  if (!response.ok) throw await s3Refusal(response, `part ${part.partNumber}`);
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
      const slices = new Map(batch.map((n) => [n, file.slice((n - 1) * partSize, n * partSize)]));
      const asked = [];
      for (const [partNumber, blob] of slices) asked.push({ partNumber, sha256: await sha256(blob) });
      const { parts } = await call("POST", `/uploads/${ticket.fileId}/parts`, { parts: asked }, stop.signal);
      const checksums = new Map(asked.map((a) => [a.partNumber, a.sha256]));
      for (const part of parts) {
        const etag = await withRetries(() => putPart(part, slices.get(part.partNumber), stop.signal), stop.signal);
        done.push({ partNumber: part.partNumber, etag, sha256: checksums.get(part.partNumber) });
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
