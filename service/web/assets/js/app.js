// The dashboard's shell: sign-in, hash routing (#/roles/tpm, #/candidates/<id>, #/jobs/<id>,
// #/audits/<id>) and one place that shows a problem's title and detail.
import { clearKey, get, getKey, setKey, setUnauthorizedHandler } from "./api.js";
import { h, problemBox } from "./dom.js";
import * as roles from "./views/roles.js";
import * as candidate from "./views/candidate.js";
import * as jobs from "./views/jobs.js";
import * as audits from "./views/audits.js";

const ROUTES = {
  roles: (parts, params) => (parts[1] ? roles.ranking(parts[1], params) : roles.list()),
  candidates: (parts) => candidate.profile(parts[1]),
  jobs: (parts, params) => (parts[1] ? jobs.job(parts[1], params) : jobs.list()),
  audits: (parts) => (parts[1] ? audits.report(parts[1]) : audits.list()),
};

const main = document.getElementById("view");
const nav = document.getElementById("nav");
const signin = document.getElementById("signin");
const signinProblem = document.getElementById("signin-problem");
let generation = 0;

export function parseHash() {
  const [path, search] = (location.hash.replace(/^#\/?/, "") || "roles").split("?");
  const decode = (part) => { try { return decodeURIComponent(part); } catch { return part; } };
  return { parts: path.split("/").filter(Boolean).map(decode), params: new URLSearchParams(search || "") };
}

function showSignin(error) {
  nav.hidden = true;
  main.hidden = true;
  main.replaceChildren();
  signin.hidden = false;
  signinProblem.replaceChildren(error ? problemBox(error) : "");
  document.getElementById("key").focus();
}

async function route() {
  if (!getKey()) { showSignin(); return; }
  const { parts, params } = parseHash();
  const view = ROUTES[parts[0]];
  const mine = ++generation;
  signin.hidden = true;
  nav.hidden = false;
  main.hidden = false;
  for (const link of nav.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === parts[0]) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  main.replaceChildren(h("p", { class: "loading", role: "status" }, "Loading…"));
  main.dataset.ready = "false";
  delete main.dataset.route;
  try {
    if (!view) throw { title: "Not Found", detail: `no view named "${parts[0]}": try #/roles, #/jobs or #/audits` };
    // A view gives its nodes, or {nodes, mounted} when it has work to do once they are in the
    // document (the ranking renders its rows then, so their timing includes layout).
    const content = await view(parts, params);
    if (mine !== generation) return; // a later navigation won; drop this one
    main.replaceChildren(...[content.nodes || content].flat(Infinity).filter((node) => node));
    if (content.mounted) content.mounted();
  } catch (error) {
    if (mine !== generation || !getKey()) return;
    main.replaceChildren(problemBox(error));
  }
  main.dataset.route = location.hash;
  main.dataset.ready = "true";
  document.title = `${main.querySelector("h1")?.textContent || "rolefit"} · rolefit dashboard`;
  main.focus({ preventScroll: true });
}

setUnauthorizedHandler((error) => {
  clearKey();
  generation++;
  showSignin(error);
});

document.getElementById("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("key");
  const key = input.value.trim();
  if (!key) { signinProblem.replaceChildren(problemBox({ title: "No key", detail: "paste an API key first" })); return; }
  setKey(key);
  try {
    await get("/v1/roles", { limit: 1 });
  } catch (error) {
    // 403: the key is good but may not list roles; its views will say what it may not do.
    if (error.status === 401) return;
    if (error.status !== 403) { clearKey(); signinProblem.replaceChildren(problemBox(error)); return; }
  }
  input.value = "";
  if (!location.hash || location.hash === "#" || location.hash === "#/") location.hash = "#/roles";
  else route();
});

document.getElementById("signout").addEventListener("click", () => {
  clearKey();
  showSignin();
});

window.addEventListener("hashchange", route);
route();
