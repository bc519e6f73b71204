// All jobs with their status and the queue's stats, refreshed every few seconds.

import * as api from "./api.js";
import * as connection from "./connection.js";
import * as format from "./format.js";

const REFRESH_MS = 2000;
const $ = (id) => document.getElementById(id);
let timer = null;
let failures = 0;

export function start() {
  $("status-filter").addEventListener("change", refresh);
  refresh();
}

export async function refresh() {
  clearTimeout(timer);
  try {
    const page = await api.listJobs($("status-filter").value);
    failures = 0;
    connection.restored("list");
    render(page);
  } catch (error) {
    if (error instanceof api.Offline) connection.lost("list", (failures += 1));
  }
  timer = setTimeout(refresh, REFRESH_MS);
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
