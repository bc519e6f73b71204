// Many videos at once: a CSV picked from a file or pasted, queued as one batch (all or none).

import * as api from "./api.js";
import * as jobsList from "./jobs-list.js";
import { showProblem } from "./job-view.js";

const $ = (id) => document.getElementById(id);

export function start() {
  $("batch-file").addEventListener("change", async (event) => {
    const [file] = event.target.files;
    if (file) $("batch-csv").value = await file.text();
  });
  $("batch-form").addEventListener("submit", submit);
}

async function submit(event) {
  event.preventDefault();
  const button = event.target.querySelector("button[type=submit]");
  const done = $("batch-done");
  button.disabled = true;
  try {
    const created = await api.createBatch($("batch-csv").value);
    $("batch-error").hidden = true;
    done.textContent = `${created.jobIds.length} jobs queued; they are in the list below.`;
    done.hidden = false;
    jobsList.refresh();
  } catch (error) {
    done.hidden = true;
    showProblem($("batch-error"), error);
  } finally {
    button.disabled = false;
  }
}
