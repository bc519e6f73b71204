// One job's event stream. The page reconnects by itself (not the browser's
// EventSource retry) so that it can back off 1 s … 30 s, never give up, and
// always send back the id of the last event it had, from any API process.

const EVENTS = [
  "job-status", "step-status", "step-progress", "job-log", "warning",
  "job-completed", "job-failed", "job-cancelled",
];
const TERMINAL = new Set(["job-completed", "job-failed", "job-cancelled"]);
const MAX_BACKOFF_MS = 30000;

// `address(lastId)` gives the URL to connect to (it may fetch a fresh access token).
export function follow(address, { from = null, onEvent, onConnection }) {
  let lastId = from;
  let source = null;
  let failures = 0;
  let timer = null;
  let stopped = false;

  function retry() {
    failures += 1;
    onConnection("reconnecting", failures);
    timer = setTimeout(open, Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (failures - 1)));
  }

  async function open() {
    let url;
    try {
      url = await address(lastId);
    } catch {
      if (!stopped) retry();
      return;
    }
    if (stopped) return;
    source = new EventSource(url);
    source.onopen = () => {
      failures = 0;
      onConnection("live");
    };
    source.onerror = () => {
      source.close();
      if (!stopped) retry();
    };
    for (const name of EVENTS) {
      source.addEventListener(name, (message) => {
        lastId = message.lastEventId || lastId;
        // The stream ends after its terminal event; close before the browser tries to reconnect.
        if (TERMINAL.has(name)) stop();
        onEvent(name, JSON.parse(message.data));
      });
    }
  }

  function stop() {
    stopped = true;
    clearTimeout(timer);
    source?.close();
  }

  open();
  return { stop, lastId: () => lastId };
}
