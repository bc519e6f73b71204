// The banner that says when the page has lost the service and is reconnecting.

const failing = new Map();
let hideTimer = null;

function banner() {
  return document.getElementById("connection");
}

export function lost(source, attempt) {
  failing.set(source, attempt);
  const element = banner();
  clearTimeout(hideTimer);
  element.hidden = false;
  element.className = "banner banner-lost";
  const tries = Math.max(...failing.values());
  element.textContent = `Connection to the service lost. Reconnecting… (attempt ${tries})`;
}

export function restored(source) {
  if (!failing.delete(source) || failing.size) return;
  const element = banner();
  element.className = "banner banner-ok";
  element.textContent = "Reconnected.";
  hideTimer = setTimeout(() => { element.hidden = true; }, 4000);
}
