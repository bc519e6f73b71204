// The dashboard's entry point: the form, the jobs list, and the job chosen in the address (#job=ID).

import * as api from "./api.js";
import * as auth from "./auth.js";
import * as batch from "./batch.js";
import * as jobView from "./job-view.js";
import * as jobsList from "./jobs-list.js";

const $ = (id) => document.getElementById(id);

function route() {
  const match = location.hash.match(/^#job=(.+)$/);
  if (match) jobView.show(decodeURIComponent(match[1]));
  else jobView.hide();
}

async function submit(event) {
  event.preventDefault();
  const form = event.target;
  const box = $("form-error");
  const field = (name) => form.elements[name].value;
  const request = {
    brief: { topic: field("topic").trim(), aspect: field("aspect") },
    plan: { targetDurationSeconds: Number(field("duration")) },
    render: { subtitles: field("subtitles") },
    priority: Number(field("priority")),
  };
  form.querySelector("button[type=submit]").disabled = true;
  try {
    const created = await api.createJob(request);
    box.hidden = true;
    location.hash = `job=${encodeURIComponent(created.jobId)}`;
    jobsList.refresh();
  } catch (error) {
    jobView.showProblem(box, error);
  } finally {
    form.querySelector("button[type=submit]").disabled = false;
  }
}

auth.start(() => {
  jobsList.refresh();
  route();
});
$("job-form").addEventListener("submit", submit);
$("cancel").addEventListener("click", jobView.confirmCancel);
$("retry").addEventListener("click", jobView.retry);
window.addEventListener("hashchange", route);
jobsList.start();
batch.start();
route();
