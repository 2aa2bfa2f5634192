// Small helpers shared by the pages: the CSRF token, a JSON fetch wrapper and safe DOM building.
// Data from the server is only ever placed with textContent / attributes, never as HTML.

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// Every request to the server restarts the session's idle clock (SESSION_SAVE_EVERY_REQUEST).
export function noteActivity() {
  document.dispatchEvent(new CustomEvent("session:activity"));
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

// The progress bar under the top bar: shown for anything still running after 300 ms, so a
// quick action causes no flicker and a slow one is never silent (SPEC section 5).
const BUSY_DELAY_MS = 300;
let busyCount = 0;
let busyTimer = null;

export function busyStart() {
  const bar = document.getElementById("busy");
  busyCount += 1;
  if (busyCount === 1 && bar) {
    busyTimer = setTimeout(() => {
      bar.hidden = false;
      document.documentElement.dataset.busy = "1";
    }, BUSY_DELAY_MS);
  }
  let done = false;
  return () => {
    if (done) return;
    done = true;
    busyCount -= 1;
    if (busyCount === 0) {
      clearTimeout(busyTimer);
      if (bar) bar.hidden = true;
      delete document.documentElement.dataset.busy;
    }
  };
}

export async function withBusy(promise) {
  const stop = busyStart();
  try {
    return await promise;
  } finally {
    stop();
  }
}

// quiet: no progress bar (a background check the caller shows its own state for).
export async function api(url, { method = "GET", body, signal, quiet = false } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  const stop = quiet ? () => {} : busyStart();
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      signal,
    });
  } finally {
    stop();
  }
  noteActivity();
  let data = null;
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) data = await response.json();
  if (!response.ok) throw new ApiError(response.status, data);
  return { status: response.status, data };
}

// el("li", {class: "x", dataset: {label: "Edema"}}, "text", childNode, ...)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${String(m).padStart(2, "0")}m`;
  return `${m}m ${String(sec).padStart(2, "0")}s`;
}
