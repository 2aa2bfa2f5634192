// The worklist: live turnaround clocks, filters and paging without reloads, and live updates
// over the WebSocket (/ws/worklist/). An event ({event, study_uid, status}) makes the page
// refetch its rows as a server-rendered fragment: the server escapes every value, so the
// fragment is parsed with DOMParser (scripts in it never run) and its nodes moved in; no
// data is ever concatenated into HTML here. A slow poll covers the time the socket is down.
import { api, busyStart, formatDuration, noteActivity } from "./common.js";

const root = document.getElementById("worklist");
const body = document.getElementById("worklist-body");
const form = document.getElementById("filters");
const liveState = document.getElementById("live-state");
const lastUpdate = document.getElementById("last-update");
const POLL_SOCKET_DOWN_MS = 10000;
const POLL_SOCKET_UP_MS = 60000;

let offset = Number(new URLSearchParams(location.search).get("offset")) || 0;
let inFlight = null;
let pending = false;
let flashUids = new Set();
let lastRefresh = Date.now();

function query() {
  const params = new URLSearchParams();
  for (const [key, value] of new FormData(form)) if (value) params.set(key, value);
  if (offset) params.set("offset", String(offset));
  return params;
}

async function refresh() {
  if (inFlight) {
    pending = true; // one request at a time; the newest state wins
    return;
  }
  const params = query();
  const stop = busyStart();
  inFlight = fetch(`${root.dataset.rowsUrl}?${params}`, {
    credentials: "same-origin",
    headers: { Accept: "text/html" },
  });
  inFlight.then(stop, stop);
  try {
    const response = await inFlight;
    if (response.redirected || response.status === 401 || response.status === 403) {
      location.reload(); // the session ended: let the server send us to the login page
      return;
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    noteActivity();
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    body.replaceChildren(...doc.body.childNodes);
    for (const uid of flashUids) {
      const row = body.querySelector(`tr[data-study-uid="${CSS.escape(uid)}"]`);
      if (row) row.classList.add("flash");
    }
    flashUids = new Set();
    lastRefresh = Date.now();
    lastUpdate.textContent = `updated ${new Date().toLocaleTimeString()}`;
    const shown = params.toString();
    history.replaceState(null, "", shown ? `?${shown}` : location.pathname);
    tickClocks();
  } catch (error) {
    lastUpdate.textContent = `update failed (${error.message}); retrying`;
  } finally {
    inFlight = null;
    if (pending) {
      pending = false;
      refresh();
    }
  }
}

function tickClocks() {
  const now = Date.now();
  const table = body.querySelector("table[data-escalation-minutes]");
  const lateAfter = 60 * (table ? Number(table.dataset.escalationMinutes) || 60 : 60);
  for (const cell of body.querySelectorAll("td.clock[data-since]")) {
    const since = Date.parse(cell.dataset.since);
    const until = cell.dataset.until ? Date.parse(cell.dataset.until) : now;
    if (Number.isNaN(since)) continue;
    const seconds = (until - since) / 1000;
    cell.textContent = formatDuration(seconds) + (cell.dataset.until ? " ✓" : "");
    cell.classList.toggle("late", !cell.dataset.until && seconds > lateAfter);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  offset = 0;
  refresh();
});
form.addEventListener("change", () => {
  offset = 0;
  refresh();
});
body.addEventListener("click", async (event) => {
  const take = event.target.closest("button[data-assign-url]");
  if (take) {
    take.disabled = true;
    take.textContent = "assigning…";
    try {
      await api(take.dataset.assignUrl, { method: "POST", body: { assignee: root.dataset.username } });
    } catch (error) {
      lastUpdate.textContent = `not assigned: ${error.message}`;
    }
    refresh();
    return;
  }
  const link = event.target.closest("a[data-offset]");
  if (!link) return;
  event.preventDefault();
  offset = Number(link.dataset.offset) || 0;
  refresh();
});

let socket = null;
let backoff = 1000;
function setLive(state, text) {
  liveState.dataset.state = state;
  liveState.textContent = text;
}
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}${root.dataset.wsPath}`);
  setLive("connecting", "connecting…");
  socket.addEventListener("open", () => {
    backoff = 1000;
    setLive("up", "live");
  });
  socket.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message && typeof message.study_uid === "string") flashUids.add(message.study_uid);
    refresh();
  });
  socket.addEventListener("close", () => {
    setLive("down", "offline – polling");
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 30000);
  });
}

connect();
tickClocks();
setInterval(tickClocks, 1000);
setInterval(() => {
  const up = socket && socket.readyState === WebSocket.OPEN;
  if (Date.now() - lastRefresh >= (up ? POLL_SOCKET_UP_MS : POLL_SOCKET_DOWN_MS)) refresh();
}, 2000);
