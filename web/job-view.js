// One job, live: stages, progress, times, warnings, log, cancel, retry, and the finished video.

import * as api from "./api.js";
import * as connection from "./connection.js";
import * as format from "./format.js";
import { follow } from "./stream.js";

const STAGES = ["brief", "script", "voice", "visuals", "render", "finalize"];
const LOG_LINES = 50;
const ACTIVE = new Set(["queued", "running", "cancelling"]);
const ETA = ["etaSeconds", "etaLowSeconds", "etaHighSeconds"];
const $ = (id) => document.getElementById(id);

let view = null;

export async function show(jobId) {
  hide();
  $("job").hidden = false;
  $("job-title").textContent = `Job ${jobId}`;
  const mine = { jobId, job: null, steps: {}, logs: [], stream: null, announced: "", resultFor: null };
  view = mine;
  try {
    mine.job = await api.readJob(jobId);
  } catch (error) {
    if (view === mine) showProblem($("action-error"), error);
    return;
  }
  if (view !== mine) return;
  $("action-error").hidden = true;
  render();
  listen();
  // Keyboard and screen-reader users land on the job they just opened or started.
  $("job-title").focus();
}

export function hide() {
  view?.stream?.stop();
  connection.restored("stream");
  view = null;
  $("job").hidden = true;
  $("job-log").replaceChildren();
  $("job-result").hidden = true;
  $("job-video").removeAttribute("src");
}

function listen(from = null) {
  const mine = view;
  mine.stream = follow((lastId) => api.eventsUrl(mine.jobId, lastId), {
    from,
    onEvent: (name, data) => view === mine && onEvent(name, data),
    onConnection: (state, attempt) => {
      if (state === "live") connection.restored("stream");
      else connection.lost("stream", attempt);
    },
  });
}

async function onEvent(name, data) {
  const mine = view;
  const job = mine.job;
  switch (name) {
    case "job-status":
      // A reconnection after a retry opens with the old attempt's status: the new attempt's events follow.
      if (data.attempt < job.attempt) return;
      if (data.attempt > job.attempt) mine.steps = {};
      // The stream knows nothing of the queue: a queued job keeps the place and ETA its body gave.
      Object.assign(job, pick(data, "status", "stage", "percent", "attempt"));
      if (data.status !== "queued") Object.assign(job, pick(data, ...ETA));
      if (!ACTIVE.has(data.status)) await settle(data);
      break;
    case "step-status":
      if (data.attempt < job.attempt) return;
      if (data.attempt > job.attempt) {
        mine.steps = {};
        job.attempt = data.attempt;
      }
      mine.steps[data.step] = data.status;
      if (data.status === "started") {
        job.stage = data.step;
        job.message = "";
      }
      if (data.status !== "retrying") clearWarning();
      break;
    case "step-progress":
      Object.assign(job, pick(data, "percent", "elapsedSeconds", ...ETA));
      job.stage = data.step;
      job.message = data.message;
      clearWarning();
      break;
    case "job-log":
      mine.logs.push(data);
      mine.logs.splice(0, mine.logs.length - LOG_LINES);
      renderLog();
      return;
    case "warning":
      showWarning(data);
      return;
    default:
      await settle(data);
  }
  if (view === mine) render();
}

// The job has ended: its body has everything it ended with (error, artifacts, resume point).
async function settle(data) {
  const mine = view;
  const ended = await api.readJob(mine.jobId).catch(() => null);
  if (view !== mine) return;
  const known = ended && !ACTIVE.has(ended.status) ? ended : { ...mine.job, status: data.status };
  mine.job = { ...known, error: known.error ?? data.error ?? null };
}

function pick(data, ...names) {
  return Object.fromEntries(names.filter((name) => name in data).map((name) => [name, data[name]]));
}

function render() {
  const job = view.job;
  format.statusBadge($("job-status"), job.status);
  $("job-attempt").textContent = job.attempt;
  const prefect = $("job-prefect");
  prefect.hidden = !job.prefectUrl;
  if (job.prefectUrl) prefect.href = job.prefectUrl;
  renderStages(job);
  $("job-progress").value = job.percent;
  $("job-percent").textContent = format.percent(job.percent);
  $("job-stage").textContent = job.stage ?? "–";
  $("job-item").textContent = ACTIVE.has(job.status) ? job.message || "–" : "–";
  $("job-elapsed").textContent = format.duration(job.elapsedSeconds);
  $("job-eta").textContent = ACTIVE.has(job.status) ? format.eta(job) : "–";
  announce(job);
  renderActions(job);
  renderError(job.status === "failed" ? job.error : null);
  // A failed token request (service away) leaves the result to the next render.
  renderResult(job).catch(() => { if (view) view.resultFor = null; });
}

function renderStages(job) {
  const list = $("stages");
  list.replaceChildren(...STAGES.map((stage) => {
    const item = document.createElement("li");
    let status = view.steps[stage];
    if (!status && job.status === "completed") status = "completed";
    if (!status && stage === job.stage && job.status === "running") status = "started";
    status ??= "pending";
    const badge = document.createElement("span");
    format.statusBadge(badge, status);
    item.append(`${stage} `, badge);
    item.className = `stage stage-${status}`;
    if (stage === job.stage && ACTIVE.has(job.status)) item.setAttribute("aria-current", "step");
    return item;
  }));
}

function announce(job) {
  // Stage and status changes, and every tenth of the way: enough to follow, not a flood.
  const text = `${job.status}, ${job.stage ?? "waiting"} stage, ${Math.floor(job.percent / 10) * 10} %`;
  if (text !== view.announced) {
    view.announced = text;
    $("job-announce").textContent = `Job ${text}`;
  }
}

function renderActions(job) {
  const cancel = $("cancel");
  cancel.hidden = !ACTIVE.has(job.status);
  cancel.disabled = job.status === "cancelling";
  cancel.textContent = job.status === "cancelling" ? "Cancelling…" : "Cancel job";
  const retry = $("retry");
  retry.hidden = !["failed", "cancelled"].includes(job.status);
  retry.disabled = false;
  const next = job.canResume && job.lastCompletedStage ? STAGES[STAGES.indexOf(job.lastCompletedStage) + 1] : null;
  retry.textContent = next ? `Resume from ${next}` : "Retry";
}

function renderError(error) {
  const box = $("job-error");
  box.hidden = !error;
  if (!error) return;
  $("job-error-code").textContent = `${error.code}${error.stage ? ` at ${error.stage}` : ""}`;
  $("job-error-message").textContent = error.message;
  $("job-error-actions").replaceChildren(...error.suggestedActions.map((action) => {
    const item = document.createElement("li");
    item.textContent = action;
    return item;
  }));
}

async function renderResult(job) {
  const done = job.status === "completed" && job.artifacts.length > 0;
  $("job-result").hidden = !done;
  if (!done || view.resultFor === job.attempt) return;
  const mine = view;
  mine.resultFor = job.attempt;
  const urls = await Promise.all(job.artifacts.map((artifact) => api.signedUrl(artifact.url)));
  if (view !== mine) return;
  const video = job.artifacts.findIndex((artifact) => artifact.name === "video.mp4");
  if (video >= 0) $("job-video").src = urls[video];
  $("job-downloads").replaceChildren(...job.artifacts.map((artifact, index) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = urls[index];
    link.download = artifact.name;
    link.textContent = `Download ${artifact.name}`;
    item.append(link, ` (${(artifact.sizeBytes / 1024).toFixed(0)} KiB)`);
    return item;
  }));
}

function renderLog() {
  $("job-log").replaceChildren(...view.logs.map((line) => {
    const item = document.createElement("li");
    item.className = `log-${line.level.toLowerCase()}`;
    const when = new Date(line.timestamp).toLocaleTimeString();
    item.textContent = `${when} ${line.level.padEnd(7)} ${line.step ? `${line.step}: ` : ""}${line.message}`;
    return item;
  }));
  const log = $("job-log");
  log.scrollTop = log.scrollHeight;
}

function showWarning(data) {
  const box = $("job-warning");
  box.hidden = false;
  const stall = data.stallSeconds ? ` (no progress for ${format.duration(data.stallSeconds)})` : "";
  box.textContent = `Warning${data.step ? ` in ${data.step}` : ""}: ${data.message}${stall}`;
}

function clearWarning() {
  $("job-warning").hidden = true;
}

export function showProblem(box, error) {
  box.hidden = false;
  const problem = error.problem;
  if (!problem) {
    box.textContent = `The service cannot be reached (${error.message}). Try again in a moment.`;
    return;
  }
  const lines = [problem.detail || problem.title];
  if (problem.errors) lines.push(...problem.errors.map((field) => `${field.field}: ${field.message}`));
  if (problem.suggestedActions) lines.push(...problem.suggestedActions);
  box.replaceChildren(...lines.map((line) => {
    const paragraph = document.createElement("p");
    paragraph.textContent = line;
    return paragraph;
  }));
}

export async function confirmCancel() {
  const dialog = $("cancel-dialog");
  dialog.returnValue = "";
  dialog.showModal();
  await new Promise((resolve) => dialog.addEventListener("close", resolve, { once: true }));
  if (dialog.returnValue !== "cancel" || !view) return;
  const mine = view;
  try {
    const answer = await api.cancelJob(mine.jobId);
    if (view !== mine) return;
    mine.job.status = answer.status;
    $("action-error").hidden = true;
    render();
  } catch (error) {
    showProblem($("action-error"), error);
  }
}

export async function retry() {
  if (!view) return;
  const mine = view;
  $("retry").disabled = true;
  try {
    const job = await api.retryJob(mine.jobId);
    if (view !== mine) return;
    mine.job = job;
    mine.steps = {};
    $("action-error").hidden = true;
    render();
    listen(mine.stream?.lastId());
  } catch (error) {
    $("retry").disabled = false;
    showProblem($("action-error"), error);
  }
}
