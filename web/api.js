// The REST contract, as the page uses it. Errors come back as RFC 7807 problems.
//
// When the service has API keys, the key the user typed is kept for this tab
// (sessionStorage) and sent as a header. URLs the browser fetches by itself
// (EventSource, <video>, download links) carry a short-lived read-only token from
// POST /api/tokens instead, never the key.

const KEY = "aura-api-key";
const TOKEN_MARGIN_MS = 60000;
let token = null;
let onUnauthorized = () => {};

export class ApiError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || "The request failed");
    this.problem = problem;
  }
}

// Thrown when the API cannot be reached at all (server down or restarting).
export class Offline extends Error {}

export const hasKey = () => Boolean(sessionStorage.getItem(KEY));
export const whenUnauthorized = (handler) => { onUnauthorized = handler; };

export function useKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
  token = null;
}

// `body` is sent as JSON, or as it is when a `type` is given (a CSV).
async function call(method, path, body, { type, headers: extra } = {}) {
  const headers = { ...extra };
  if (body !== undefined) headers["Content-Type"] = type || "application/json";
  if (hasKey()) headers.Authorization = `Bearer ${sessionStorage.getItem(KEY)}`;
  let answer;
  try {
    answer = await fetch(path, { method, headers, body: body === undefined || type ? body : JSON.stringify(body) });
  } catch (error) {
    throw new Offline(String(error));
  }
  const data = await answer.json().catch(() => null);
  // Not the service's own answer: a proxy's error page, or a server still starting.
  if (data === null && answer.status >= 500) throw new Offline(`HTTP ${answer.status}`);
  const problem = { status: answer.status, title: `HTTP ${answer.status}`, ...data };
  if (answer.status === 401) onUnauthorized(problem);
  if (!answer.ok) throw new ApiError(problem);
  return data;
}

// A URL the browser will fetch without our headers.
export async function signedUrl(path) {
  if (!hasKey()) return path;
  if (!token || Date.parse(token.expiresAt) - Date.now() < TOKEN_MARGIN_MS) token = await call("POST", "/api/tokens");
  return `${path}${path.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(token.token)}`;
}

// A random key per click: a batch the browser sends again on its own is not queued twice.
const newKey = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, "0")).join("");

export const createJob = (request) => call("POST", "/api/jobs", request);
export const createBatch = (csv) =>
  call("POST", "/api/jobs/batch", csv, { type: "text/csv", headers: { "Idempotency-Key": newKey() } });
export const listJobs = (status) => call("GET", `/api/jobs?limit=50${status ? `&status=${status}` : ""}`);
export const readJob = (jobId) => call("GET", `/api/jobs/${encodeURIComponent(jobId)}`);
export const cancelJob = (jobId) => call("POST", `/api/jobs/${encodeURIComponent(jobId)}/cancel`);
export const retryJob = (jobId) => call("POST", `/api/jobs/${encodeURIComponent(jobId)}/retry`);
export const eventsUrl = (jobId, lastEventId) => signedUrl(`/api/jobs/${encodeURIComponent(jobId)}/events` +
  (lastEventId ? `?lastEventId=${encodeURIComponent(lastEventId)}` : ""));
