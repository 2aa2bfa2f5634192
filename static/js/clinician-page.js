// The clinician's study page: the shared 16-bit canvas viewer with the overlays of the findings
// the signed report stands behind, and the question panel's highlights drawn on it.
import { Viewer } from "./viewer.js";

const study = document.getElementById("study");
const canvas = document.getElementById("image-canvas");
const stage = document.getElementById("stage");
const imageState = document.getElementById("image-state");
const wlReadout = document.getElementById("wl-readout");
const overlays = JSON.parse(document.getElementById("overlay-data").textContent || "[]");

let viewer = null;
if (canvas) {
  viewer = new Viewer(canvas, stage, {
    onChange: (v) => {
      if (!v.image) return;
      wlReadout.textContent = `W ${Math.round(v.window.width)}  L ${Math.round(v.window.center)}${v.userInvert ? "  inverted" : ""}`;
      canvas.dataset.window = `${Math.round(v.window.center)}/${Math.round(v.window.width)}`;
      canvas.dataset.highlight = v.highlight || "";
    },
  });
  viewer.setFindings(overlays);
}

async function loadImage(sopUid) {
  if (!viewer) return;
  imageState.textContent = "loading…";
  canvas.dataset.ready = "0";
  try {
    await viewer.load(sopUid, study.dataset.modality || "");
    imageState.textContent = `${viewer.image.width}×${viewer.image.height} · ${viewer.image.bitDepth}-bit`;
    canvas.dataset.ready = "1";
  } catch (error) {
    imageState.textContent = `image unavailable: ${error.message}`;
    canvas.dataset.ready = "error";
  }
}

document.querySelector(".toolbar").addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button || !viewer) return;
  if (button.dataset.preset) viewer.preset(button.dataset.preset);
  if (button.dataset.action === "invert") viewer.invert();
  if (button.dataset.action === "fit") viewer.fit();
  if (button.dataset.action === "reset") viewer.reset();
  if (button.dataset.sopUid) loadImage(button.dataset.sopUid);
});
document.getElementById("show-boxes").addEventListener("change", (event) => {
  if (!viewer) return;
  viewer.showBoxes = event.target.checked;
  viewer.draw();
});

// A question's evidence (or a finding in the list) asks for its region: the viewer draws that
// box highlighted (a box not among the signed overlays is drawn for the highlight alone).
document.addEventListener("ai:highlight-finding", (event) => {
  if (!viewer) return;
  const { label, box } = event.detail || {};
  viewer.setHighlight(label || null, Array.isArray(box) ? box : null);
});
document.getElementById("signed-overlays")?.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-highlight]");
  if (!button) return;
  const item = overlays.find((f) => f.label === button.dataset.highlight);
  document.dispatchEvent(
    new CustomEvent("ai:highlight-finding", { detail: { label: item.label, box: item.bounding_box, confidence: item.confidence } }),
  );
});

if (canvas) loadImage(canvas.dataset.sopUid);
