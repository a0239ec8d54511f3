// Bias audits: the stored reports, a form that runs one, and a report as tables per dimension
// with the figures the DCWP rule does not require marked as such.
import { get, request } from "../api.js";
import { h, fmt, pct, when, table, problemBox } from "../dom.js";

const ROLE_SELECTIONS = ["must-haves-met", "band-strong", "band-good-or-better"];
const JOB_SELECTIONS = [...ROLE_SELECTIONS, "stage:screen", "stage:assessment", "stage:interview", "stage:offer", "hired"];
const EXTRA = "not-required";

function runForm(roles, jobs) {
  const target = h("select", { id: "audit-target", required: true },
    h("optgroup", { label: "Role (every scored candidate)" }, roles.map((r) => h("option", { value: `role:${r.key}` }, `${r.title} (${r.key})`))),
    h("optgroup", { label: "Job (every application)" }, jobs.map((j) => h("option", { value: `job:${j.id}` }, j.title))));
  const selection = h("select", { id: "audit-selection", required: true });
  const fill = () => {
    const choices = target.value.startsWith("job:") ? JOB_SELECTIONS : ROLE_SELECTIONS;
    const keep = selection.value;
    selection.replaceChildren(...choices.map((c) => h("option", { value: c, selected: c === keep }, c)));
  };
  target.addEventListener("change", fill);
  fill();
  const slot = h("div");
  const button = h("button", { type: "submit" }, "Run audit");
  return h("form", {
    class: "card action", id: "run-audit", "aria-labelledby": "run-title",
    onsubmit: async (event) => {
      event.preventDefault();
      button.disabled = true;
      slot.replaceChildren(h("p", { role: "status" }, "Computing…"));
      const [kind, value] = [target.value.slice(0, target.value.indexOf(":")), target.value.slice(target.value.indexOf(":") + 1)];
      const body = { [kind === "job" ? "job_id" : "role"]: value, selection: selection.value };
      try {
        const { data } = await request("POST", "/v1/bias-audits", { body, idempotent: true });
        location.hash = `#/audits/${data.id}`;
      } catch (error) {
        if (error.status !== 401) slot.replaceChildren(problemBox(error));
      }
      button.disabled = false;
    },
  },
  h("h2", { id: "run-title" }, "Run an audit"),
  h("p", { class: "filters" }, h("label", { for: "audit-target" }, "Population"), target,
    h("label", { for: "audit-selection" }, "Selected when"), selection, button),
  slot);
}

export async function list() {
  const audits = await get("/v1/bias-audits", { limit: 200 });
  const [roles, jobs] = await Promise.all([
    get("/v1/roles", { limit: 200 }).catch(() => ({ data: [] })),
    get("/v1/jobs", { limit: 200 }).catch(() => ({ data: [] })),
  ]);
  const titles = Object.fromEntries(jobs.data.map((j) => [j.id, j.title]));
  const rows = [...audits.data].reverse().map((a) => h("tr", null,
    h("th", { scope: "row" }, h("a", { href: `#/audits/${a.id}` }, when(a.created_at))),
    h("td", null, a.job_id ? `job: ${titles[a.job_id] || a.job_id}` : `role: ${a.role}`),
    h("td", null, a.selection), h("td", { class: "num" }, a.population), h("td", { class: "num" }, fmt(a.median)),
    h("td", null, a.method_version)));
  return [
    h("h1", null, "Bias audits"),
    h("p", { class: "lede" }, "Impact ratios by sex, race/ethnicity and their intersection (NYC Local Law 144), computed by the service from its own data. Newest first."),
    runForm(roles.data, jobs.data),
    audits.data.length ? table(null, ["Created", "Population", "Selection", "People", "Median", "Method"], rows, { id: "audits" })
      : h("p", null, "No audit has been run yet."),
  ];
}

const flag = (value) => (value ? h("span", { class: "flag" }, "flag") : value === false ? "no" : "–");
const p = (value) => (value === null || value === undefined ? "–" : value < 0.001 ? "< 0.001" : fmt(value, 3));

function dimensionTable(dimension) {
  const extra = (text) => h("th", { scope: "col", class: EXTRA }, text, h("sup", null, "†"));
  const rows = dimension.categories.map((c) => h("tr", { class: c.excluded ? "excluded" : null },
    h("th", { scope: "row" }, c.category, c.excluded ? h("span", { class: "tag" }, "excluded") : null),
    h("td", { class: "num" }, c.n), h("td", { class: "num" }, c.scored_above), h("td", { class: "num" }, pct(c.scoring_rate)),
    h("td", { class: "num" }, fmt(c.scoring_impact_ratio, 3)),
    h("td", { class: "num" }, c.selected), h("td", { class: "num" }, pct(c.selection_rate)),
    h("td", { class: "num" }, fmt(c.selection_impact_ratio, 3)),
    h("td", { class: EXTRA }, c.low_n ? h("span", { class: "flag" }, "n < 30") : "no"),
    h("td", { class: EXTRA }, flag(c.four_fifths_flag_scoring)), h("td", { class: EXTRA }, flag(c.four_fifths_flag_selection)),
    h("td", { class: `num ${EXTRA}` }, p(c.fisher_p_scoring)), h("td", { class: `num ${EXTRA}` }, p(c.fisher_p_selection))));
  return h("section", { class: "card", "aria-label": dimension.dimension },
    h("h2", null, dimension.dimension.replaceAll("_", " ")),
    h("p", null, `Unknown (not counted in the categories): ${dimension.unknown}. Benchmark: scoring ${dimension.benchmark_scoring ?? "–"}, selection ${dimension.benchmark_selection ?? "–"}.`),
    table(null, ["Category", "n", "Scored above", "Scoring rate", "Scoring impact ratio", "Selected", "Selection rate", "Selection impact ratio",
      extra("Low n"), extra("4/5 scoring"), extra("4/5 selection"), extra("Fisher p, scoring"), extra("Fisher p, selection")], rows, { class: "audit" }));
}

export async function report(id) {
  const audit = await get(`/v1/bias-audits/${encodeURIComponent(id)}`);
  const facts = [["Population", audit.job_id ? `job ${audit.job_id}` : `role ${audit.role}`], ["Selected when", audit.selection],
    ["People", audit.population], ["Median score", fmt(audit.median, 2)], ["Ties at the median", audit.ties_at_median],
    ["Share above the median", pct(audit.share_above)], ["Role version", audit.role_version ?? "several"],
    ["Model", audit.model_version ?? "several"], ["Method", audit.method_version],
    ["Window", audit.window ? `${audit.window.from || "…"} to ${audit.window.to || "…"}` : "all"],
    ["Created", when(audit.created_at)], ["Inputs hash", h("code", null, audit.inputs_hash)]];
  if (audit.exclude_small_categories) facts.push(["Small categories excluded because", audit.justification]);
  return [
    h("h1", null, `Bias audit: ${audit.job_id ? "job" : audit.role}, ${audit.selection}`),
    h("dl", { class: "facts" }, facts.map(([t, v]) => h("div", null, h("dt", null, t), h("dd", null, v)))),
    h("p", { class: "note", id: "extra-note" }, h("sup", null, "†"),
      " Not required by the DCWP rule (6 RCNY 5-301); given for the auditor's convenience: low n (n < 30), the four-fifths flag (impact ratio < 0.8) and a two-sided Fisher exact test against the benchmark category."),
    audit.dimensions.map(dimensionTable),
  ];
}
