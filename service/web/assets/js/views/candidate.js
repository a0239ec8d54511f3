// A candidate: profile, one card per role with the breakdown that adds up to the score, the
// TPM-or-TMP leaning with its differentiators, and the candidate's applications.
import { get } from "../api.js";
import { h, fmt, pct, date, table, problemBox } from "../dom.js";
import { band, yesNo } from "./roles.js";

// Contributions are apportioned in hundredths so that they add up exactly to the score; summing
// them as integers keeps the total on the page exact too.
const hundredths = (value) => Math.round(value * 100);

async function settle(promise) {
  try { return { value: await promise }; } catch (error) { return { error }; }
}

function profileSection(candidate) {
  const fields = [
    ["Headline", candidate.headline],
    ["Experience", candidate.years_experience == null ? null : `${candidate.years_experience} years`],
    ["Source", candidate.source ? `${candidate.source}${candidate.external_id ? ` · ${candidate.external_id}` : ""}` : null],
    ["Updated", date(candidate.updated_at)],
  ];
  const contact = "email" in candidate || "phone" in candidate;
  if (contact) fields.push(["Email", candidate.email], ["Phone", candidate.phone]);
  const records = candidate.competencies.map((r) => h("tr", null,
    h("th", { scope: "row" }, r.competency), h("td", { class: "num" }, r.level),
    h("td", { class: "num" }, r.years ?? "–"), h("td", null, r.last_used || "–"), h("td", null, r.evidence)));
  return h("section", { class: "card", "aria-labelledby": "profile-title" },
    h("h2", { id: "profile-title" }, "Profile"),
    h("dl", { class: "facts" }, fields.filter(([, v]) => v !== undefined).map(([term, value]) =>
      h("div", null, h("dt", null, term), h("dd", { dataset: { field: term.toLowerCase() } }, value ?? "–")))),
    contact ? null : h("p", { class: "note" }, "Contact fields are hidden: this key has no candidates:pii scope."),
    h("details", null, h("summary", null, `Competency records (${records.length})`),
      table(null, ["Competency", "Level", "Years", "Last used", "Evidence"], records)));
}

function matchCard(match, maxContribution) {
  const total = match.breakdown.reduce((sum, row) => sum + hundredths(row.contribution), 0);
  const stack = h("div", { class: "stack", role: "img", "aria-label": `Contributions adding up to ${fmt(match.score, 2)} of 100` },
    match.breakdown.filter((row) => row.contribution > 0).map((row, i) =>
      h("span", { class: `segment c${i % 6}`, "width%": row.contribution, title: `${row.competency}: ${fmt(row.contribution, 2)}` })));
  let segment = 0; // each row's colour is its segment's in the bar above
  const rows = match.breakdown.map((row) => h("tr", { class: row.must_have ? "must" : null },
    h("th", { scope: "row" }, row.contribution > 0 ? h("span", { class: `swatch c${segment++ % 6}` }) : h("span", { class: "swatch" }),
      row.competency, row.must_have ? h("span", { class: "tag" }, "must-have") : null),
    h("td", null, row.must_have ? yesNo(row.met) : (row.met ? "met" : "below")),
    h("td", { class: "num" }, row.importance),
    h("td", { class: "num" }, row.required_level),
    h("td", { class: "num" }, row.candidate_level ?? "–"),
    h("td", { class: "num" }, fmt(row.effective_level, 2)),
    h("td", { class: "num" }, pct(row.coverage)),
    h("td", { class: "num contribution", dataset: { contribution: row.contribution } },
      h("span", { class: "track" }, h("span", { class: "minibar", "width%": maxContribution ? (100 * row.contribution) / maxContribution : 0 })),
      fmt(row.contribution, 2))));
  const breakdown = table(null, ["Competency", "Met", "Importance", "Required", "Level", "Effective", "Coverage", "Contribution"], rows, { class: "breakdown" });
  breakdown.querySelector("table").append(h("tfoot", null, h("tr", null,
    h("th", { scope: "row", colspan: 7 }, "Sum of contributions = score"),
    h("td", { class: "num total" }, fmt(total / 100, 2)))));
  return h("article", { class: "card match", dataset: { role: match.role, score: match.score } },
    h("h3", null, match.role, " ",
      h("span", { class: "score", "aria-label": "score" }, fmt(match.score, 2)), " ", band(match.band)),
    h("p", null, "Must-haves: ", yesNo(match.must_haves_met), ` · role version ${match.role_version} · model ${match.model_version}`),
    stack, breakdown);
}

function fitSection(fit) {
  const [a, b] = fit.roles;
  const leaning = fit.leaning === "balanced"
    ? h("strong", null, "balanced")
    : h("strong", null, fit.leaning);
  const byAspect = {};
  for (const d of fit.differentiators) {
    const aspect = d.aspect || "other";
    byAspect[aspect] = (byAspect[aspect] || 0) + hundredths(d.effect);
  }
  const maxEffect = Math.max(0.01, ...fit.differentiators.map((d) => Math.abs(d.effect)));
  const rows = fit.differentiators.map((d) => h("tr", null,
    h("td", null, d.aspect || "–"),
    h("th", { scope: "row" }, d.competency),
    h("td", { class: "num" }, pct(d.weight_a)),
    h("td", { class: "num" }, pct(d.weight_b)),
    h("td", { class: "num" }, pct(d.candidate_coverage)),
    h("td", { class: "effect" },
      h("span", { class: `diverge ${d.effect >= 0 ? "towards-a" : "towards-b"}` },
        h("span", { "width%": (50 * Math.abs(d.effect)) / maxEffect })),
      `${d.effect >= 0 ? "+" : "−"}${fmt(Math.abs(d.effect), 2)} → ${d.effect >= 0 ? a : b}`)));
  return h("section", { class: "card fit", "aria-labelledby": "fit-title", dataset: { leaning: fit.leaning } },
    h("h2", { id: "fit-title" }, `Fit: ${a} or ${b}?`),
    h("p", { class: "leaning" }, "Leans to ", leaning, ` by a margin of ${fmt(fit.margin, 2)} points (${a} ${fmt(fit.scores[a], 2)}, ${b} ${fmt(fit.scores[b], 2)}).`,
      " A leaning needs 5 points; less is balanced."),
    h("p", null, "By aspect of the roles' difference, over the differentiators below:"),
    h("ul", { class: "aspects" }, Object.entries(byAspect).map(([aspect, effect]) =>
      h("li", null, h("strong", null, aspect), `: ${effect >= 0 ? "+" : "−"}${fmt(Math.abs(effect) / 100, 2)} points towards ${effect >= 0 ? a : b}`))),
    table("Differentiators: competencies the two roles weight differently",
      ["Aspect", "Competency", `Weight in ${a}`, `Weight in ${b}`, "Coverage", "Effect (points)"], rows));
}

function applicationsSection(result, jobs) {
  const titles = Object.fromEntries((jobs.value?.data || []).map((job) => [job.id, job.title]));
  const body = result.error ? problemBox(result.error) : result.value.data.length === 0
    ? h("p", null, "No applications.")
    : table(null, ["Job", "Status", "Stage", "Score", "Applied"], result.value.data.map((app) => h("tr", null,
      h("td", null, h("a", { href: `#/jobs/${app.job_id}?application=${app.id}` }, titles[app.job_id] || "Open in its job")),
      h("td", null, app.status), h("td", null, app.stage.name),
      h("td", { class: "num" }, app.match ? fmt(app.match.score) : "–"), h("td", null, date(app.applied_at)))));
  return h("section", { class: "card", "aria-labelledby": "apps-title" }, h("h2", { id: "apps-title" }, "Applications"), body);
}

export async function profile(id) {
  const path = `/v1/candidates/${encodeURIComponent(id)}`;
  const [candidate, matches, fit, applications, jobs] = await Promise.all([
    get(path), get(`${path}/matches`), settle(get(`${path}/fit`)), settle(get(`${path}/applications`)),
    settle(get("/v1/jobs", { limit: 200 })),
  ]);
  const maxContribution = Math.max(0, ...matches.matches.flatMap((m) => m.breakdown.map((r) => r.contribution)));
  return [
    h("h1", null, candidate.name),
    profileSection(candidate),
    fit.error ? h("section", { class: "card" }, h("h2", null, "Fit"), problemBox(fit.error)) : fitSection(fit.value),
    h("section", { "aria-labelledby": "matches-title" },
      h("h2", { id: "matches-title" }, "Matches, best first"),
      h("div", { class: "cards" }, matches.matches.map((m) => matchCard(m, maxContribution)))),
    applicationsSection(applications, jobs),
  ];
}
