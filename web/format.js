// Text for numbers the API gives; nothing here estimates or derives a figure.

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  let left = Math.round(seconds);
  const hours = Math.floor(left / 3600);
  left -= hours * 3600;
  const minutes = Math.floor(left / 60);
  const rest = left - minutes * 60;
  if (hours) return `${hours}h ${minutes}m ${rest}s`;
  if (minutes) return `${minutes}m ${rest}s`;
  return `${rest}s`;
}

export const percent = (value) => `${Math.floor(value ?? 0)} %`;

// "#2 in line, about 1m 5s (50s to 1m 40s)": the place a queued job holds, the estimate and its band.
export function eta(job) {
  if (job.etaSeconds === null || job.etaSeconds === undefined) return "–";
  const place = job.status === "queued" && job.queuePosition ? `#${job.queuePosition} in line, ` : "";
  const band = job.etaLowSeconds == null ? "" : ` (${duration(job.etaLowSeconds)} to ${duration(job.etaHighSeconds)})`;
  return `${place}about ${duration(job.etaSeconds)}${band}`;
}

export const time = (iso) => (iso ? new Date(iso).toLocaleString() : "–");

// Colour is never the only signal: every status has a word and a symbol.
const SYMBOLS = {
  queued: "◷", running: "▶", cancelling: "■", completed: "✓", failed: "✕", cancelled: "■",
  started: "▶", retrying: "↻", cached: "✓", pending: "○",
};

export function statusBadge(element, status) {
  element.textContent = `${SYMBOLS[status] ?? "•"} ${status}`;
  element.className = `status status-${status}`;
}
