// The reading page: wires the viewer's toolbar and keyboard shortcuts, the report editor, and
// the worklist WebSocket (a draft that arrives while the page is open is shown at once).
import { Viewer } from "./viewer.js";
import { ReportEditor } from "./report.js";

const study = document.getElementById("study");
const canvas = document.getElementById("image-canvas");
const stage = document.getElementById("stage");
const help = document.getElementById("help");
const wlReadout = document.getElementById("wl-readout");
const zoomReadout = document.getElementById("zoom-readout");
const imageState = document.getElementById("image-state");
const modality = study.dataset.modality || "";

let viewer = null;
if (canvas) {
  viewer = new Viewer(canvas, stage, {
    onChange: (v) => {
      if (!v.image) return;
      wlReadout.textContent = `W ${Math.round(v.window.width)}  L ${Math.round(v.window.center)}${v.userInvert ? "  inverted" : ""}`;
      zoomReadout.textContent = `zoom ${Math.round((v.view.scale * 100 * v.image.columns) / v.image.width / (window.devicePixelRatio || 1))}%`;
      canvas.dataset.window = `${Math.round(v.window.center)}/${Math.round(v.window.width)}`;
      canvas.dataset.frameMs = v.lastFrameMs.toFixed(1);
    },
  });
}

const editor = new ReportEditor({
  studyUid: study.dataset.studyUid,
  canReport: study.dataset.canReport === "1",
  viewer,
});

async function loadImage(sopUid) {
  if (!viewer) return;
  imageState.textContent = "loading…";
  canvas.dataset.ready = "0";
  try {
    const started = performance.now();
    await viewer.load(sopUid, modality);
    const { width, height, bitDepth } = viewer.image;
    imageState.textContent = `${width}×${height} · ${bitDepth}-bit`;
    canvas.dataset.ready = "1";
    canvas.dataset.loadMs = (performance.now() - started).toFixed(0);
  } catch (error) {
    imageState.textContent = `image unavailable: ${error.message}`;
    canvas.dataset.ready = "error";
  }
}

document.querySelector(".toolbar").addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button || !viewer) return;
  if (button.dataset.preset) viewer.preset(button.dataset.preset);
  const action = button.dataset.action;
  if (action === "invert") viewer.invert();
  if (action === "fit") viewer.fit();
  if (action === "one") viewer.actualSize();
  if (action === "reset") viewer.reset();
  if (action === "help") help.hidden = !help.hidden;
  if (button.dataset.sopUid) {
    for (const b of document.querySelectorAll(".image-pick")) b.setAttribute("aria-pressed", b === button ? "true" : "false");
    canvas.dataset.sopUid = button.dataset.sopUid;
    loadImage(button.dataset.sopUid);
  }
});

document.getElementById("show-boxes").addEventListener("change", (event) => {
  if (!viewer) return;
  viewer.showBoxes = event.target.checked;
  viewer.draw();
});
document.getElementById("heatmap-opacity").addEventListener("input", (event) => {
  viewer && viewer.setHeatOpacity(Number(event.target.value) / 100);
});

document.addEventListener("keydown", (event) => {
  const typing = event.target.closest("textarea, input, select, dialog");
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
