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

export const eta = (seconds) => (seconds === null || seconds === undefined ? "–" : `about ${duration(seconds)}`);

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
