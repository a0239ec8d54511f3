// The one way the page talks to the service: fetch against /v1 with the pasted key.
// Every failure becomes an ApiError carrying the problem's title and detail (RFC 9457), so
// every view can show them the same way; a 401 also signs the user out.

const STORAGE_KEY = "rolefit.apiKey";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title);
    this.status = status;
    this.problem = problem;
  }
  get title() { return this.problem.title || `HTTP ${this.status}`; }
  get detail() { return this.problem.detail || ""; }
}

let onUnauthorized = () => {};

export function setUnauthorizedHandler(handler) { onUnauthorized = handler; }
export function getKey() { return sessionStorage.getItem(STORAGE_KEY); }
export function setKey(key) { sessionStorage.setItem(STORAGE_KEY, key); }
export function clearKey() { sessionStorage.removeItem(STORAGE_KEY); }

function query(params) {
  const pairs = Object.entries(params || {}).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return pairs.length ? "?" + new URLSearchParams(pairs).toString() : "";
}

// request("GET", "/v1/roles", {params}) -> {data, etag}; writes pass body, ifMatch, idempotent.
export async function request(method, path, { params, body, ifMatch, idempotent, accept } = {}) {
  const headers = { Accept: accept || "application/json" };
  const key = getKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (ifMatch) headers["If-Match"] = ifMatch;
  if (idempotent) headers["Idempotency-Key"] = crypto.randomUUID();
  let response;
  try {
    response = await fetch(path + query(params), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, { title: "The service did not answer", detail: String(error.message || error) });
  }
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const problem = typeof data === "object" && data ? data : { title: response.statusText, detail: String(data) };
    const error = new ApiError(response.status, problem);
    if (response.status === 401) onUnauthorized(error);
    throw error;
  }
  return { data, etag: response.headers.get("ETag") };
}

export const get = (path, params) => request("GET", path, { params }).then((r) => r.data);
