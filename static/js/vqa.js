// The question panel: ask about the open study, show each answer with its evidence. Clicking a
// piece of evidence dispatches `ai:highlight-finding` on `document` with
// {label, box, confidence, heatmap_url, source, study_uid, is_prior}; the page's viewer
// listens and draws the region (clinician-page.js here; viewer-page.js in the reading room).
import { api, el } from "./common.js";

const SLOW_MS = 300; // show progress for anything slower than this

function evidenceText(item) {
  const parts = [item.label];
  if (item.source === "signed_report") parts.push("signed report");
  else parts.push("AI draft");
  if (item.confidence !== null && item.confidence !== undefined) parts.push(`confidence ${item.confidence.toFixed(2)}`);
  if (item.laterality) parts.push(item.laterality);
  if (item.severity) parts.push(item.severity);
  if (item.bounding_box) parts.push(`box ${item.bounding_box.join(",")}`);
  if (item.heatmap) parts.push(`heatmap ${item.heatmap}`);
  if (item.decision && item.decision !== "proposed") parts.push(item.decision);
  if (item.is_prior) parts.push(`prior ${item.study_date || item.study_uid}`);
  return parts.join(" · ");
}

function highlight(item) {
  document.dispatchEvent(
    new CustomEvent("ai:highlight-finding", {
      detail: {
        label: item.label,
        box: item.bounding_box,
        confidence: item.confidence,
        heatmap_url: item.heatmap_url,
        source: item.source,
        study_uid: item.study_uid,
        is_prior: item.is_prior,
      },
    }),
  );
}

function renderAnswer(entry) {
  const evidence = el("ul", { class: "vqa-evidence" });
  for (const item of entry.evidence || []) {
    const drawable = Boolean(item.bounding_box) && !item.is_prior;
    evidence.append(
      el(
        "li",
        { class: `vqa-ev src-${item.source}`, dataset: { label: item.label } },
        el(
          "button",
          {
            type: "button",
            class: "btn small linkish",
            title: drawable ? "Show this region on the image" : "Highlight this finding",
            onclick: () => highlight(item),
          },
          evidenceText(item),
        ),
        item.sentence ? el("q", {}, item.sentence) : null,
      ),
    );
  }
  return el(
    "li",
    { class: `vqa-entry ${entry.answerable ? "" : "unanswerable"}`, dataset: { questionId: entry.id } },
    el("div", { class: "vqa-q" }, el("strong", {}, "Q "), entry.question, el("span", { class: "muted" }, ` · ${entry.asked_by}`)),
    el("div", { class: "vqa-a", "data-testid": "vqa-answer" }, el("strong", {}, "A "), entry.answer),
    entry.notice ? el("div", { class: "vqa-notice" }, entry.notice) : null,
    entry.prior ? el("div", { class: "muted" }, `Compared with the prior of ${entry.prior.study_date || "unknown date"} (${entry.prior.study_uid})`) : null,
    entry.model ? el("div", { class: "muted small" }, `${entry.answered_by === "vlm" ? "Answered by" : "Evidence from"} ${entry.model}`) : null,
    evidence.childElementCount ? evidence : null,
  );
}

function setup(panel) {
  const url = panel.dataset.questionsUrl;
  const form = panel.querySelector("#vqa-form");
  const input = panel.querySelector("#vqa-question");
  const button = panel.querySelector("#vqa-ask");
  const state = panel.querySelector("#vqa-state");
  const list = panel.querySelector("#vqa-answers");

  async function load() {
    try {
      const { data } = await api(url);
      list.replaceChildren(...data.questions.map(renderAnswer));
    } catch (error) {
      state.textContent = `Past questions unavailable: ${error.message}`;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question) {
      state.textContent = "Type a question first.";
      return;
    }
    button.disabled = true;
    panel.dataset.busy = "1";
    const timer = setTimeout(() => (state.textContent = "Answering…"), SLOW_MS);
    try {
      const { data } = await api(url, { method: "POST", body: { question } });
      list.prepend(renderAnswer(data));
      state.textContent = "";
      input.value = "";
      const first = (data.evidence || []).find((item) => item.bounding_box && !item.is_prior);
      if (first) highlight(first);
    } catch (error) {
      state.textContent = `Not answered: ${error.message}`;
    } finally {
      clearTimeout(timer);
      button.disabled = false;
      delete panel.dataset.busy;
    }
  });
  load();
}

const panel = document.getElementById("vqa-panel");
if (panel) setup(panel);
