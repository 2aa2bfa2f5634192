// The image viewer: one canvas, window/level on the 16-bit values, zoom, pan, invert, AI boxes
// and heatmaps. Pixel values come from the frame endpoint's `mode=raw16` PNG, decoded in
// png16.js, so window/level is a lookup table over the true stored values: no server round
// trip while dragging, and nothing is lost to an 8-bit intermediate.
import { decodeGreyPng } from "./png16.js";
import { noteActivity } from "./common.js";

const MAX_FRAME_SIZE = 2048; // longer side requested from the server (boxes are rescaled)
const CT_PRESETS = { lung: [-600, 1500], mediastinum: [50, 350], bone: [400, 1800] };

function percentiles(values, qs) {
  const hist = new Uint32Array(65536);
  for (let i = 0; i < values.length; i++) hist[values[i]]++;
  const out = [];
  let acc = 0;
  let k = 0;
  const targets = qs.map((q) => q * values.length);
  for (let v = 0; v < 65536 && k < targets.length; v++) {
    acc += hist[v];
    while (k < targets.length && acc >= targets[k]) out[k++] = v;
  }
  while (k < targets.length) out[k++] = 65535;
  return out;
}

export class Viewer {
  constructor(canvas, stage, { onChange, onView } = {}) {
    this.canvas = canvas;
    this.stage = stage;
    this.ctx = canvas.getContext("2d");
    this.onChange = onChange || (() => {});
    this.onView = onView || (() => {}); // the user zoomed or panned (for synchronised panes)
    this.image = null; // {width, height, values, offset, rows, columns, modality}
    this.bitmap = document.createElement("canvas"); // the windowed image, image pixels
    this.findings = [];
    this.heatmaps = new Map(); // label -> {canvas, visible}
    this.heatOpacity = 0.45;
    this.showBoxes = true;
    this.hiddenBoxes = new Set(); // labels whose box the user switched off
    this.highlight = null;
    this.highlightBox = null; // a box named by another panel (ai:highlight-finding)
    this.userInvert = false;
    this.view = { scale: 1, x: 0, y: 0 };
    this.windowDirty = true;
    this.frameQueued = false;
    this.lastFrameMs = 0;
    this.bindPointer();
    new ResizeObserver(() => this.resize()).observe(stage);
  }

  async load(sopUid, modality) {
    const url = `/api/v1/instances/${encodeURIComponent(sopUid)}/frame?mode=raw16&size=${MAX_FRAME_SIZE}`;
    const response = await fetch(url, { credentials: "same-origin" });
    this.heatmaps.clear(); // heatmaps belong to the image they were computed on
    noteActivity();
    if (!response.ok) {
      let detail = `HTTP ${response.status}`;
      try {
        detail = (await response.json()).detail || detail;
      } catch {
        /* not JSON */
      }
      throw new Error(detail);
    }
    const header = (name, fallback) => {
      const value = Number(response.headers.get(name));
      return Number.isFinite(value) && response.headers.get(name) !== null ? value : fallback;
    };
    const png = await decodeGreyPng(await response.arrayBuffer());
    const offset = header("X-Value-Offset", 0);
    this.image = {
      ...png,
      offset,
      rows: header("X-Image-Rows", png.height),
      columns: header("X-Image-Columns", png.width),
      modality: (modality || "").toUpperCase(),
      photometricInverted: response.headers.get("X-Inverted") === "1",
    };
    // The image's own window, in modality units (stored value = modality value + offset).
    this.defaultWindow = {
      center: header("X-Window-Center", 0),
      width: Math.max(1, header("X-Window-Width", 1)),
    };
    const [p1, p2, p40, p50, p60, p95, p99, p995] = percentiles(
      png.values, [0.01, 0.02, 0.4, 0.5, 0.6, 0.95, 0.99, 0.995],
    ).map((v) => v - offset);
    this.stats = { p1, p2, p40, p50, p60, p95, p99, p995 };
    this.bitmap.width = png.width;
    this.bitmap.height = png.height;
    this.imageData = this.bitmap.getContext("2d").createImageData(png.width, png.height);
    this.reset();
  }

  // Projection radiographs have no Hounsfield scale, so their presets come from the image's
  // own histogram: lung = the dark (air) part at high contrast, mediastinum = the soft-tissue
  // part, bone = the bright part with a wide window. CT keeps the classic HU presets.
  preset(name) {
    if (!this.image) return;
    if (name === "default") {
      this.window = { ...this.defaultWindow };
    } else if (this.image.modality.includes("CT") && CT_PRESETS[name]) {
      const [center, width] = CT_PRESETS[name];
      this.window = { center, width };
    } else {
      const s = this.stats;
      // MONOCHROME1 stores air as high values: mirror which end is "dark".
      const inv = this.image.photometricInverted;
      const ranges = {
        lung: inv ? [s.p40, s.p99] : [s.p2, s.p60],
        mediastinum: [s.p40, s.p95],
        bone: inv ? [s.p1, s.p50] : [s.p50, s.p995],
      };
      const [low, high] = ranges[name] || [s.p1, s.p99];
      const width = Math.max(1, high - low) * (name === "bone" ? 1.4 : 1);
      this.window = { center: (low + high) / 2, width };
    }
    this.windowDirty = true;
    this.draw();
  }

  reset() {
    this.userInvert = false;
    this.window = { ...this.defaultWindow };
    this.windowDirty = true;
    this.fit();
  }

  fitScale() {
    const { width, height } = this.canvasSize();
    return Math.min(width / this.image.width, height / this.image.height) * 0.98;
  }

  fit() {
    if (!this.image) return;
    const { width, height } = this.canvasSize();
    const scale = this.fitScale();
    this.view = {
      scale,
      x: (width - this.image.width * scale) / 2,
      y: (height - this.image.height * scale) / 2,
    };
    this.viewChanged();
  }

  // Zoom relative to "fit" and the image point at the canvas centre, in 0..1 image
  // coordinates: two panes showing images of different sizes line up by anatomy proportion.
  viewState() {
    if (!this.image) return null;
    const { width, height } = this.canvasSize();
    const { scale, x, y } = this.view;
    return {
      zoom: scale / this.fitScale(),
      cx: (width / 2 - x) / scale / this.image.width,
      cy: (height / 2 - y) / scale / this.image.height,
    };
  }

  setViewState(state) {
    if (!this.image || !state) return;
    const { width, height } = this.canvasSize();
    const scale = state.zoom * this.fitScale();
    this.view = {
      scale,
      x: width / 2 - state.cx * this.image.width * scale,
      y: height / 2 - state.cy * this.image.height * scale,
    };
    this.draw();
  }

  viewChanged() {
    this.draw();
    this.onView(this);
  }

  actualSize() {
    if (!this.image) return;
    // One screen pixel per original detector pixel (frames may arrive downsampled).
    const factor = this.image.columns / this.image.width;
    this.zoomAt(factor / this.view.scale / (window.devicePixelRatio || 1));
  }

  invert() {
    this.userInvert = !this.userInvert;
    this.windowDirty = true;
    this.draw();
  }

  zoomAt(factor, px, py) {
    const { width, height } = this.canvasSize();
    const cx = px ?? width / 2;
    const cy = py ?? height / 2;
    const scale = Math.min(40, Math.max(0.05, this.view.scale * factor));
    const real = scale / this.view.scale;
    this.view = {
      scale,
      x: cx - (cx - this.view.x) * real,
      y: cy - (cy - this.view.y) * real,
    };
    this.viewChanged();
  }

  setWindow(center, width) {
    this.window = { center, width: Math.max(1, width) };
    this.windowDirty = true;
    this.draw();
  }

  setFindings(findings) {
    this.findings = findings || [];
    this.draw();
  }

  async setHeatmap(label, url, visible) {
    let entry = this.heatmaps.get(label);
    if (!entry) {
      entry = { canvas: null, visible: false, loading: null };
      this.heatmaps.set(label, entry);
    }
    entry.visible = visible;
    if (visible && !entry.canvas && url) {
      entry.loading = entry.loading || this.loadHeat(url).then((c) => (entry.canvas = c));
      await entry.loading;
    }
    this.draw();
  }

  // The heatmap endpoint returns the colour map already blended on a grey radiograph. The grey
  // part has no saturation, so saturation becomes the layer's alpha: what remains is the heat
  // alone, drawn over the user's own window at the chosen opacity.
  async loadHeat(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    noteActivity();
    if (!response.ok) throw new Error(`heatmap HTTP ${response.status}`);
    const bitmap = await createImageBitmap(await response.blob());
    const layer = document.createElement("canvas");
    layer.width = bitmap.width;
    layer.height = bitmap.height;
    const lctx = layer.getContext("2d");
    lctx.drawImage(bitmap, 0, 0);
    const data = lctx.getImageData(0, 0, layer.width, layer.height);
    const px = data.data;
    for (let i = 0; i < px.length; i += 4) {
      const max = Math.max(px[i], px[i + 1], px[i + 2]);
      const min = Math.min(px[i], px[i + 1], px[i + 2]);
      const chroma = max - min;
      if (chroma > 0) {
        const gain = 255 / Math.max(chroma, 1);
        px[i] = (px[i] - min) * gain;
        px[i + 1] = (px[i + 1] - min) * gain;
        px[i + 2] = (px[i + 2] - min) * gain;
      }
      px[i + 3] = Math.min(255, chroma * 1.5);
    }
    lctx.putImageData(data, 0, 0);
    return layer;
  }

  setHeatOpacity(value) {
    this.heatOpacity = value;
    this.draw();
  }

  setHighlight(label, box = null) {
    this.highlight = label;
    this.highlightBox = box && box.length === 4 ? box : null;
    this.draw();
  }

  setBoxVisible(label, visible) {
    if (visible) this.hiddenBoxes.delete(label);
    else this.hiddenBoxes.add(label);
    this.draw();
  }

  canvasSize() {
    return { width: this.canvas.width, height: this.canvas.height };
  }

  resize() {
    const ratio = window.devicePixelRatio || 1;
    const rect = this.stage.getBoundingClientRect();
    const width = Math.max(1, Math.round(rect.width * ratio));
    const height = Math.max(1, Math.round(rect.height * ratio));
    if (width === this.canvas.width && height === this.canvas.height) return;
    const first = this.canvas.width <= 300 && this.canvas.height <= 150;
    // Keep what the user looks at when the pane changes size (a prior opening beside it).
    const state = first ? null : this.viewState();
    this.canvas.width = width;
    this.canvas.height = height;
    this.canvas.style.width = `${rect.width}px`;
    this.canvas.style.height = `${rect.height}px`;
    if (state) this.setViewState(state);
    else this.fit();
  }

  applyWindow() {
    const { values, offset } = this.image;
    const { center, width } = this.window;
    const low = center - width / 2 + offset; // in stored values
    // One 32-bit RGBA word per stored value, written in a single store per pixel (about twice
    // as fast as four byte stores on a 3.6 Mpx radiograph). Byte order: every platform a
    // browser runs on is little-endian, so the word is A<<24 | B<<16 | G<<8 | R.
    const lut = new Uint32Array(65536);
    const flip = this.image.photometricInverted !== this.userInvert;
    for (let v = 0; v < 65536; v++) {
      const y = Math.min(255, Math.max(0, Math.round(((v - low) / width) * 255)));
      const g = flip ? 255 - y : y;
      lut[v] = (0xff000000 | (g << 16) | (g << 8) | g) >>> 0;
    }
    const out = new Uint32Array(this.imageData.data.buffer);
    for (let i = 0; i < values.length; i++) out[i] = lut[values[i]];
    this.bitmap.getContext("2d").putImageData(this.imageData, 0, 0);
    this.windowDirty = false;
  }

  // Draws are coalesced to one per animation frame.
  draw() {
    if (this.frameQueued) return;
    this.frameQueued = true;
    requestAnimationFrame(() => {
      this.frameQueued = false;
      this.paint();
    });
  }

  paint() {
    const start = performance.now();
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (!this.image) return;
    if (this.windowDirty) this.applyWindow();
    const { scale, x, y } = this.view;
    const img = this.image;
    ctx.setTransform(scale, 0, 0, scale, x, y);
    ctx.imageSmoothingEnabled = scale < 1;
    ctx.drawImage(this.bitmap, 0, 0);
    ctx.imageSmoothingEnabled = true;
    for (const entry of this.heatmaps.values()) {
      if (!entry.visible || !entry.canvas) continue;
      ctx.globalAlpha = this.heatOpacity;
      ctx.drawImage(entry.canvas, 0, 0, img.width, img.height);
      ctx.globalAlpha = 1;
    }
    // Boxes are in original pixels; the frame may be downsampled.
    const sx = img.width / img.columns;
    const sy = img.height / img.rows;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    const ratio = window.devicePixelRatio || 1;
    ctx.font = `${12 * ratio}px system-ui, sans-serif`;
    const drawn = this.findings.map((f) => ({ ...f, bounding_box: f.bounding_box }));
    const named = this.highlightBox && !drawn.some((f) => f.label === this.highlight && f.bounding_box);
    if (named) drawn.push({ label: this.highlight || "", confidence: null, bounding_box: this.highlightBox });
    for (const finding of drawn) {
      const box = finding.bounding_box;
      if (!box || box.length !== 4) continue;
      const isHighlighted = Boolean(this.highlight) && this.highlight === finding.label;
      if ((!this.showBoxes || this.hiddenBoxes.has(finding.label)) && !isHighlighted) continue;
      const x0 = x + box[0] * sx * scale;
      const y0 = y + box[1] * sy * scale;
      const w = (box[2] - box[0]) * sx * scale;
      const h = (box[3] - box[1]) * sy * scale;
      const colour = isHighlighted ? "#ffd84d" : finding.is_critical ? "#ff5d5d" : "#4dc3ff";
      ctx.strokeStyle = colour;
      ctx.lineWidth = (isHighlighted ? 3 : 1.5) * ratio;
      ctx.strokeRect(x0, y0, w, h);
      const text = finding.confidence === null || finding.confidence === undefined
        ? finding.label
        : `${finding.label} ${Math.round(finding.confidence * 100)}%`;
      const tw = ctx.measureText(text).width + 8 * ratio;
      const th = 16 * ratio;
      const ty = y0 - th >= 0 ? y0 - th : y0;
      ctx.fillStyle = "rgba(0,0,0,0.7)";
      ctx.fillRect(x0, ty, tw, th);
      ctx.fillStyle = colour;
      ctx.fillText(text, x0 + 4 * ratio, ty + 12 * ratio);
    }
    this.lastFrameMs = performance.now() - start;
    this.onChange(this);
  }

  bindPointer() {
    let drag = null;
    const canvas = this.canvas;
    canvas.addEventListener("contextmenu", (e) => e.preventDefault());
    canvas.addEventListener("pointerdown", (event) => {
      if (!this.image) return;
      canvas.setPointerCapture(event.pointerId);
      const pan = event.button === 1 || event.button === 2 || event.shiftKey;
      drag = {
        mode: pan ? "pan" : "window",
        x: event.clientX,
        y: event.clientY,
        view: { ...this.view },
        window: { ...this.window },
      };
      this.stage.focus({ preventScroll: true });
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!drag) return;
      const ratio = window.devicePixelRatio || 1;
      const dx = event.clientX - drag.x;
      const dy = event.clientY - drag.y;
      if (drag.mode === "pan") {
        this.view = { ...drag.view, x: drag.view.x + dx * ratio, y: drag.view.y + dy * ratio };
        this.viewChanged();
      } else {
        // Sensitivity follows the image's value range: a 500 px drag spans it.
        const range = Math.max(1, this.stats.p99 - this.stats.p1);
        const step = range / 500;
        this.setWindow(drag.window.center - dy * step, drag.window.width + dx * step);
      }
    });
    const end = () => {
      drag = null;
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    canvas.addEventListener(
      "wheel",
      (event) => {
        if (!this.image) return;
        event.preventDefault();
        const ratio = window.devicePixelRatio || 1;
        const rect = canvas.getBoundingClientRect();
        const factor = Math.exp(-event.deltaY * 0.0015);
        this.zoomAt(factor, (event.clientX - rect.left) * ratio, (event.clientY - rect.top) * ratio);
      },
      { passive: false },
    );
  }
}
