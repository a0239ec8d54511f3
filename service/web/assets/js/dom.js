// Building the page from data without parsing any HTML: every value lands as text, so a candidate's
// name can never become markup (and the CSP forbids inline script anyway).

const SVG_NS = "http://www.w3.org/2000/svg";

function assign(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.setAttribute("class", value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "width%") el.style.width = `${value}%`;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : value);
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  assign(el, attrs);
  return append(el, children);
}

export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) el.setAttribute(name, value);
  return append(el, children);
}

export function fmt(value, digits = 1) {
  if (value === null || value === undefined) return "–";
  return Number(value).toFixed(digits);
}

export function pct(value) {
  return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)} %`;
}

export function date(value) {
  return value ? value.slice(0, 10) : "–";
}

export function when(value) {
  return value ? value.replace("T", " ").replace(/(:\d\d)(\.\d+)?Z$/, "$1 UTC") : "–";
}

export function table(caption, headers, rows, attrs) {
  return h("div", { class: "scroll" },
    h("table", attrs || {},
      caption ? h("caption", null, caption) : null,
      h("thead", null, h("tr", null, headers.map((title) =>
        typeof title === "string" ? h("th", { scope: "col" }, title) : title))),
      h("tbody", null, rows)));
}

export function problemBox(error) {
  const title = error.title || "Something went wrong";
  const detail = error.detail || String(error.message || "");
  return h("div", { class: "problem", role: "alert" },
    h("strong", { class: "problem-title" }, title),
    detail ? h("span", { class: "problem-detail" }, detail) : null);
}

export function loading(label) {
  return h("p", { class: "loading", role: "status" }, `Loading ${label}…`);
}
