// Small DOM builders. Text always goes in as text nodes (never innerHTML), so data cannot become markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function apply(node, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
}

/** h("p", {class: "hint"}, "Text", h("a", {href: "/"}, "Link")) */
export function h(tag, props, ...children) {
  const node = document.createElement(tag);
  apply(node, props);
  append(node, children);
  return node;
}

/** The same for SVG elements. */
export function s(tag, props, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  apply(node, props);
  append(node, children);
  return node;
}

/** A box that scrolls a wide table sideways on a narrow screen: reachable by keyboard (WCAG 2.1.1) and named. */
export function scrollBox(label, ...children) {
  return h("div", { class: "table-scroll", role: "region", "aria-label": label, tabindex: "0" }, ...children);
}

/** A paragraph with links and text mixed: para("Bitte ", link("/zugang", "neu beantragen"), "."). */
export function link(href, text, props = {}) {
  return h("a", { href, ...props }, text);
}

let counter = 0;
/** An id unique within the page (for aria-labelledby and friends). */
export function uniqueId(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A status or notice box. kind: "info" | "success" | "warning" | "error". */
export function notice(kind, ...children) {
  const role = kind === "error" ? "alert" : "status";
  return h("div", { class: ["notice", `notice--${kind}`], role }, ...children);
}
