// Jobs: the list, and one job: its funnel, its stages as columns, its applications ranked, and
// one application's history with the actions a pipeline:write key may take.
import { get, getKey, request } from "../api.js";
import { h, fmt, pct, date, when, table, problemBox } from "../dom.js";
import { funnel, legend } from "../charts.js";
import { band, yesNo } from "./roles.js";

const PAGE = 100;
const COLUMN_NAMES = 8;
// Said once after the next render of the job view: the outcome of an action, good or bad.
let flash = null;
// Keys whose write answered 403 (no pipeline:write): their buttons are hidden from then on.
const refused = new Set();

const rerender = () => window.dispatchEvent(new HashChangeEvent("hashchange"));

export async function list() {
  const page = await get("/v1/jobs", { limit: 200 });
  const rows = page.data.map((job) => h("tr", null,
    h("th", { scope: "row" }, h("a", { href: `#/jobs/${job.id}` }, job.title)),
    h("td", null, h("a", { href: `#/roles/${job.role}` }, job.role)),
    h("td", null, job.status), h("td", { class: "num" }, job.openings), h("td", { class: "num" }, job.hired),
    h("td", null, [job.department, job.location].filter(Boolean).join(" · ")), h("td", null, date(job.opened_at))));
  return [
    h("h1", null, "Jobs"),
    page.data.length ? table(null, ["Job", "Role", "Status", "Openings", "Hired", "Where", "Opened"], rows, { id: "jobs" })
      : h("p", null, "No jobs yet (rolefit demo opens two)."),
  ];
}

function funnelSection(data) {
  const totals = [["Applications", data.applications], ["Active", data.active], ["Hired", data.hired],
    ["Rejected", data.rejected], ["Time to hire, median", `${fmt(data.time_to_hire_days.median)} d`],
    ["Time to hire, p90", `${fmt(data.time_to_hire_days.p90)} d`]];
  const rows = data.stages.map((st) => h("tr", null,
    h("th", { scope: "row" }, st.stage.name), h("td", { class: "num" }, st.reached), h("td", { class: "num" }, st.current),
    h("td", { class: "num" }, st.rejected_here), h("td", { class: "num" }, st.advanced), h("td", { class: "num" }, pct(st.conversion)),
    h("td", { class: "num" }, fmt(st.days_in_stage.median)), h("td", { class: "num" }, fmt(st.days_in_stage.p90))));
  const sources = data.sources.map((src) => h("tr", null,
    h("th", { scope: "row" }, src.channel), h("td", { class: "num" }, src.applications), h("td", { class: "num" }, src.hired)));
  return h("section", { class: "card", "aria-labelledby": "funnel-title" },
    h("h2", { id: "funnel-title" }, "Funnel"),
    h("dl", { class: "stats" }, totals.map(([t, v]) => h("div", null, h("dt", null, t), h("dd", null, v)))),
    funnel(data.stages), legend([["reached", "reached"], ["advanced", "advanced"]]),
    table(null, ["Stage", "Reached", "Now", "Rejected here", "Advanced", "Conversion", "Days, median", "Days, p90"], rows, { id: "funnel" }),
    sources.length ? table("Sources", ["Channel", "Applications", "Hired"], sources) : null);
}

function stageBoard(job, apps, funnelData) {
  const current = Object.fromEntries(funnelData.stages.map((st) => [st.stage.id, st.current]));
  return h("section", { "aria-labelledby": "stages-title" },
    h("h2", { id: "stages-title" }, "Stages"),
    h("ol", { class: "board" }, job.stages.map((stage) => {
      const here = apps.filter((a) => a.status === "active" && a.stage.id === stage.id);
      const shown = here.slice(0, COLUMN_NAMES);
      const total = current[stage.id] ?? here.length;
      return h("li", { class: "column", dataset: { stage: stage.id } },
        h("h3", null, stage.name, " ", h("span", { class: "count" }, total)),
        h("ul", null, shown.map((a) => h("li", null,
          h("a", { href: `#/jobs/${job.id}?application=${a.id}` }, a.candidate.name), " ", fmt(a.match?.score)))),
        total > shown.length ? h("p", { class: "note" }, `+ ${total - shown.length} more`) : null);
    })));
}

function applicationRow(job, app) {
  return h("tr", { dataset: { application: app.id, score: app.match?.score ?? "" } },
    h("th", { scope: "row" }, h("a", { href: `#/jobs/${job.id}?application=${app.id}` }, app.candidate.name)),
    h("td", { class: "num" }, app.match ? fmt(app.match.score) : "–"),
    h("td", null, app.match ? band(app.match.band) : "–"),
    h("td", null, app.match ? yesNo(app.match.must_haves_met) : "–"),
    h("td", null, app.status), h("td", { class: "stage" }, app.stage.name), h("td", null, date(app.applied_at)),
    h("td", null, h("a", { href: `#/candidates/${app.candidate.id}` }, "Profile")));
}

function applicationsSection(job, first, params) {
  const status = h("select", { id: "app-status" }, [["", "any"], ["active", "active"], ["rejected", "rejected"], ["hired", "hired"]]
    .map(([value, text]) => h("option", { value, selected: (params.get("status") || "") === value }, text)));
  status.addEventListener("change", () => {
    location.hash = `#/jobs/${job.id}${status.value ? `?status=${status.value}` : ""}`;
  });
  const wrap = table(null, ["Candidate", "Score", "Band", "Must-haves", "Status", "Stage", "Applied", ""],
    first.data.map((app) => applicationRow(job, app)), { id: "applications" });
  const more = h("button", { type: "button", hidden: !first.next_cursor }, "Load more");
  const slot = h("div");
  let cursor = first.next_cursor;
  more.addEventListener("click", async () => {
    more.disabled = true;
    slot.replaceChildren();
    try {
      const page = await get(`/v1/jobs/${job.id}/applications`, { limit: PAGE, cursor, status: params.get("status") });
      cursor = page.next_cursor;
      wrap.querySelector("tbody").append(...page.data.map((app) => applicationRow(job, app)));
    } catch (error) { slot.replaceChildren(problemBox(error)); }
    more.disabled = false;
    more.hidden = !cursor;
  });
  return h("section", { "aria-labelledby": "apps-title" },
    h("h2", { id: "apps-title" }, "Applications, best match first"),
    h("p", { class: "filters" }, h("label", { for: "app-status" }, "Status"), status),
    wrap, slot, more);
}

// What a refused action means for the recruiter, beside the problem's own title and detail.
function explain(error) {
  if (error.status === 409 && (error.problem.type || "").endsWith("stage-conflict")) {
    const where = error.problem.current_stage_name ? ` It is in ${error.problem.current_stage_name} now.` : "";
    return `Someone else moved this application since you opened it.${where} The page has been reloaded: check and try again.`;
  }
  if (error.status === 412) return "This application changed since you opened it. The page has been reloaded: check and try again.";
  if (error.status === 409) return "Nothing was changed; the page has been reloaded.";
  return null;
}

async function act(app, etag, action, body) {
  try {
    const result = await request("POST", `/v1/applications/${app.id}/${action}`, { body, ifMatch: etag, idempotent: true });
    flash = h("p", { class: "done", role: "status" }, `Done: ${action} → ${result.data.status}, ${result.data.stage.name}.`);
  } catch (error) {
    if (error.status === 401) return;
    if (error.status === 403) refused.add(getKey());
    const hint = explain(error);
    flash = h("div", { class: "conflict" }, problemBox(error), hint ? h("p", { class: "hint" }, hint) : null);
  }
  rerender();
}

const withNote = (body, note) => (note.value.trim() ? { ...body, note: note.value.trim() } : body);

function actions(job, app, etag, reasons) {
  if (refused.has(getKey())) return h("p", { class: "note" }, "This key may not change applications (no pipeline:write).");
  const forms = [];
  const form = (id, label, fields, onsubmit) => h("form", {
    class: "action", id, "aria-label": label,
    onsubmit: (event) => { event.preventDefault(); event.submitter?.setAttribute("disabled", ""); onsubmit(); },
  }, fields);
  if (app.status === "active") {
    const target = h("select", { id: "to-stage", required: true },
      job.stages.filter((st) => st.id !== app.stage.id).map((st) => h("option", { value: st.id }, st.name)));
    const note = h("input", { id: "move-note", maxlength: 2000 });
    forms.push(form("move", "Move", [h("label", { for: "to-stage" }, "Move to"), target, h("label", { for: "move-note" }, "Note"), note,
      h("button", { type: "submit" }, "Move")], () => act(app, etag, "move", withNote({ from_stage: app.stage.id, to_stage: target.value }, note))));
    const reason = h("select", { id: "reason", required: true },
      reasons.filter((r) => r.active).map((r) => h("option", { value: r.key }, `${r.name} (${r.type.replace("_", " ")})`)));
    const rnote = h("input", { id: "reject-note", maxlength: 2000 });
    forms.push(form("reject", "Reject", [h("label", { for: "reason" }, "Reject, reason"), reason, h("label", { for: "reject-note" }, "Note"), rnote,
      h("button", { type: "submit", class: "danger" }, "Reject")], () => act(app, etag, "reject", withNote({ reason: reason.value }, rnote))));
    const hnote = h("input", { id: "hire-note", maxlength: 2000 });
    forms.push(form("hire", "Hire", [h("label", { for: "hire-note" }, "Hire, note"), hnote,
      h("button", { type: "submit" }, `Hire (${job.hired} of ${job.openings} filled)`)], () => act(app, etag, "hire", withNote({}, hnote))));
  } else {
    const undo = app.status === "rejected" ? "unreject" : "unhire";
    const unote = h("input", { id: "undo-note", maxlength: 2000 });
    forms.push(form(undo, undo, [h("label", { for: "undo-note" }, `${undo[0].toUpperCase()}${undo.slice(1)}, note`), unote,
      h("button", { type: "submit" }, undo === "unreject" ? "Unreject" : "Unhire")], () => act(app, etag, undo, withNote({}, unote))));
  }
  return h("div", { class: "actions" }, forms);
}

function timeline(transitions) {
  return h("ol", { class: "timeline", "aria-label": "History, oldest first" }, transitions.map((t) => h("li", null,
    h("p", null, h("strong", null, `${t.seq}. ${t.kind}`), " ", h("time", { datetime: t.occurred_at }, when(t.occurred_at)),
      ` · ${t.from_stage ? `${t.from_stage.name} → ` : ""}${t.to_stage.name}`,
      t.from_status && t.from_status !== t.to_status ? ` · ${t.from_status} → ${t.to_status}` : "",
      ` · by ${t.actor.name}`),
    t.match ? h("p", { class: "snapshot" }, "Match then: ", h("strong", null, fmt(t.match.score)), " ", band(t.match.band),
      " must-haves ", yesNo(t.match.must_haves_met), ` · role v${t.match.role_version}`) : h("p", { class: "snapshot" }, "No match then."),
    t.reason ? h("p", null, `Reason: ${t.reason}`) : null,
    t.note ? h("p", { class: "note" }, `“${t.note}”`) : null)));
}

async function applicationPanel(job, id, reasons) {
  const [{ data: app, etag }, history] = await Promise.all([
    request("GET", `/v1/applications/${encodeURIComponent(id)}`),
    get(`/v1/applications/${encodeURIComponent(id)}/transitions`, { limit: 200 }),
  ]);
  const candidate = app.candidate_id ? await get(`/v1/candidates/${app.candidate_id}`).catch(() => null) : null;
  return h("section", { class: "card panel", id: "application", "aria-labelledby": "panel-title", dataset: { status: app.status, stage: app.stage.id } },
    h("h2", { id: "panel-title" }, candidate ? candidate.name : "Application", " ", h("small", null, `${app.status} · ${app.stage.name}`)),
    h("p", null, app.match ? ["Current match: ", h("strong", null, fmt(app.match.score)), " ", band(app.match.band)] : "No current match.",
      app.rejection ? ` · rejected: ${app.rejection.reason}` : "", " · ", h("a", { href: `#/jobs/${job.id}` }, "Close")),
    actions(job, app, etag, reasons),
    h("h3", null, "History"), timeline(history.data));
}

export async function job(id, params) {
  const path = `/v1/jobs/${encodeURIComponent(id)}`;
  const [jobData, funnelData, apps, reasons] = await Promise.all([
    get(path), get(`${path}/funnel`),
    get(`${path}/applications`, { limit: PAGE, status: params.get("status") }),
    get("/v1/rejection-reasons", { limit: 200 }),
  ]);
  const said = flash;
  flash = null;
  let panel = null;
  if (params.get("application")) {
    try { panel = await applicationPanel(jobData, params.get("application"), reasons.data); } catch (error) {
      if (error.status === 401) throw error;
      panel = h("section", { class: "card panel", id: "application" }, problemBox(error));
    }
  }
  if (panel && said) panel.insertBefore(said, panel.children[1]);
  return {
    nodes: [
      h("h1", null, jobData.title),
      h("p", { class: "lede" }, `Role `, h("a", { href: `#/roles/${jobData.role}` }, jobData.role),
        ` · ${jobData.status} · ${jobData.hired} of ${jobData.openings} hired`,
        jobData.department ? ` · ${jobData.department}` : "", jobData.location ? ` · ${jobData.location}` : ""),
      !panel && said ? said : null,
      panel,
      funnelSection(funnelData),
      stageBoard(jobData, apps.data, funnelData),
      applicationsSection(jobData, apps, params),
    ],
    mounted: () => panel?.scrollIntoView({ block: "start" }),
  };
}
