// The report editor beside the viewer: sections from the report API, the AI's findings with
// accept/reject and heatmap toggles, draft sentences with their provenance, save (a new
// version based on the one shown), sign with the password, addenda after signing.
import { api, ApiError, el } from "./common.js";

const DECISIONS = ["accepted", "rejected"];

function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

export class ReportEditor {
  constructor({ studyUid, canReport, viewer }) {
    this.studyUid = studyUid;
    this.canReport = canReport;
    this.viewer = viewer;
    this.reportId = null;
    this.baseVersion = null;
    this.decisions = new Map(); // label -> accepted | rejected | edited | proposed
    this.changedDecisions = new Set();
    this.findings = [];
    this.signed = false;
    this.readOnly = !canReport;
    this.dirty = false;
    this.$ = (id) => document.getElementById(id);
    this.sections = {
      findings: this.$("sec-findings"),
      impression: this.$("sec-impression"),
      recommendations: this.$("sec-recommendations"),
    };
    this.bind();
  }

  bind() {
    for (const area of Object.values(this.sections)) {
      area.addEventListener("input", () => this.setDirty(true));
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

  setDirty(value) {
    this.dirty = value;
    this.$("dirty-state").textContent = value ? "unsaved changes" : "";
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

  applyRecord(detail) {
    this.detail = detail;
    this.baseVersion = detail.head_version;
    this.signed = detail.status === "signed" || detail.status === "amended";
    const current = detail.current || {};
    this.sections.findings.value = current.findings || "";
    this.sections.impression.value = current.impression || "";
    this.sections.recommendations.value = current.recommendations || "";
    this.decisions = new Map((current.decisions || []).map((d) => [d.label, d.decision]));
    this.changedDecisions.clear();
    this.setDirty(false);
    const author = current.author ? ` by ${current.author}` : current.kind === "ai_draft" ? " (AI draft)" : "";
    this.$("report-version").textContent =
      current.number !== undefined ? `version ${current.number}${author}` : "";
    const status = this.$("report-status");
    status.textContent = detail.status;
    status.className = `status s-${detail.status}`;
    this.$("claim-state").textContent = detail.claim ? `claimed by ${detail.claim.holder}` : "";
    if (this.signed) {
      this.$("claim-state").textContent = `signed by ${detail.signed_by} ${when(detail.signed_at)}`;
    }
    this.setEditable(this.canReport && !this.readOnly && !this.signed);
    this.renderFindings();
    this.renderAddenda(detail.addenda || []);
  }

  setEditable(editable) {
    for (const area of Object.values(this.sections)) area.readOnly = !editable;
    this.$("save-btn").disabled = !editable;
    this.$("sign-btn").disabled = !editable;
    this.$("report-form").classList.toggle("locked", !editable);
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
    this.viewer && this.viewer.setFindings(this.findings);
    const flags = this.$("qa-flags");
    flags.replaceChildren(
      ...(ai.qa_flags || []).map((flag) =>
        el(
          "li",
          { class: flag.blocking ? "qa blocking" : "qa" },
          el("strong", {}, flag.blocking ? "Review: " : "QA: "),
          [flag.label, flag.detail].filter(Boolean).join(" – "),
        ),
      ),
    );
    if (ai.requires_radiologist_review && !(ai.qa_flags || []).length) {
      flags.append(el("li", { class: "qa blocking" }, "Requires radiologist review."));
    }
    this.renderSentences(ai.sentences || []);
  }

  renderFindings() {
    const list = this.$("findings");
    if (!this.findings.length) {
      list.replaceChildren(el("li", { class: "muted" }, "The AI proposed no findings."));
      return;
    }
    const editable = this.canReport && !this.readOnly && !this.signed;
    list.replaceChildren(
      ...this.findings.map((finding) => {
        const decision = this.decisions.get(finding.label) || "proposed";
        const item = el(
          "li",
          {
            class: `finding d-${decision}${finding.is_critical ? " critical" : ""}`,
            dataset: { label: finding.label },
            onmouseenter: () => this.highlight(finding.label),
            onmouseleave: () => this.highlight(null),
          },
          el("span", { class: "label" }, finding.label),
          el("span", { class: "conf", title: "AI confidence" }, `${Math.round(finding.confidence * 100)}%`),
          finding.is_critical ? el("span", { class: "badge critical" }, "critical") : null,
          el("span", { class: "decision", title: "Your decision" }, decision),
        );
        const tools = el("span", { class: "tools" });
        if (finding.heatmap_url) {
          const toggle = el("input", {
            type: "checkbox",
            "aria-label": `Heatmap for ${finding.label}`,
            dataset: { heatmap: finding.label },
            onchange: (event) => this.toggleHeatmap(finding, event.target.checked),
          });
          tools.append(el("label", { class: "heat-toggle", title: "Show the heatmap" }, toggle, "map"));
        }
        for (const choice of DECISIONS) {
          tools.append(
            el(
              "button",
              {
                type: "button",
                class: `btn small ${choice}`,
                "aria-pressed": decision === choice ? "true" : "false",
                disabled: !editable,
                onclick: () => this.decide(finding.label, choice),
              },
              choice === "accepted" ? "Accept" : "Reject",
            ),
          );
        }
        item.append(tools);
        return item;
      }),
    );
  }

  async toggleHeatmap(finding, visible) {
    try {
      await this.viewer.setHeatmap(finding.label, finding.heatmap_url, visible);
    } catch (error) {
      this.message(`Heatmap unavailable: ${error.message}`, "error");
    }
  }

  decide(label, choice) {
    const now = this.decisions.get(label);
    this.decisions.set(label, now === choice ? "proposed" : choice);
    this.changedDecisions.add(label);
    this.setDirty(true);
    this.renderFindings();
  }

  highlight(label) {
    this.viewer && this.viewer.setHighlight(label);
    for (const node of document.querySelectorAll("#findings li.finding, #sentences li")) {
      node.classList.toggle("hl", Boolean(label) && node.dataset.label === label);
    }
  }

  renderSentences(sentences) {
    const list = this.$("sentences");
    if (!sentences.length) {
      list.replaceChildren(el("li", { class: "muted" }, "No draft sentences."));
      return;
    }
    list.replaceChildren(
      ...sentences.map((sentence) =>
        el(
          "li",
          {
            dataset: { label: sentence.label || "" },
            tabindex: "0",
            title: sentence.label ? `Evidence: ${sentence.label} (${sentence.source})` : `Source: ${sentence.source}`,
            onmouseenter: () => this.highlight(sentence.label),
            onmouseleave: () => this.highlight(null),
            onfocus: () => this.highlight(sentence.label),
            onclick: () => this.findSentence(sentence),
          },
          el("span", { class: "section-tag" }, sentence.section),
          el("span", { class: "text" }, sentence.text),
          sentence.label ? el("span", { class: "prov" }, sentence.label) : el("span", { class: "prov none" }, sentence.source || "template"),
        ),
      ),
    );
  }

  findSentence(sentence) {
    this.highlight(sentence.label);
    const area = this.sections[sentence.section] || this.sections.findings;
    const at = area.value.indexOf(sentence.text);
    if (at >= 0) {
      area.focus();
      area.setSelectionRange(at, at + sentence.text.length);
    }
  }

  payload() {
    const decisions = [];
    for (const [label, decision] of this.decisions) {
      if (decision !== "proposed") decisions.push({ label, decision });
    }
    return {
      based_on_version: this.baseVersion,
      findings: this.sections.findings.value,
      impression: this.sections.impression.value,
      recommendations: this.sections.recommendations.value,
      decisions,
    };
  }

  async ensureReport() {
    if (this.reportId) return true;
    // No AI draft: claiming creates an empty report the radiologist writes from scratch.
    this.message("There is no report yet to save into.", "warn");
    return false;
  }

  explain(error, verb) {
    if (!(error instanceof ApiError)) return this.message(`${verb} failed: ${error.message}`, "error");
    if (error.status === 409) {
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
      return this.message(
        `Not saved: ${b.claimed_by || "another radiologist"} holds this report until ${when(b.claim_expires_at)}.`,
        "error",
      );
    }
    const detail = typeof error.body.detail === "string" ? error.body.detail : JSON.stringify(error.body);
    return this.message(`${verb} failed (${error.status}): ${detail}`, "error");
  }

  async discardAndReload() {
    this.setDirty(false);
    this.message("");
    await this.loadRecord();
  }

  async save() {
    if (!(await this.ensureReport())) return;
    this.message("Saving…", "info");
    try {
      const { data } = await api(`/api/v1/reports/${this.reportId}/versions`, {
        method: "POST",
        body: this.payload(),
      });
      this.applyRecord(data);
      this.message(`Saved as version ${data.head_version}.`, "ok");
    } catch (error) {
      this.explain(error, "Save");
    }
  }

  openSign() {
    if (!this.reportId) {
      this.message("There is no report yet to sign.", "warn");
      return;
    }
    this.$("sign-error").hidden = true;
    this.$("sign-password").value = "";
    this.$("sign-dialog").showModal();
    this.$("sign-password").focus();
  }

  async sign() {
    const password = this.$("sign-password").value;
    const confirm = this.$("sign-confirm");
    confirm.disabled = true;
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
