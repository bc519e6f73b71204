// The REST contract, as the page uses it. Errors come back as RFC 7807 problems.

export class ApiError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || "The request failed");
    this.problem = problem;
  }
}

// Thrown when the API cannot be reached at all (server down or restarting).
export class Offline extends Error {}

async function call(method, path, body) {
  let answer;
  try {
    answer = await fetch(path, {
      method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (error) {
    throw new Offline(String(error));
  }
  const data = await answer.json().catch(() => null);
  // Not the service's own answer: a proxy's error page, or a server still starting.
  if (data === null && answer.status >= 500) throw new Offline(`HTTP ${answer.status}`);
  if (!answer.ok) throw new ApiError({ status: answer.status, title: `HTTP ${answer.status}`, ...data });
  return data;
}

export const createJob = (request) => call("POST", "/api/jobs", request);
export const listJobs = (status) => call("GET", `/api/jobs?limit=50${status ? `&status=${status}` : ""}`);
export const readJob = (jobId) => call("GET", `/api/jobs/${encodeURIComponent(jobId)}`);
export const cancelJob = (jobId) => call("POST", `/api/jobs/${encodeURIComponent(jobId)}/cancel`);
export const retryJob = (jobId) => call("POST", `/api/jobs/${encodeURIComponent(jobId)}/retry`);
export const eventsUrl = (jobId) => `/api/jobs/${encodeURIComponent(jobId)}/events`;
