// Back-office helpers shared by the /backoffice pages: the guard that sends to the login, the bar above
// each page, tables, the status filter and how names, places and times are written. The calls, the staff
// session and its access token are in api.js.

import * as api from "./api.js";
import { h, link, scrollBox } from "./dom.js";

export const LOGIN = "/backoffice/anmelden";

function currentPath() {
  const path = location.pathname.length > 1 ? location.pathname.replace(/\/+$/, "") : location.pathname;
  return path + location.search;
}

/** Sends to the login page (the page to come back to goes along as ?weiter=, without any token). */
export function toLogin(navigate, why) {
  const params = new URLSearchParams();
  if (why) params.set(why, "1");
  const here = currentPath();
  if (!here.startsWith(LOGIN)) params.set("weiter", here);
  navigate(`${LOGIN}?${params}`, { replace: true });
}

/** True when a staff member is signed in; otherwise sends to the login and returns false. */
export async function requireStaff(ctx) {
  if (api.staffSession() || (await api.loadStaffSession())) return true;
  toLogin(ctx.navigate);
  return false;
}

export function dateTime(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString("de-DE", { dateStyle: "medium", timeStyle: "short" });
}

export function customerName(customer) {
  if (!customer) return "–";
  return [customer.first_name, customer.last_name].filter(Boolean).join(" ") || "–";
}

export function placeOf(address) {
  if (!address) return "–";
  return [address.postcode, address.city].filter(Boolean).join(" ") || "–";
}

export function streetOf(address) {
  if (!address) return "";
  return [address.street, address.house_number].filter(Boolean).join(" ");
}

/** The bar above each back-office page: links between the pages and "Abmelden". */
export function staffBar(ctx) {
  const here = location.pathname.replace(/\/+$/, "") || "/";
  const items = [
    ["/backoffice", "Übersicht"],
    ["/backoffice/antraege", "Anträge"],
    ["/backoffice/pruefung", "Prüfung"],
    ["/backoffice/briefe", "Briefe"],
    ["/backoffice/ruecklaeufer", "Rückläufer"],
    ["/backoffice/marktkommunikation", "Marktkommunikation"],
    ["/backoffice/stoerungen", "Störungen"],
  ];
  const logout = h("button", { type: "button", class: "button button--secondary button--small" }, "Abmelden");
  logout.addEventListener("click", async () => {
    await api.staffLogout();
    ctx.navigate(`${LOGIN}?abgemeldet=1`);
  });
  const who = api.staffSession();
  return h(
    "div",
    { class: "backoffice-bar" },
    h(
      "nav",
      { class: "backoffice-bar__nav", "aria-label": "Back-Office" },
      h(
        "ul",
        { class: "backoffice-bar__list" },
        items.map(([href, text]) =>
          h("li", null, link(href, text, { class: "backoffice-bar__link", "aria-current": href === here ? "page" : null })),
        ),
      ),
    ),
    who ? h("p", { class: "hint" }, `Angemeldet: ${who.name} (${who.role_label})`) : null,
    logout,
  );
}

/** A table with a (visually hidden) caption, column headers and rows of cells (first cell a row header). */
export function table(caption, columns, rows) {
  return scrollBox(
    caption,
    h(
      "table",
      { class: "table" },
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", null, h("tr", null, columns.map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        null,
        rows.map((cells) => h("tr", null, cells.map((cell, i) => (i === 0 ? h("th", { scope: "row" }, cell) : h("td", null, cell))))),
      ),
    ),
  );
}

/** A select with its label for a status filter; changing and sending it reloads the page with ?status=. */
export function statusFilter(ctx, path, labels, current) {
  const select = h(
    "select",
    { id: "bo-status", name: "status", class: "field__input field__input--medium" },
    h("option", { value: "", selected: !current }, "Alle"),
    Object.entries(labels).map(([value, text]) => h("option", { value, selected: value === current }, text)),
  );
  const element = h(
    "form",
    { class: "form backoffice-filter" },
    h("div", { class: "field" }, h("label", { class: "field__label", for: "bo-status" }, "Status"), select),
    h("div", { class: "form__actions" }, h("button", { type: "submit", class: "button button--small" }, "Filtern")),
  );
  element.addEventListener("submit", (event) => {
    event.preventDefault();
    ctx.navigate(select.value ? `${path}?status=${encodeURIComponent(select.value)}` : path);
  });
  return element;
}
