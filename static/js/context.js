// The draft's clinical context in the reading room (issue 10): the values the AI drafted with
// (each with its source, time, unit and abnormal flag), the inputs that were absent, the prior
// comparison and the fusion model; per finding, image-only vs context-adjusted probability,
// the per-input logit contributions as a small diverging bar chart and the context values that
// moved it; and the decision support block. Everything is built with DOM APIs (`el`), never as
// HTML, and any part of the report API's `clinical_context` may be missing (old drafts have none).
import { el } from "./common.js";

const DEMO_LABEL = "demonstration model, not for clinical use";

// Where a value came from, as the radiologist reads it.
const SOURCES = {
  dicom: "DICOM header",
  fhir: "FHIR",
  hl7: "HL7 v2",
  manual: "typed by hand",
  api: "draft request",
  "birth date": "from birth date",
};

// The fusion model's input groups, in the order the bars are drawn.
const GROUPS = [
  ["image", "Image"],
  ["demographics", "Demographics"],
  ["history", "History"],
  ["labs_vitals", "Labs & vitals"],
  ["priors", "Prior study"],
];

// The fusion model's context features (inference.fusion.features), as absent inputs read.
const FEATURES = {
  age_decades: "age",
  male_sex: "sex",
  smoker: "smoking status",
  history_infection: "history of infection",
  history_cardiac: "cardiac history",
  history_malignancy: "history of malignancy",
  temperature_cel: "temperature",
  log_crp: "CRP",
  wbc: "WBC",
  log_procalcitonin: "procalcitonin",
  spo2: "SpO2",
  prior_logit: "prior study",
};

export function sourceName(source) {
  return SOURCES[source] || String(source || "unknown source");
}

// "2024-05-01 10:15" in local time; the raw text when it is not a date.
export function stamp(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function num(value) {
  return typeof value === "number" && Number.isFinite(value);
}

function prob(value) {
  return num(value) ? value.toFixed(2) : "?";
}

function signed(value, digits = 2) {
  if (!num(value)) return "?";
  const text = Math.abs(value).toFixed(digits);
  return value < 0 ? `−${text}` : `+${text}`;
}

export function isDemonstration(ai) {
  return /demonstration/i.test((ai && ai.ai_notice) || "");
}

function valueText(value) {
  const unit = value.unit && value.unit !== "a" ? ` ${value.unit}` : value.unit === "a" ? " y" : "";
  return `${value.value ?? ""}${unit}`;
}

function flagBadge(flag) {
  if (!flag || flag === "N") return null;
  return el("span", { class: "ctx-flag", title: `Abnormal flag ${flag}` }, flag);
}

// One context value on a line: what, value (unit, flag), source and time.
function valueRow(value) {
  return el(
    "tr",
    { dataset: { code: value.code || "", source: value.source || "" } },
    el("th", { scope: "row" }, value.display || value.code || "?"),
    el(
      "td",
      {},
      el(
        "span",
        { class: "ctx-value", title: value.reference_range ? `Reference ${value.reference_range}` : null },
        valueText(value),
      ),
      flagBadge(value.abnormal_flag),
      el(
        "span",
        { class: "ctx-source" },
        el("span", { class: `src src-${String(value.source || "").replace(/\W+/g, "-")}` }, sourceName(value.source)),
        " · ",
        el("span", { class: "ctx-time" }, stamp(value.observed_at)),
      ),
    ),
  );
}

function comparisonBlock(comparison) {
  const box = el("div", { class: "ctx-comparison", dataset: { testid: "context-comparison" } });
  if (!comparison || !comparison.prior_study_uid) {
    box.append(el("p", { class: "muted" }, "Prior comparison: no earlier study of this patient with an AI draft."));
    return box;
  }
  const distance = num(comparison.embedding_distance)
    ? `, image embedding distance ${comparison.embedding_distance.toFixed(3)}`
    : "";
  box.append(
    el(
      "p",
      {},
      el("strong", {}, "Prior comparison: "),
      `study of ${comparison.prior_date || "unknown date"}`,
      el("span", { class: "muted uid", title: comparison.prior_study_uid }, ` (${comparison.prior_study_uid})`),
      distance,
    ),
  );
  const changes = Array.isArray(comparison.changes) ? comparison.changes : [];
  if (changes.length) {
    box.append(
      el(
        "ul",
        { class: "ctx-changes" },
        ...changes.map((c) =>
          el(
            "li",
            { dataset: { label: c.label || "", change: c.change || "" } },
            el("span", { class: `change c-${c.change || "unknown"}` }, c.change || "?"),
            " ",
            c.sentence || c.label || "",
            num(c.probability_before) || num(c.probability_now)
              ? el("span", { class: "muted" }, ` (${prob(c.probability_before)} → ${prob(c.probability_now)})`)
              : null,
          ),
        ),
      ),
    );
  }
  return box;
}

function fusionLine(fusion, demo) {
  if (!fusion) return null;
  const fitted = Array.isArray(fusion.fitted_labels) ? fusion.fitted_labels : [];
  return el(
    "p",
    { class: "ctx-fusion muted", dataset: { testid: "context-fusion" } },
    // Without a model the note says why; the drafting notes below already say it.
    fitted.length
      ? `Context fusion model adjusts: ${fitted.join(", ")}. ${fusion.note ? `${fusion.note}. ` : ""}`
      : "No context fusion model: probabilities are image-only. ",
    demo ? el("span", { class: "demo-label" }, DEMO_LABEL) : null,
  );
}

// The "Clinical context" panel. `ai` is the report API's body; `clinicalUrl` the hand-entry
// page (null when the user may not enter values).
export function renderClinicalContext(container, ai, { clinicalUrl = null } = {}) {
  const body = container.querySelector(".ctx-body");
  const context = ai && ai.clinical_context;
  const link = clinicalUrl
    ? el("a", { href: clinicalUrl, class: "ctx-enter" }, "Add or correct clinical values")
    : null;
  container.hidden = !(ai && ai.report_id) && !link;
  if (!context) {
    const why = ai && ai.report_id
      ? "This draft was made without clinical context (no record of the values it used)."
      : "The AI draft is not ready: its clinical context shows here when it is.";
    body.replaceChildren(el("p", { class: "muted ctx-none", dataset: { testid: "context-none" } }, why), link);
    return;
  }
  const values = Array.isArray(context.values) ? context.values : [];
  const absent = Array.isArray(context.absent) ? context.absent : [];
  const notes = Array.isArray(context.notes) ? context.notes : [];
  const window = num(context.window_hours) ? `labs and vital signs within ${context.window_hours} h before the study` : "";
  body.replaceChildren(
    el(
      "p",
      { class: "muted ctx-caption" },
      `What the AI draft was made with${context.study_time ? ` (study ${stamp(context.study_time)}` : " ("}${window ? `; ${window})` : ")"}.`,
    ),
    values.length
      ? el(
          "table",
          { class: "ctx-values", dataset: { testid: "context-values" } },
          el("tbody", {}, ...values.map(valueRow)),
        )
      : el("p", { class: "muted" }, "No clinical values were linked to this study."),
    absent.length
      ? el(
          "div",
          { class: "ctx-absent", dataset: { testid: "context-absent" } },
          el("strong", {}, "Not available: "),
          el("ul", {}, ...absent.map((line) => el("li", {}, line))),
        )
      : null,
    comparisonBlock(context.comparison),
    fusionLine(context.fusion, isDemonstration(ai)),
    notes.length
      ? el("div", { class: "ctx-notes muted" }, "Drafting notes: ", el("ul", {}, ...notes.map((n) => el("li", {}, n))))
      : null,
    link,
  );
}

// The diverging bar chart of one finding's logit contributions per input group.
function contributionChart(finding, demo) {
  const contributions = finding.contributions_logit;
  if (!contributions || typeof contributions !== "object") return null;
  const rows = GROUPS.filter(([key]) => num(contributions[key]));
  if (!rows.length) return null;
  const scale = Math.max(0.5, ...rows.map(([key]) => Math.abs(contributions[key])));
  const sum = rows.reduce((total, [key]) => total + contributions[key], 0);
  const rule = `Bars are logit contributions per input group; intercept ${signed(finding.intercept_logit)} + their sum ${signed(sum)} = adjusted logit ${signed(finding.adjusted_logit)} → probability ${prob(finding.adjusted_probability)}.`;
  return el(
    "figure",
    { class: "contrib", title: rule, dataset: { testid: "contributions" } },
    el(
      "div",
      { class: "contrib-rows", role: "list" },
      ...rows.map(([key, name]) => {
        const value = contributions[key];
        const width = `${Math.min(50, (Math.abs(value) / scale) * 50).toFixed(1)}%`;
        const side = value < 0 ? "neg" : "pos";
        // CSSOM, not a style attribute: the Content-Security-Policy allows no inline styles.
        const bar = el("span", { class: `contrib-bar ${side}` });
        bar.style.width = width;
        return el(
          "div",
          {
            class: `contrib-row g-${key}`,
            role: "listitem",
            dataset: { group: key, logit: String(value) },
            "aria-label": `${name}: ${signed(value)} logit`,
          },
          el("span", { class: "contrib-name" }, name),
          el("span", { class: "contrib-track" }, bar),
          el("span", { class: "contrib-value" }, signed(value)),
        );
      }),
    ),
    el(
      "figcaption",
      { class: "muted" },
      `logit units; intercept ${signed(finding.intercept_logit)} + sum of bars ${signed(sum)} = adjusted logit ${signed(finding.adjusted_logit)}`,
      demo ? el("span", { class: "demo-label" }, ` · ${DEMO_LABEL}`) : null,
    ),
  );
}

function evidenceList(finding) {
  const evidence = Array.isArray(finding.evidence) ? finding.evidence : [];
  if (!evidence.length) return null;
  return el(
    "ul",
    { class: "evidence", dataset: { testid: "evidence" } },
    ...evidence.map((e) =>
      el(
        "li",
        { dataset: { code: e.code || "", source: e.source || "" } },
        el("span", { class: "ev-name" }, e.display || e.code || "?"),
        " ",
        el("span", { class: "ev-value" }, valueText(e)),
        flagBadge(e.abnormal_flag),
        e.code === "prior" ? null : el("span", { class: "ev-source" }, ` · ${sourceName(e.source)} · ${stamp(e.observed_at)}`),
        num(e.contribution_logit)
          ? el("span", { class: `ev-logit ${e.contribution_logit < 0 ? "neg" : "pos"}` }, ` ${signed(e.contribution_logit)} logit`)
          : null,
      ),
    ),
  );
}

function absentLine(finding) {
  const absent = Array.isArray(finding.absent_inputs) ? finding.absent_inputs : [];
  if (!absent.length) return null;
  return el(
    "p",
    { class: "muted ev-absent" },
    `Absent (added nothing): ${absent.map((name) => FEATURES[name] || String(name).replace(/_/g, " ")).join(", ")}`,
  );
}

function changeLine(finding) {
  const change = finding.change;
  if (!change || !change.change) return null;
  return el(
    "p",
    { class: "ev-change" },
    el("span", { class: `change c-${change.change}` }, change.change),
    ` vs prior: ${prob(change.probability_before)} → ${prob(change.probability_now)}`,
  );
}

// Under one finding: "image 0.41 → with context 0.78", and when opened, the bars, the
// evidence, the absent inputs and the change since the prior. Null for a draft made before
// the context step existed. `open` keeps the reader's choice across re-renders.
export function findingContext(finding, ai, { open = null, onToggle = null } = {}) {
  if (!num(finding.image_probability) || !num(finding.adjusted_probability)) return null;
  const context = ai && ai.clinical_context;
  const fitted = context && context.fusion && Array.isArray(context.fusion.fitted_labels)
    ? context.fusion.fitted_labels.includes(finding.label)
    : null;
  const delta = finding.adjusted_probability - finding.image_probability;
  const evidence = Array.isArray(finding.evidence) ? finding.evidence : [];
  const details = el(
    "details",
    {
      class: "why",
      dataset: { testid: "finding-context" },
      open: open === null ? evidence.length > 0 : open,
    },
    el(
      "summary",
      { title: "Image-only probability, then adjusted by the clinical context" },
      el("span", { class: "p-image", dataset: { testid: "image-probability" } }, `image ${prob(finding.image_probability)}`),
      " → ",
      el("span", { class: "p-adjusted", dataset: { testid: "adjusted-probability" } }, `with context ${prob(finding.adjusted_probability)}`),
      Math.abs(delta) >= 0.005
        ? el("span", { class: `p-delta ${delta < 0 ? "neg" : "pos"}` }, ` (${signed(delta)})`)
        : null,
      fitted === false ? el("span", { class: "muted" }, " · no fusion model for this label") : null,
    ),
    contributionChart(finding, isDemonstration(ai)),
    evidenceList(finding),
    absentLine(finding),
    changeLine(finding),
  );
  if (onToggle) details.addEventListener("toggle", () => onToggle(details.open));
  return details;
}

function differentialItem(item) {
  const lists = [
    ["for", item.supporting],
    ["against", item.against],
    ["unknown", item.unknown],
  ].filter(([, lines]) => Array.isArray(lines) && lines.length);
  return el(
    "li",
    { dataset: { diagnosis: item.diagnosis || "" } },
    el("strong", {}, item.diagnosis || "?"),
    item.pattern ? el("span", { class: "muted" }, ` (${item.pattern})`) : null,
    num(item.score) ? el("span", { class: "ds-score" }, ` score ${item.score.toFixed(2)}`) : null,
    ...lists.map(([name, lines]) =>
      el("div", { class: `ds-${name}` }, el("span", { class: "muted" }, `${name}: `), lines.join("; ")),
    ),
  );
}

// The decision support block: differential and recommendations with the guideline named.
export function renderDecisionSupport(container, ai) {
  const support = ai && ai.clinical_context && ai.clinical_context.decision_support;
  container.hidden = !support;
  const body = container.querySelector(".ds-body");
  if (!support) {
    body.replaceChildren();
    return;
  }
  const differential = Array.isArray(support.differential) ? support.differential : [];
  const recommendations = Array.isArray(support.recommendations) ? support.recommendations : [];
  body.replaceChildren(
    el(
      "p",
      { class: "ds-notice", role: "note" },
      support.notice || "Decision support, not a diagnosis.",
      isDemonstration(ai) ? el("span", { class: "demo-label" }, ` (${DEMO_LABEL})`) : null,
    ),
    el("h4", {}, "Differential"),
    differential.length
      ? el("ol", { class: "ds-differential" }, ...differential.map(differentialItem))
      : el("p", { class: "muted" }, "No differential for these findings."),
    el("h4", {}, "Recommendations"),
    recommendations.length
      ? el(
          "ul",
          { class: "ds-recommendations" },
          ...recommendations.map((r) =>
            el(
              "li",
              { dataset: { label: r.label || "" } },
              r.text || "",
              r.guideline ? el("div", { class: "ds-guideline" }, `Guideline: ${r.guideline}`) : null,
              r.rule ? el("span", { class: "muted ds-rule" }, ` rule ${r.rule}`) : null,
            ),
          ),
        )
      : el("p", { class: "muted" }, "No guideline recommendation applies."),
  );
}
