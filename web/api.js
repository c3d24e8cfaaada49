// The HTTP API's client, and the two ways a file's bytes reach S3: one presigned
// POST, or a multipart upload whose parts go straight to S3 in parallel.

const PARALLEL_PARTS = 4;
const URLS_PER_CALL = 2;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function createClient(config, getToken) {
  async function call(method, path, body) {
    const token = await getToken();
    if (!token) throw new ApiError(401, "unauthorized", "Your session has ended; sign in again.");
    const response = await fetch(`${config.apiUrl.replace(/\/$/, "")}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (response.status === 204) return null;
    const payload = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = payload.error || { code: String(response.status), message: payload.message || response.statusText };
      throw new ApiError(response.status, error.code, error.message);
    }
    return payload;
  }

  return {
    listFiles: (cursor) => call("GET", `/files?limit=25${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`),
    getFile: (fileId) => call("GET", `/files/${fileId}`),
    downloadUrl: (fileId) => call("POST", `/files/${fileId}/download`),
    deleteFile: (fileId) => call("DELETE", `/files/${fileId}`),

    async upload(file, onProgress) {
      const ticket = await call("POST", "/uploads", {
        filename: file.name,
        contentType: file.type || "application/octet-stream",
        size: file.size,
      });
      if (ticket.upload.method === "POST") {
        await postObject(ticket.upload, file);
        onProgress(1);
        return ticket;
      }
      try {
        const parts = await uploadParts(call, ticket, file, onProgress);
        await call("POST", `/uploads/${ticket.fileId}/complete`, { parts });
      } catch (error) {
        await call("DELETE", `/uploads/${ticket.fileId}`).catch(() => {});
        throw error;
      }
      return ticket;
    },
  };
}

async function postObject(upload, file) {
  const form = new FormData();
  for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
  form.append("file", file); // S3 requires the file to be the last field
  const response = await fetch(upload.url, { method: "POST", body: form });
  if (!response.ok) throw new ApiError(response.status, "upload_failed", `S3 refused the upload (${response.status})`);
}

async function uploadParts(call, ticket, file, onProgress) {
  const { partSize, partCount } = ticket.upload;
  const numbers = Array.from({ length: partCount }, (_, i) => i + 1);
  const done = [];

  // Part URLs are asked for a few at a time, just before use, so none expires
  // while a large upload is still running.
  async function worker() {
    while (numbers.length) {
      const batch = numbers.splice(0, URLS_PER_CALL);
      const { parts } = await call("POST", `/uploads/${ticket.fileId}/parts`, { partNumbers: batch });
      for (const part of parts) {
        const start = (part.partNumber - 1) * partSize;
        const response = await fetch(part.url, { method: "PUT", body: file.slice(start, start + partSize) });
        if (!response.ok) throw new ApiError(response.status, "upload_failed", `S3 refused part ${part.partNumber}`);
        done.push({ partNumber: part.partNumber, etag: response.headers.get("ETag") });
        onProgress(done.length / partCount);
      }
    }
  }

  await Promise.all(Array.from({ length: Math.min(PARALLEL_PARTS, partCount) }, worker));
  return done.sort((a, b) => a.partNumber - b.partNumber);
}
