// The HTTP API's client: one function per route, every failure an ApiError
// whose message a person can read.

const TRIES = 4;

export class ApiError extends Error {
  constructor(status, code, message, retryAfterS = 0) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
  }
}

export const networkError = () =>
  new ApiError(0, "network", "The server could not be reached. Check your connection and try again.");

export function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
  });
}

// A failure for a passing reason (the network, throttling, a 5xx) is worth another try.
export const isPassing = (error) =>
  error instanceof ApiError && (error.status === 0 || error.status === 429 || error.status >= 500);

export function backoffMs(tried, error) {
  if (error?.retryAfterS) return error.retryAfterS * 1000;
  return 400 * 2 ** (tried - 1) * (0.5 + Math.random());
}

export async function withRetries(attempt, signal, tries = TRIES) {
  for (let tried = 1; ; tried += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (signal?.aborted || !isPassing(error) || tried >= tries) throw error;
      await pause(backoffMs(tried, error), signal);
    }
  }
}

export function createClient(config, getToken) {
  const base = config.apiUrl.replace(/\/$/, "");

  function call(method, path, { body, signal, headers = {} } = {}) {
    return withRetries(async () => {
      const token = await getToken();
      if (!token) throw new ApiError(401, "unauthorized", "Your session has ended; sign in again.");
      let response;
      try {
        response = await fetch(`${base}${path}`, {
          method,
          signal,
          headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}), ...headers },
          body: body ? JSON.stringify(body) : undefined,
        });
      } catch (error) {
        throw signal?.aborted ? error : networkError();
      }
      if (response.status === 204) return null;
      const payload = await response.json().catch(() => ({}));
      if (!response.ok) {
        const error = payload.error || { code: String(response.status), message: payload.message || response.statusText };
        throw new ApiError(response.status, error.code, wordsFor(response.status, error),
          Number(response.headers.get("Retry-After")) || 0);
      }
      return payload;
    }, signal);
  }

  const file = (fileId) => `/files/${encodeURIComponent(fileId)}`;
  const upload = (fileId) => `/uploads/${encodeURIComponent(fileId)}`;
  return {
    listFiles: (cursor) => call("GET", `/files?limit=25${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`),
    getFile: (fileId) => call("GET", file(fileId)),
    downloadUrl: (fileId) => call("POST", `${file(fileId)}/download`),
    deleteFile: (fileId) => call("DELETE", file(fileId)),
    usage: () => call("GET", "/usage"),
    // The key makes a retried request return the same ticket, not a second file.
    createUpload: (body, signal) => call("POST", "/uploads", { body, signal, headers: { "Idempotency-Key": crypto.randomUUID() } }),
    signParts: (fileId, parts, signal) => call("POST", `${upload(fileId)}/parts`, { body: { parts }, signal }),
    listParts: (fileId, signal) => call("GET", `${upload(fileId)}/parts`, { signal }),
    completeUpload: (fileId, parts, signal) => call("POST", `${upload(fileId)}/complete`, { body: { parts }, signal }),
    abortUpload: (fileId) => call("DELETE", upload(fileId)),
  };
}

// The API's messages name the field ("size: ..."); these say what to do.
function wordsFor(status, error) {
  switch (error.code) {
    case "quota_exceeded": return `Not enough room left: ${error.message}`;
    case "rate_limited": return "Too many requests at once; slowing down and trying again.";
    case "too_large": return `The file is too large: ${error.message}`;
    case "unauthorized": return "Your session has ended; sign in again.";
    case "internal_error": return "Something went wrong on our side; try again in a moment.";
    default:
      if (status === 401) return "Your session has ended; sign in again.";
      if (status === 404) return "That file no longer exists.";
      return error.message || `The request failed (${status}).`;
  }
}
