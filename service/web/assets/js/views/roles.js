// Roles: the list, and a role's ranking with its filters, "load more" and score histogram.
import { get } from "../api.js";
import { h, fmt, table, problemBox } from "../dom.js";
import { histogram } from "../charts.js";

const PAGE = 200;

export async function list() {
  const page = await get("/v1/roles", { limit: 200 });
  const rows = page.data.map((role) => h("tr", null,
    h("td", null, h("a", { href: `#/roles/${encodeURIComponent(role.key)}` }, role.title)),
    h("td", null, h("code", null, role.key)),
    h("td", { class: "num" }, role.version),
    h("td", { class: "num" }, role.responsibilities.length),
    h("td", null, role.focus || role.summary || "")));
  return [
    h("h1", null, "Roles"),
    h("p", { class: "lede" }, "Open a role to see its candidates ranked, must-haves met first, then by score."),
    table(null, ["Role", "Key", "Version", "Responsibilities", "Focus"], rows, { id: "roles" }),
  ];
}

export function band(value) {
  return h("span", { class: `band band-${value}` }, value);
}

export function yesNo(value, yes = "met", no = "missed") {
  return h("span", { class: value ? "yes" : "no" }, value ? `✓ ${yes}` : `✗ ${no}`);
}

function rankingRow(item, rank) {
  return h("tr", { dataset: { score: item.score, mustHavesMet: item.must_haves_met } },
    h("td", { class: "num" }, rank),
    h("th", { scope: "row" }, h("a", { href: `#/candidates/${item.candidate.id}` }, item.candidate.name)),
    h("td", { class: "headline" }, item.candidate.headline || ""),
    h("td", { class: "num score" }, fmt(item.score, 2)),
    h("td", null, band(item.band)),
    h("td", null, yesNo(item.must_haves_met)));
}

// Appends one page of rows and records, on the table, how long that took in this page
// (building the rows, inserting them and the layout they cause), for the browser test.
function renderRows(tableEl, items) {
  const started = performance.now();
  const body = tableEl.tBodies[0];
  const first = body.rows.length + 1;
  const fragment = document.createDocumentFragment();
  items.forEach((item, i) => fragment.append(rankingRow(item, first + i)));
  body.append(fragment);
  body.getBoundingClientRect(); // force layout inside the measurement
  tableEl.dataset.renderMs = (performance.now() - started).toFixed(1);
  tableEl.dataset.rows = String(body.rows.length);
}

function filtersForm(key, params) {
  const minScore = h("input", { id: "min_score", name: "min_score", type: "number", min: 0, max: 100, step: "any", value: params.get("min_score") || "" });
  const mustHaves = h("select", { id: "must_haves_met", name: "must_haves_met" },
    [["", "any"], ["true", "met"], ["false", "missed"]].map(([value, text]) =>
      h("option", { value, selected: (params.get("must_haves_met") || "") === value }, text)));
  return h("form", {
    class: "filters", "aria-label": "Ranking filters",
    onsubmit: (event) => {
      event.preventDefault();
      const next = new URLSearchParams();
      if (minScore.value !== "") next.set("min_score", minScore.value);
      if (mustHaves.value) next.set("must_haves_met", mustHaves.value);
      const search = next.toString();
      location.hash = `#/roles/${encodeURIComponent(key)}${search ? "?" + search : ""}`;
    },
  },
  h("label", { for: "min_score" }, "Minimum score"), minScore,
  h("label", { for: "must_haves_met" }, "Must-haves"), mustHaves,
  h("button", { type: "submit" }, "Apply"));
}

export async function ranking(key, params) {
  const path = `/v1/roles/${encodeURIComponent(key)}`;
  const filters = { min_score: params.get("min_score"), must_haves_met: params.get("must_haves_met") };
  const [role, summary, first] = await Promise.all([
    get(path),
    get(`${path}/matches/summary`),
    get(`${path}/matches`, { ...filters, limit: PAGE }),
  ]);
  const rankingTable = table(`Ranking for ${role.title}`,
    ["#", "Candidate", "Headline", "Score", "Band", "Must-haves"], [], { id: "ranking" });
  const tableEl = rankingTable.querySelector("table");
  const status = h("p", { class: "count", role: "status" });
  const more = h("button", { type: "button", id: "load-more" }, "Load more");
  const problemSlot = h("div");
  let cursor = first.next_cursor;
  const update = () => {
    status.textContent = `${tableEl.tBodies[0].rows.length} shown${cursor ? ", more to load" : ""}`;
    more.hidden = !cursor;
  };
  more.addEventListener("click", async () => {
    more.disabled = true;
    problemSlot.replaceChildren();
    try {
      const page = await get(`${path}/matches`, { ...filters, limit: PAGE, cursor });
      cursor = page.next_cursor;
      renderRows(tableEl, page.data);
    } catch (error) {
      problemSlot.replaceChildren(problemBox(error));
    }
    more.disabled = false;
    update();
  });
  const stats = h("dl", { class: "stats" },
    [["Scored", summary.count], ["Mean", fmt(summary.mean)], ["Median", fmt(summary.median)],
      ["p90", fmt(summary.p90)], ["Must-haves met", summary.must_haves_met]].map(([term, value]) =>
      h("div", null, h("dt", null, term), h("dd", null, value))));
  const nodes = [
    h("h1", null, role.title, " ", h("small", null, `${role.key} · version ${role.version}`)),
    role.summary ? h("p", { class: "lede" }, role.summary) : null,
    h("section", { class: "card", "aria-labelledby": "dist-title" },
      h("h2", { id: "dist-title" }, "Score distribution"),
      h("div", { class: "split" }, histogram(summary.histogram), stats)),
    h("section", { "aria-labelledby": "rank-title" },
      h("h2", { id: "rank-title" }, "Ranking"),
      filtersForm(key, params), status, rankingTable, problemSlot, more),
  ];
  return {
    nodes,
    mounted: () => { renderRows(tableEl, first.data); update(); },
  };
}
