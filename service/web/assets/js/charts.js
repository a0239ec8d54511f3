// Hand-written SVG charts: a few dozen lines each, smaller than any charting library and with
// nothing to vendor. Each chart has a text equivalent (its aria-label, or a table beside it).
import { s, h } from "./dom.js";

// The score histogram of /v1/roles/{key}/matches/summary: ten buckets of ten points.
export function histogram(buckets) {
  const width = 420, height = 170, left = 34, bottom = 24, top = 10;
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const band = (width - left) / buckets.length;
  const scale = (height - bottom - top) / max;
  const label = buckets.map((b) => `${b.from}–${b.to}: ${b.count}`).join(", ");
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`, class: "chart histogram", role: "img",
    "aria-label": `Score histogram. ${label}`,
  });
  svg.append(s("line", { x1: left, y1: height - bottom, x2: width, y2: height - bottom, class: "axis" }));
  svg.append(s("text", { x: left - 6, y: top + 8, class: "tick", "text-anchor": "end" }, String(max)));
  svg.append(s("text", { x: left - 6, y: height - bottom, class: "tick", "text-anchor": "end" }, "0"));
  buckets.forEach((b, i) => {
    const barHeight = b.count * scale;
    const x = left + i * band + 2;
    svg.append(s("rect", {
      x, y: height - bottom - barHeight, width: band - 4, height: Math.max(barHeight, 0), class: "bar",
    }, s("title", null, `${b.from}–${b.to}: ${b.count}`)));
    if (b.count) {
      svg.append(s("text", { x: x + (band - 4) / 2, y: height - bottom - barHeight - 3, class: "value", "text-anchor": "middle" }, String(b.count)));
    }
    svg.append(s("text", { x: x + (band - 4) / 2, y: height - 8, class: "tick", "text-anchor": "middle" }, String(b.from)));
  });
  return svg;
}

// The funnel of /v1/jobs/{id}/funnel: per stage, a bar for reached and, inside it, advanced.
export function funnel(stages) {
  const rowHeight = 30, labelWidth = 120, width = 480;
  const height = stages.length * rowHeight + 6;
  const max = Math.max(1, ...stages.map((st) => st.reached));
  const scale = (width - labelWidth - 50) / max;
  const label = stages.map((st) => `${st.stage.name}: ${st.reached} reached, ${st.advanced} advanced`).join("; ");
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart funnel", role: "img", "aria-label": `Funnel. ${label}` });
  stages.forEach((st, i) => {
    const y = i * rowHeight + 4;
    svg.append(s("text", { x: labelWidth - 8, y: y + 17, class: "tick", "text-anchor": "end" }, st.stage.name));
    svg.append(s("rect", { x: labelWidth, y, width: st.reached * scale, height: rowHeight - 8, class: "bar reached" },
      s("title", null, `${st.stage.name}: reached ${st.reached}`)));
    svg.append(s("rect", { x: labelWidth, y: y + 5, width: st.advanced * scale, height: rowHeight - 18, class: "bar advanced" },
      s("title", null, `${st.stage.name}: advanced ${st.advanced}`)));
    svg.append(s("text", { x: labelWidth + st.reached * scale + 6, y: y + 17, class: "value" }, `${st.reached} → ${st.advanced}`));
  });
  return svg;
}

export function legend(items) {
  return h("ul", { class: "legend" }, items.map(([cls, text]) => h("li", null, h("span", { class: `swatch ${cls}` }), text)));
}
