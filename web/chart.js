// Bar chart as inline SVG, built with DOM APIs (no innerHTML, no inline style: colours come from
// CSS classes, so each operator's colour applies). The chart is an image for assistive technology
// (role="img" with title and description); the page puts the same values in a <table>.

import { h, s, uniqueId } from "./dom.js";
import { num } from "./dates.js";

const MAX_WIDTH = 800;
const MIN_WIDTH = 300;
const HEIGHT = 300;
const MIN_LABEL_GAP = 44; // x labels closer than this are left out
const MARGIN = { top: 16, right: 12, bottom: 44, left: 64 };

/** A "nice" upper bound and step for the y axis. */
function scale(max) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const rough = max / 4;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * magnitude).find((candidate) => candidate >= rough);
  return { top: Math.ceil(max / step) * step, step };
}

function axisNumber(value, step) {
  const digits = Math.min(3, (String(Number(step.toPrecision(6))).split(".")[1] || "").length);
  return value.toLocaleString("de-DE", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function legendItem(kind, text) {
  return h("li", { class: "legend__item" }, h("span", { class: ["legend__swatch", `legend__swatch--${kind}`], "aria-hidden": "true" }), text);
}

/**
 * points: [{value: number|null, substitute: boolean, gap: null|"missing"|"incomplete", label, tick}]
 * compare: the same for the previous period (matched by position), or null.
 * width: the space the chart gets (CSS pixels), so labels keep their size on small screens.
 * Returns a <figure> with the SVG and a legend.
 */
export function barChart({ points, compare = null, title, description, seriesLabel, compareLabel, width = MAX_WIDTH }) {
  const WIDTH = Math.round(Math.min(MAX_WIDTH, Math.max(MIN_WIDTH, width || MAX_WIDTH)));
  const titleId = uniqueId("chart-title");
  const descId = uniqueId("chart-desc");
  const hatchId = uniqueId("chart-hatch");
  const values = [...points, ...(compare || [])].map((p) => p.value).filter((v) => typeof v === "number");
  const { top, step } = scale(Math.max(0, ...values));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const baseline = MARGIN.top + plotHeight;
  const y = (value) => baseline - (Math.max(0, value) / top) * plotHeight;
  const slot = plotWidth / Math.max(1, points.length);

  const svg = s(
    "svg",
    {
      class: "chart__svg",
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-labelledby": `${titleId} ${descId}`,
      preserveAspectRatio: "xMidYMid meet",
    },
    s("title", { id: titleId }, title),
    s("desc", { id: descId }, description),
    s(
      "defs",
      null,
      s(
        "pattern",
        { id: hatchId, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
        s("rect", { class: "chart__hatch-bg", width: 6, height: 6 }),
        s("rect", { class: "chart__hatch-line", width: 3, height: 6 }),
      ),
    ),
  );

  // y axis: grid lines with kWh labels
  const grid = s("g", { class: "chart__grid", "aria-hidden": "true" });
  for (let value = 0; value <= top + step / 2; value += step) {
    const lineY = y(value);
    grid.append(
      s("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: lineY, y2: lineY, class: value === 0 ? "chart__axis" : "chart__gridline" }),
      s("text", { x: MARGIN.left - 8, y: lineY + 4, class: "chart__label chart__label--y" }, axisNumber(value, step)),
    );
  }
  grid.append(s("text", { x: 4, y: MARGIN.top - 4, class: "chart__label chart__label--unit" }, "kWh"));
  svg.append(grid);

  const bars = s("g", { class: "chart__bars" });
  const mainWidth = Math.max(1, slot * (compare ? 0.55 : 0.75));
  const compareWidth = Math.max(1, slot * 0.85);
  let lastLabelX = -Infinity;

  points.forEach((point, index) => {
    const center = MARGIN.left + slot * (index + 0.5);
    const before = compare ? compare[index] : null;
    if (before && typeof before.value === "number") {
      bars.append(
        s(
          "rect",
          {
            class: "chart__bar chart__bar--compare",
            x: center - compareWidth / 2,
            y: y(before.value),
            width: compareWidth,
            height: Math.max(0, baseline - y(before.value)),
          },
          s("title", null, `${before.label}: ${num.kwh(before.value)} kWh (${compareLabel})`),
        ),
      );
    }
    if (typeof point.value === "number") {
      const substitute = Boolean(point.substitute);
      bars.append(
        s(
          "rect",
          {
            class: ["chart__bar", substitute && "chart__bar--substitute"],
            x: center - mainWidth / 2,
            y: y(point.value),
            width: mainWidth,
            height: Math.max(0, baseline - y(point.value)),
            fill: substitute ? `url(#${hatchId})` : null,
          },
          s("title", null, `${point.label}: ${num.kwh(point.value)} kWh${substitute ? " (enthält Ersatzwerte)" : ""}`),
        ),
      );
    }
    if (point.gap) {
      const size = Math.min(6, Math.max(2.5, slot / 2));
      bars.append(
        s(
          "path",
          {
            class: "chart__gap",
            d: `M ${center} ${baseline + 2} l ${size} ${size * 1.6} l ${-2 * size} 0 z`,
          },
          s("title", null, `${point.label}: ${point.gap === "missing" ? "keine Werte" : "Werte unvollständig"}`),
        ),
      );
    }
    if (point.tick && center - lastLabelX >= MIN_LABEL_GAP) {
      lastLabelX = center;
      bars.append(
        s("text", { x: center, y: baseline + 26, class: "chart__label chart__label--x", "aria-hidden": "true" }, point.tick),
      );
    }
  });
  svg.append(bars);

  const hasSubstitutes = points.some((p) => p.substitute && typeof p.value === "number");
  const hasGaps = points.some((p) => p.gap);
  const legend = h(
    "ul",
    { class: "legend", "aria-label": "Legende" },
    legendItem("main", seriesLabel),
    compare ? legendItem("compare", compareLabel) : null,
    hasSubstitutes ? legendItem("substitute", "schraffiert: enthält Ersatz- oder vorläufige Werte") : null,
    hasGaps ? legendItem("gap", "Dreieck unter der Achse: Werte fehlen oder sind unvollständig") : null,
  );

  return h("figure", { class: "chart" }, h("div", { class: "chart__frame" }, svg), h("figcaption", { class: "chart__caption" }, legend));
}
