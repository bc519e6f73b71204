// Signing in with an API key, when the service asks for one (a 401 from any call).

import * as api from "./api.js";

const $ = (id) => document.getElementById(id);

export function start(onSignedIn) {
  api.whenUnauthorized((problem) => {
    $("sign-in").hidden = false;
    $("sign-in-reason").textContent = problem.detail;
    if (document.activeElement !== $("api-key")) $("api-key").focus();
  });
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    api.useKey($("api-key").value.trim());
    $("api-key").value = "";
    $("sign-in").hidden = true;
    $("sign-out").hidden = false;
    onSignedIn();
  });
  $("sign-out").hidden = !api.hasKey();
  $("sign-out").addEventListener("click", () => {
    api.useKey(null);
    location.hash = "";
    location.reload();
  });
}
