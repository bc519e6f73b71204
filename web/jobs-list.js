// All jobs with their status and the queue's stats, refreshed every few seconds.

import * as api from "./api.js";
import * as connection from "./connection.js";
import * as format from "./format.js";

// Every refresh costs the API several Prefect queries: quick while something moves, slow when
// nothing does, and not at all while the tab is hidden.
const ACTIVE_REFRESH_MS = 2000;
const IDLE_REFRESH_MS = 10000;
const ACTIVE = new Set(["queued", "running", "cancelling"]);
const $ = (id) => document.getElementById(id);
let timer = null;
let failures = 0;

export function start() {
  $("status-filter").addEventListener("change", refresh);
  document.addEventListener("visibilitychange", () => document.hidden || refresh());
  refresh();
}

export async function refresh() {
  clearTimeout(timer);
  let delay = ACTIVE_REFRESH_MS;
  try {
    const page = await api.listJobs($("status-filter").value);
    failures = 0;
    connection.restored("list");
    render(page);
    const { queued, running } = page.stats;
    if (queued + running === 0 && !page.jobs.some((job) => ACTIVE.has(job.status))) delay = IDLE_REFRESH_MS;
  } catch (error) {
    if (error instanceof api.Offline) connection.lost("list", (failures += 1));
  }
  if (!document.hidden) timer = setTimeout(refresh, delay);
}

function render({ jobs, total, stats }) {
  const shown = $("status-filter").value || "all";
  $("queue-stats").textContent =
    `${stats.total} jobs: ${stats.queued} queued, ${stats.running} running, ${stats.completed} completed, ` +
    `${stats.failed} failed, ${stats.cancelled} cancelled. Showing ${jobs.length} of ${total} (${shown}).`;
  $("jobs-empty").hidden = jobs.length > 0;
  $("job-table").querySelector("tbody").replaceChildren(...jobs.map(row));
}

function row(job) {
  const line = document.createElement("tr");
  line.dataset.jobId = job.jobId;
  const link = document.createElement("a");
  link.href = `#job=${encodeURIComponent(job.jobId)}`;
  link.textContent = job.request.brief.topic;
  const status = document.createElement("span");
  format.statusBadge(status, job.status);
  const cells = [link, status, format.percent(job.percent), format.time(job.createdAt)];
  line.append(...cells.map((content) => {
    const cell = document.createElement("td");
    cell.append(content);
    return cell;
  }));
  return line;
}
