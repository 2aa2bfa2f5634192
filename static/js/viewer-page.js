// The reading page: wires the viewer's toolbar, thumbnails, prior comparison (side by side,
// zoom and pan synchronised), keyboard shortcuts, the study's assignment, the report editor,
// highlight requests from other panels (`ai:highlight-finding`), and the worklist WebSocket
// (a draft that arrives while the page is open is shown at once).
import { Viewer } from "./viewer.js";
import { ReportEditor } from "./report.js";
import { api, busyStart } from "./common.js";

const study = document.getElementById("study");
const canvas = document.getElementById("image-canvas");
const stage = document.getElementById("stage");
const help = document.getElementById("help");
const wlReadout = document.getElementById("wl-readout");
const zoomReadout = document.getElementById("zoom-readout");
const imageState = document.getElementById("image-state");
const frameMs = document.getElementById("frame-ms");
const priorPick = document.getElementById("prior-pick");
const priorStage = document.getElementById("prior-stage");
const syncViews = document.getElementById("sync-views");
const modality = study.dataset.modality || "";

function zoomPercent(v) {
  return Math.round((v.view.scale * 100 * v.image.columns) / v.image.width / (window.devicePixelRatio || 1));
}

// "zoom cx cy" relative to fit, for tests to compare two synchronised panes.
function viewKey(v) {
  const state = v.viewState();
  return state ? `${state.zoom.toFixed(2)} ${state.cx.toFixed(2)} ${state.cy.toFixed(2)}` : "";
}

// Zoom and pan follow from one pane to the other while "sync" is on (window/level does not:
// the two images have their own exposure).
let prior = null;
function follow(source) {
  if (!syncViews || !syncViews.checked || !prior || priorStage.hidden) return;
  const target = source === viewer ? prior : viewer;
  if (target && target.image) target.setViewState(source.viewState());
}

let viewer = null;
if (canvas) {
  viewer = new Viewer(canvas, stage, {
    onChange: (v) => {
      if (!v.image) return;
      wlReadout.textContent = `W ${Math.round(v.window.width)}  L ${Math.round(v.window.center)}${v.userInvert ? "  inverted" : ""}`;
      zoomReadout.textContent = `zoom ${zoomPercent(v)}%`;
      canvas.dataset.window = `${Math.round(v.window.center)}/${Math.round(v.window.width)}`;
      canvas.dataset.view = viewKey(v);
      canvas.dataset.frameMs = v.lastFrameMs.toFixed(1);
      frameMs.textContent = `${v.lastFrameMs.toFixed(1)} ms/frame`;
      if (!canvas.dataset.firstPaintMs && canvas.dataset.ready === "1") {
        canvas.dataset.firstPaintMs = performance.now().toFixed(0); // since navigation start
      }
    },
    onView: (v) => follow(v),
  });
}

const editor = new ReportEditor({
  studyUid: study.dataset.studyUid,
  canReport: study.dataset.canReport === "1",
  viewer,
});

async function loadInto(target, sopUid, { stateNode, spinner, node, mod }) {
  stateNode.textContent = "loading…";
  node.dataset.ready = "0";
  spinner.hidden = false;
  const stop = busyStart();
  try {
    const started = performance.now();
    await target.load(sopUid, mod);
    const { width, height, bitDepth } = target.image;
    stateNode.textContent = `${width}×${height} · ${bitDepth}-bit`;
    node.dataset.ready = "1";
    node.dataset.loadMs = (performance.now() - started).toFixed(0);
  } catch (error) {
    stateNode.textContent = `image unavailable: ${error.message}`;
    node.dataset.ready = "error";
  } finally {
    spinner.hidden = true;
    stop();
  }
}

async function loadImage(sopUid) {
  if (!viewer) return;
  canvas.dataset.sopUid = sopUid;
  for (const b of document.querySelectorAll(".image-pick")) {
    b.setAttribute("aria-pressed", b.dataset.sopUid === sopUid ? "true" : "false");
  }
  await loadInto(viewer, sopUid, {
    stateNode: imageState,
    spinner: document.getElementById("image-spinner"),
    node: canvas,
    mod: modality,
  });
  editor.imageChanged(sopUid);
}

async function showPrior(sopUid) {
  if (!priorPick) return;
  priorStage.hidden = !sopUid;
  stage.closest(".panes").classList.toggle("split", Boolean(sopUid));
  if (!sopUid) {
    if (viewer) viewer.fit();
    return;
  }
  const priorCanvas = document.getElementById("prior-canvas");
  if (!prior) {
    prior = new Viewer(priorCanvas, priorStage, {
      onChange: (v) => {
        if (!v.image) return;
        document.getElementById("prior-wl").textContent =
          `W ${Math.round(v.window.width)}  L ${Math.round(v.window.center)}  zoom ${zoomPercent(v)}%`;
        priorCanvas.dataset.window = `${Math.round(v.window.center)}/${Math.round(v.window.width)}`;
        priorCanvas.dataset.view = viewKey(v);
      },
      onView: (v) => follow(v),
    });
  }
  const option = priorPick.selectedOptions[0];
  document.getElementById("prior-name").textContent = option ? option.dataset.label : "prior";
  await loadInto(prior, sopUid, {
    stateNode: document.getElementById("prior-state"),
    spinner: document.getElementById("prior-spinner"),
    node: priorCanvas,
    mod: option ? option.dataset.modality : "",
  });
  if (viewer && viewer.image) follow(viewer);
}

document.querySelector(".toolbar").addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  const action = button.dataset.action;
  if (action === "help") help.hidden = !help.hidden;
  if (!viewer) return;
  if (button.dataset.preset) viewer.preset(button.dataset.preset);
  if (action === "invert") viewer.invert();
  if (action === "fit") viewer.fit();
  if (action === "one") viewer.actualSize();
  if (action === "reset") viewer.reset();
});

const thumbs = document.querySelector(".thumbs");
thumbs.addEventListener("click", (event) => {
  const button = event.target.closest(".image-pick");
  if (button) loadImage(button.dataset.sopUid);
});

function stepImage(delta) {
  const picks = [...document.querySelectorAll(".image-pick")];
  if (picks.length < 2) return;
  const at = picks.findIndex((b) => b.dataset.sopUid === canvas.dataset.sopUid);
  const next = picks[(at + delta + picks.length) % picks.length];
  loadImage(next.dataset.sopUid);
}

document.getElementById("show-boxes").addEventListener("change", (event) => {
  if (!viewer) return;
  viewer.showBoxes = event.target.checked;
  viewer.draw();
});
document.getElementById("heatmap-opacity").addEventListener("input", (event) => {
  viewer && viewer.setHeatOpacity(Number(event.target.value) / 100);
});
if (priorPick) priorPick.addEventListener("change", () => showPrior(priorPick.value));
if (syncViews) syncViews.addEventListener("change", () => viewer && follow(viewer));

// Another panel (the VQA answer's evidence, for one) asks to show a finding.
document.addEventListener("ai:highlight-finding", (event) => {
  const detail = event.detail || {};
  editor.focusFinding(detail.label || null, Array.isArray(detail.box) ? detail.box : null);
});

const assignee = document.getElementById("assignee");
if (assignee) {
  assignee.addEventListener("change", async () => {
    assignee.disabled = true;
    try {
      const { data } = await api(assignee.dataset.url, {
        method: "POST",
        body: { assignee: assignee.value || null },
      });
      editor.message(data.assignee ? `Assigned to ${data.assignee}.` : "Assignment removed.", "ok");
    } catch (error) {
      editor.message(`Assignment not changed: ${error.message}`, "error");
    } finally {
      assignee.disabled = false;
    }
  });
}

document.addEventListener("keydown", (event) => {
  const typing = event.target.closest("textarea, input, select, dialog, [contenteditable]");
  if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
    event.preventDefault();
    editor.save();
    return;
  }
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "Escape") {
    help.hidden = true;
    return;
  }
  if (event.key === "?") {
    help.hidden = !help.hidden;
    return;
  }
  if (!viewer) return;
  const keys = {
    1: () => viewer.preset("lung"),
    2: () => viewer.preset("mediastinum"),
    3: () => viewer.preset("bone"),
    0: () => viewer.preset("default"),
    i: () => viewer.invert(),
    f: () => viewer.fit(),
    r: () => viewer.reset(),
    "+": () => viewer.zoomAt(1.25),
    "=": () => viewer.zoomAt(1.25),
    "-": () => viewer.zoomAt(0.8),
    "[": () => stepImage(-1),
    "]": () => stepImage(1),
    p: () => {
      if (!priorPick) return;
      priorPick.value = priorPick.value ? "" : (priorPick.options[1] || {}).value || "";
      showPrior(priorPick.value);
    },
    s: () => {
      if (!syncViews) return;
      syncViews.checked = !syncViews.checked;
      syncViews.dispatchEvent(new Event("change"));
    },
    b: () => {
      const box = document.getElementById("show-boxes");
      box.checked = !box.checked;
      box.dispatchEvent(new Event("change"));
    },
    h: () => {
      const toggles = [...document.querySelectorAll("input[data-heatmap]")];
      const show = toggles.some((t) => !t.checked);
      for (const t of toggles) {
        if (t.checked !== show) {
          t.checked = show;
          t.dispatchEvent(new Event("change"));
        }
      }
    },
  };
  const run = keys[event.key.toLowerCase()];
  if (run) {
    event.preventDefault();
    run();
  }
});

// Live: when this study's draft arrives (or its status changes elsewhere), show it.
function listen() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/worklist/`);
  socket.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!message || message.study_uid !== study.dataset.studyUid) return;
    const status = document.getElementById("study-status");
    status.textContent = message.status;
    status.className = `status s-${message.status}`;
    if (!editor.dirty && !editor.reportId) editor.load();
  });
  socket.addEventListener("close", () => setTimeout(listen, 5000));
}

if (canvas) loadImage(canvas.dataset.sopUid);
editor.load();
listen();
