// The report editor beside the viewer: sections from the report API, the AI's findings with
// accept / edit / reject and per-finding box and heatmap toggles, draft sentences with their
// provenance (finding, confidence; a click shows its box and heatmap), live QA flags while
// typing (the labeller re-reads the text on the server), autosave as new versions, sign with
// the password, addenda after signing, and plain messages for a stale save or a lost claim.
import { api, ApiError, el } from "./common.js";
import { findingContext, renderClinicalContext, renderDecisionSupport } from "./context.js";

const QA_DEBOUNCE_MS = 600;
const AUTOSAVE_IDLE_MS = 20000; // a pause this long in typing saves a version
const CLAIM_WARN_MS = 2 * 60 * 1000;

function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

function clock(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function percent(confidence) {
  return typeof confidence === "number" ? `${Math.round(confidence * 100)}%` : "";
}

export class ReportEditor {
  constructor({ studyUid, canReport, viewer }) {
    this.studyUid = studyUid;
    this.canReport = canReport;
    this.viewer = viewer;
    this.reportId = null;
    this.baseVersion = null;
    this.decisions = new Map(); // label -> {decision, text}
    this.findings = [];
    this.whyOpen = new Map(); // label -> whether its context figures are open (reader's choice)
    this.signed = false;
    this.readOnly = !canReport;
    this.dirty = false;
    this.editing = null; // the label whose finding text is being edited
    this.qaTimer = null;
    this.qaSequence = 0;
    this.autosaveTimer = null;
    this.autosaveBlocked = false; // after a refused save, until the user saves by hand
    this.saving = null;
    this.aiImage = null; // the image the AI read: overlays are drawn on it only
    this.$ = (id) => document.getElementById(id);
    this.sections = {
      findings: this.$("sec-findings"),
      impression: this.$("sec-impression"),
      recommendations: this.$("sec-recommendations"),
    };
    this.bind();
    setInterval(() => this.showClaim(), 15000);
  }

  bind() {
    for (const area of Object.values(this.sections)) {
      area.addEventListener("input", () => {
        this.setDirty(true);
        this.scheduleQa();
        this.scheduleAutosave();
      });
    }
    this.$("report-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    this.$("sign-btn").addEventListener("click", () => this.openSign());
    this.$("sign-cancel").addEventListener("click", () => this.$("sign-dialog").close());
    this.$("sign-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.sign();
    });
    this.$("addendum-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.addAddendum();
    });
    window.addEventListener("beforeunload", (event) => {
      if (this.dirty) event.preventDefault();
    });
  }

  message(text, kind = "info", action = null) {
    const box = this.$("report-message");
    box.hidden = !text;
    box.className = `message ${kind}`;
    box.replaceChildren(text || "");
    if (action) box.append(" ", action);
  }

  setDirty(value, note = "") {
    this.dirty = value;
    this.$("dirty-state").textContent = value ? "unsaved changes" : note;
  }

  async load() {
    let ai;
    try {
      ai = (await api(`/api/v1/studies/${encodeURIComponent(this.studyUid)}/report`)).data;
    } catch (error) {
      this.message(`The report cannot be loaded: ${error.message}`, "error");
      return;
    }
    this.ai = ai;
    this.showAi(ai);
    if (!ai.report_id) {
      const state = ai.drafting ? ai.drafting.state : "";
      const error = ai.drafting && ai.drafting.error ? `: ${ai.drafting.error}` : "";
      this.$("drafting-state").textContent =
        ai.status === "draft_failed"
          ? `AI draft failed${error}. You can write the report yourself.`
          : `Waiting for the AI draft (${state || "not requested"})… this page updates when it is ready.`;
      this.setEditable(this.canReport);
      return;
    }
    this.$("drafting-state").textContent = "";
    this.reportId = ai.report_id;
    if (this.canReport && ai.status === "draft") await this.claim();
    await this.loadRecord();
    this.runQa();
  }

  async claim() {
    try {
      await api(`/api/v1/reports/${this.reportId}/claim`, { method: "POST" });
    } catch (error) {
      if (error instanceof ApiError && error.status === 423) {
        const holder = error.body.claimed_by || "another radiologist";
        this.message(
          `${holder} is editing this report (until ${when(error.body.claim_expires_at)}). It is read-only for you.`,
          "warn",
        );
        this.readOnly = true;
      } else {
        this.message(`Could not claim the report: ${error.message}`, "error");
      }
    }
  }

  async loadRecord() {
    const detail = (await api(`/api/v1/reports/${this.reportId}`)).data;
    this.applyRecord(detail);
  }

  applyRecord(detail, note = "") {
    this.detail = detail;
    this.baseVersion = detail.head_version;
    this.signed = detail.status === "signed" || detail.status === "amended";
    const current = detail.current || {};
    this.sections.findings.value = current.findings || "";
    this.sections.impression.value = current.impression || "";
    this.sections.recommendations.value = current.recommendations || "";
    this.decisions = new Map(
      (current.decisions || []).map((d) => [d.label, { decision: d.decision, text: d.text || "" }]),
    );
    this.editing = null;
    this.setDirty(false, note);
    const author = current.author ? ` by ${current.author}` : current.kind === "ai_draft" ? " (AI draft)" : "";
    this.$("report-version").textContent =
      current.number !== undefined ? `version ${current.number}${author}` : "";
    const status = this.$("report-status");
    status.textContent = detail.status;
    status.className = `status s-${detail.status}`;
    this.showClaim();
    this.setEditable(this.canReport && !this.readOnly && !this.signed);
    this.renderFindings();
    this.renderAddenda(detail.addenda || []);
  }

  // The claim line: who holds the report and until when; a warning before the user's lapses.
  showClaim() {
    const line = this.$("claim-state");
    const detail = this.detail;
    if (!detail) return;
    line.classList.remove("warn");
    if (this.signed) {
      line.textContent = `signed by ${detail.signed_by} ${when(detail.signed_at)}`;
      return;
    }
    const claim = detail.claim;
    if (!claim) {
      line.textContent = "";
      return;
    }
    const left = new Date(claim.expires_at).getTime() - Date.now();
    const me = document.querySelector("[data-testid=who]");
    const mine = me && me.textContent.trim().split(/\s+/)[0] === claim.holder;
    if (left <= 0) {
      line.textContent = mine ? "your claim lapsed: saving claims the report again if it is still free" : "";
      line.classList.toggle("warn", mine);
      return;
    }
    line.textContent = `claimed by ${mine ? "you" : claim.holder} until ${clock(claim.expires_at)}`;
    line.classList.toggle("warn", mine && left < CLAIM_WARN_MS);
  }

  setEditable(editable) {
    for (const area of Object.values(this.sections)) area.readOnly = !editable;
    this.$("save-btn").disabled = !editable;
    this.$("sign-btn").disabled = !editable;
    this.$("report-form").classList.toggle("locked", !editable);
  }

  get editable() {
    return this.canReport && !this.readOnly && !this.signed;
  }

  showAi(ai) {
    const notice = this.$("ai-notice");
    if (ai.ai_notice) {
      const model = [ai.model_name, ai.model_version].filter(Boolean).join(" ");
      notice.textContent = `${ai.ai_notice}${model ? ` Model: ${model}.` : ""}`;
      notice.hidden = false;
    } else {
      notice.hidden = true;
    }
    this.$("model-name").textContent = ai.model_version ? `(${ai.model_version})` : "";
    this.findings = ai.findings || [];
    const context = this.$("clinical-context");
    if (context) renderClinicalContext(context, ai, { clinicalUrl: context.dataset.enterUrl || null });
    const support = this.$("decision-support");
    if (support) renderDecisionSupport(support, ai);
    this.applyOverlays();
    this.renderQaFlags(
      (ai.qa_flags || []).map((flag) => ({ ...flag, message: [flag.label, flag.detail].filter(Boolean).join(": ") })),
      "on the AI draft",
    );
    this.renderSentences(ai.sentences || []);
  }

  // Overlays were computed on one image (the frontal view the page opens first).
  imageChanged(sopUid) {
    if (this.aiImage === null) this.aiImage = sopUid;
    this.applyOverlays(sopUid);
  }

  applyOverlays(sopUid = null) {
    if (!this.viewer) return;
    const shown = sopUid || (this.viewer.canvas && this.viewer.canvas.dataset.sopUid);
    const onAiImage = this.aiImage === null || shown === this.aiImage;
    this.viewer.setFindings(onAiImage ? this.findings : []);
    if (!onAiImage) {
      for (const toggle of document.querySelectorAll("input[data-heatmap]")) toggle.checked = false;
    }
    const note = this.$("drafting-state");
    if (!onAiImage && this.findings.length) note.textContent = "AI overlays belong to the first image.";
    else if (note.textContent === "AI overlays belong to the first image.") note.textContent = "";
  }

  findingByLabel(label) {
    return this.findings.find((f) => f.label === label) || null;
  }

  renderFindings() {
    const list = this.$("findings");
    if (!this.findings.length) {
      list.replaceChildren(el("li", { class: "muted" }, "The AI proposed no findings."));
      return;
    }
    list.replaceChildren(...this.findings.map((finding) => this.findingItem(finding)));
  }

  findingItem(finding) {
    const label = finding.label;
    const { decision, text } = this.decisions.get(label) || { decision: "proposed", text: "" };
    const editable = this.editable;
    const item = el(
      "li",
      {
        class: `finding d-${decision}${finding.is_critical ? " critical" : ""}`,
        dataset: { label },
        onmouseenter: () => this.highlight(label),
        onmouseleave: () => this.highlight(null),
      },
      el("span", { class: "label", title: finding.finding || label }, label),
      el("span", { class: "conf", title: "AI confidence" }, percent(finding.confidence)),
      finding.is_critical ? el("span", { class: "badge critical" }, "critical") : null,
      el("span", { class: "decision", title: "Your decision" }, decision),
    );
    const tools = el("span", { class: "tools" });
    if (finding.bounding_box) {
      tools.append(
        el(
          "label",
          { class: "heat-toggle", title: "Show this finding's box" },
          el("input", {
            type: "checkbox",
            checked: !(this.viewer && this.viewer.hiddenBoxes.has(label)),
            "aria-label": `Box for ${label}`,
            dataset: { box: label },
            onchange: (event) => this.viewer && this.viewer.setBoxVisible(label, event.target.checked),
          }),
          "box",
        ),
      );
    }
    if (finding.heatmap_url) {
      const entry = this.viewer && this.viewer.heatmaps.get(label);
      tools.append(
        el(
          "label",
          { class: "heat-toggle", title: "Show the heatmap" },
          el("input", {
            type: "checkbox",
            checked: Boolean(entry && entry.visible),
            "aria-label": `Heatmap for ${label}`,
            dataset: { heatmap: label },
            onchange: (event) => this.toggleHeatmap(finding, event.target.checked),
          }),
          "map",
        ),
      );
    }
    const choices = [
      ["accepted", "Accept", "The finding is right as proposed"],
      ["edited", "Edit", "Keep the finding with your own wording"],
      ["rejected", "Reject", "The finding is wrong"],
    ];
    for (const [choice, title, hint] of choices) {
      tools.append(
        el(
          "button",
          {
            type: "button",
            class: `btn small ${choice}`,
            title: hint,
            "aria-pressed": decision === choice ? "true" : "false",
            disabled: !editable,
            onclick: () => (choice === "edited" ? this.startEdit(label) : this.decide(label, choice)),
          },
          title,
        ),
      );
    }
    item.append(tools);
    const why = findingContext(finding, this.ai, {
      open: this.whyOpen.has(label) ? this.whyOpen.get(label) : null,
      onToggle: (open) => this.whyOpen.set(label, open),
    });
    if (why) item.append(why);
    if (this.editing === label) item.append(this.editForm(finding, text));
    else if (decision === "edited" && text) item.append(el("span", { class: "edited-text" }, text));
    item.classList.toggle("extra", this.editing === label || Boolean(decision === "edited" && text));
    return item;
  }

  editForm(finding, text) {
    const input = el("input", {
      type: "text",
      class: "edit-text",
      value: text || finding.finding || finding.label,
      "aria-label": `Your wording for ${finding.label}`,
      maxlength: "2000",
    });
    const done = () => {
      const value = input.value.trim();
      this.decisions.set(finding.label, { decision: value ? "edited" : "proposed", text: value });
      this.editing = null;
      this.setDirty(true);
      this.scheduleAutosave();
      this.renderFindings();
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        done();
      } else if (event.key === "Escape") {
        this.editing = null;
        this.renderFindings();
      }
    });
    setTimeout(() => input.focus(), 0);
    return el(
      "span",
      { class: "edit-row" },
      input,
      el("button", { type: "button", class: "btn small", onclick: done }, "Done"),
    );
  }

  startEdit(label) {
    this.editing = this.editing === label ? null : label;
    this.renderFindings();
  }

  async toggleHeatmap(finding, visible) {
    if (!this.viewer) return;
    try {
      await this.viewer.setHeatmap(finding.label, finding.heatmap_url, visible);
    } catch (error) {
      this.message(`Heatmap unavailable: ${error.message}`, "error");
    }
  }

  decide(label, choice) {
    const now = this.decisions.get(label) || { decision: "proposed", text: "" };
    this.decisions.set(label, { decision: now.decision === choice ? "proposed" : choice, text: now.text });
    this.setDirty(true);
    this.scheduleAutosave();
    this.renderFindings();
  }

  highlight(label, box = null) {
    this.viewer && this.viewer.setHighlight(label, box);
    for (const node of document.querySelectorAll("#findings li.finding, #sentences li, #qa-flags li")) {
      node.classList.toggle("hl", Boolean(label) && node.dataset.label === label);
    }
  }

  // Show one finding's evidence: its box highlighted and, where there is one, its heatmap.
  async focusFinding(label, box = null) {
    this.highlight(label, box);
    const finding = label ? this.findingByLabel(label) : null;
    if (!finding || !finding.heatmap_url) return;
    const toggle = document.querySelector(`input[data-heatmap="${CSS.escape(label)}"]`);
    if (toggle && !toggle.checked) {
      toggle.checked = true;
      await this.toggleHeatmap(finding, true);
    }
  }

  renderSentences(sentences) {
    const list = this.$("sentences");
    if (!sentences.length) {
      list.replaceChildren(el("li", { class: "muted" }, "No draft sentences."));
      return;
    }
    list.replaceChildren(
      ...sentences.map((sentence) => {
        const finding = sentence.label ? this.findingByLabel(sentence.label) : null;
        const evidence = sentence.label
          ? `${sentence.label}${finding ? ` ${percent(finding.confidence)}` : ""}`
          : sentence.source || "template";
        return el(
          "li",
          {
            dataset: { label: sentence.label || "" },
            tabindex: "0",
            title: sentence.label
              ? `Evidence: ${sentence.label}${finding ? ` at ${percent(finding.confidence)}` : ""} (source ${sentence.source}). Click to show its box and heatmap.`
              : `Source: ${sentence.source}`,
            onmouseenter: () => this.highlight(sentence.label),
            onmouseleave: () => this.highlight(null),
            onfocus: () => this.highlight(sentence.label),
            onclick: () => this.findSentence(sentence),
            onkeydown: (event) => event.key === "Enter" && this.findSentence(sentence),
          },
          el("span", { class: "section-tag" }, sentence.section),
          el("span", { class: "text" }, sentence.text),
          el("span", { class: sentence.label ? "prov" : "prov none" }, evidence),
        );
      }),
    );
  }

  findSentence(sentence) {
    this.focusFinding(sentence.label || null);
    this.selectText(sentence.section, sentence.text);
  }

  selectText(section, text, start = null, end = null) {
    const area = this.sections[section] || this.sections.findings;
    const at = start !== null ? start : area.value.indexOf(text);
    if (at < 0) return;
    area.focus();
    area.setSelectionRange(at, end !== null ? end : at + text.length);
  }

  // --- Live QA --------------------------------------------------------------------------
  scheduleQa() {
    clearTimeout(this.qaTimer);
    if (!this.reportId) return;
    this.$("qa-state").textContent = "checking…";
    this.qaTimer = setTimeout(() => this.runQa(), QA_DEBOUNCE_MS);
  }

  async runQa() {
    if (!this.reportId || !this.canReport) return;
    const sequence = ++this.qaSequence;
    const body = {
      findings: this.sections.findings.value,
      impression: this.sections.impression.value,
      recommendations: this.sections.recommendations.value,
    };
    try {
      const { data } = await api(`/api/v1/reports/${this.reportId}/qa-check`, {
        method: "POST",
        body,
        quiet: true,
      });
      if (sequence !== this.qaSequence) return; // a newer check is on its way
      this.renderQaFlags(data.flags, data.has_ai_findings ? "" : "no AI findings to compare with");
    } catch (error) {
      if (sequence === this.qaSequence) this.$("qa-state").textContent = `QA check failed: ${error.message}`;
    }
  }

  renderQaFlags(flags, note = "") {
    const list = this.$("qa-flags");
    list.replaceChildren(
      ...flags.map((flag) =>
        el(
          "li",
          {
            class: flag.blocking ? "qa blocking" : "qa",
            dataset: { label: flag.label || "", kind: flag.kind || "" },
            tabindex: "0",
            title: flag.quote ? "Click to select the sentence and show the finding" : "Click to show the finding",
            onclick: () => this.showFlag(flag),
            onkeydown: (event) => event.key === "Enter" && this.showFlag(flag),
          },
          el("strong", {}, flag.blocking ? "Review: " : "Note: "),
          flag.message || flag.detail,
        ),
      ),
    );
    const count = flags.length;
    this.$("qa-state").textContent =
      note || (count ? `${count} flag${count > 1 ? "s" : ""}` : "no discrepancies with the AI findings");
  }

  showFlag(flag) {
    this.focusFinding(flag.label || null);
    const quote = flag.quote;
    if (quote) this.selectText(quote.section, quote.text, quote.start, quote.end);
  }

  // --- Saving ---------------------------------------------------------------------------
  scheduleAutosave() {
    clearTimeout(this.autosaveTimer);
    if (!this.reportId || !this.editable || this.autosaveBlocked) return;
    this.autosaveTimer = setTimeout(() => {
      if (this.dirty && this.editable) this.save({ auto: true });
    }, AUTOSAVE_IDLE_MS);
  }

  payload() {
    const decisions = [];
    for (const [label, { decision, text }] of this.decisions) {
      if (decision !== "proposed") decisions.push({ label, decision, text: text || "" });
    }
    return {
      based_on_version: this.baseVersion,
      findings: this.sections.findings.value,
      impression: this.sections.impression.value,
      recommendations: this.sections.recommendations.value,
      decisions,
    };
  }

  ensureReport() {
    if (this.reportId) return true;
    this.message("There is no report yet to save into: wait for the AI draft.", "warn");
    return false;
  }

  explain(error, verb) {
    if (!(error instanceof ApiError)) return this.message(`${verb} failed: ${error.message}`, "error");
    if (error.status === 409 && error.body.latest_version !== undefined) {
      const b = error.body;
      const who = b.latest_author ? ` by ${b.latest_author}` : "";
      const at = b.latest_saved_at ? ` at ${when(b.latest_saved_at)}` : "";
      const reload = el("button", { type: "button", class: "btn small", onclick: () => this.discardAndReload() }, "Load the latest version");
      return this.message(
        `Not saved: version ${b.latest_version ?? "?"} was saved${who}${at} after the one you edited. Your text is still here; copy what you need, then load the latest version.`,
        "error",
        reload,
      );
    }
    if (error.status === 423) {
      const b = error.body;
      this.readOnly = true;
      this.setEditable(false);
      return this.message(
        `Not saved: your claim on this report lapsed and ${b.claimed_by || "another radiologist"} now holds it until ${when(b.claim_expires_at)}. Your text is still here (read-only); copy what you need.`,
        "error",
      );
    }
    const detail = typeof error.body.detail === "string" ? error.body.detail : JSON.stringify(error.body);
    return this.message(`${verb} failed (${error.status}): ${detail}`, "error");
  }

  async discardAndReload() {
    this.setDirty(false);
    this.autosaveBlocked = false;
    this.message("");
    await this.loadRecord();
    this.runQa();
  }

  async save({ auto = false } = {}) {
    if (!this.ensureReport() || this.saving) return;
    clearTimeout(this.autosaveTimer);
    if (!auto) {
      this.message("Saving…", "info");
      this.autosaveBlocked = false;
    } else {
      this.$("dirty-state").textContent = "autosaving…";
    }
    const sent = this.payload();
    this.saving = api(`/api/v1/reports/${this.reportId}/versions`, {
      method: "POST",
      body: sent,
      quiet: auto,
    });
    try {
      const { data } = await this.saving;
      const at = new Date().toLocaleTimeString();
      // Text typed while the save was on its way stays, unsaved, on top of the new version.
      const typed = Object.fromEntries(Object.entries(this.sections).map(([k, area]) => [k, area.value]));
      const moved = Object.keys(typed).some((k) => typed[k] !== sent[k]);
      this.applyRecord(data, auto ? `autosaved as version ${data.head_version} at ${at}` : "");
      if (moved) {
        for (const [k, value] of Object.entries(typed)) this.sections[k].value = value;
        this.setDirty(true);
        this.scheduleAutosave();
      }
      if (!auto) this.message(`Saved as version ${data.head_version}.`, "ok");
    } catch (error) {
      this.autosaveBlocked = true;
      this.$("dirty-state").textContent = "unsaved changes";
      this.explain(error, auto ? "Autosave" : "Save");
    } finally {
      this.saving = null;
    }
  }

  openSign() {
    if (!this.reportId) {
      this.message("There is no report yet to sign.", "warn");
      return;
    }
    clearTimeout(this.autosaveTimer);
    this.$("sign-error").hidden = true;
    this.$("sign-password").value = "";
    this.$("sign-dialog").showModal();
    this.$("sign-password").focus();
  }

  async sign() {
    const password = this.$("sign-password").value;
    const confirm = this.$("sign-confirm");
    confirm.disabled = true;
    confirm.textContent = "Signing…";
    try {
      const { data } = await api(`/api/v1/reports/${this.reportId}/sign`, {
        method: "POST",
        body: { ...this.payload(), password },
      });
      this.$("sign-dialog").close();
      this.applyRecord(data);
      this.message(`Signed as version ${data.signed_version}. Corrections now go in addenda.`, "ok");
      const status = this.$("study-status");
      status.textContent = "signed";
      status.className = "status s-signed";
    } catch (error) {
      const errorBox = this.$("sign-error");
      if (error instanceof ApiError && error.status === 403) {
        errorBox.textContent = error.body.detail || "Not signed.";
        errorBox.hidden = false;
      } else {
        this.$("sign-dialog").close();
        this.explain(error, "Signing");
      }
    } finally {
      confirm.disabled = false;
      confirm.textContent = "Sign";
      this.$("sign-password").value = "";
    }
  }

  renderAddenda(addenda) {
    const section = this.$("addenda-section");
    section.hidden = !this.signed;
    this.$("addendum-form").hidden = !(this.signed && this.canReport);
    this.$("addenda").replaceChildren(
      ...addenda.map((a) =>
        el(
          "li",
          {},
          el("span", { class: "muted" }, `${a.kind} by ${a.author || "?"}, ${when(a.created_at)}: `),
          a.addendum,
        ),
      ),
    );
  }

  async addAddendum() {
    const text = this.$("addendum-text").value.trim();
    if (!text) return;
    try {
      const { data } = await api(`/api/v1/reports/${this.reportId}/addenda`, {
        method: "POST",
        body: { text, is_correction: this.$("addendum-correction").checked },
      });
      this.$("addendum-text").value = "";
      this.applyRecord(data);
      this.message("Addendum added.", "ok");
    } catch (error) {
      this.explain(error, "Addendum");
    }
  }
}
