// Back-office helpers shared by the /backoffice pages: the staff token (sessionStorage only, never in the
// URL), calls to the back-office APIs through the gateway, the guard that sends to the login, German labels.

import { ApiError, MESSAGES } from "../api.js";
import { h, link } from "../dom.js";

const KEY = "plusportal.backoffice.token";
export const LOGIN = "/backoffice/anmelden";

export function staffToken() {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function setStaffToken(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

function currentPath() {
  const path = location.pathname.length > 1 ? location.pathname.replace(/\/+$/, "") : location.pathname;
  return path + location.search;
}

/** Sends to the login page (the page to come back to goes along as ?weiter=, without any token). */
export function toLogin(ctx, why) {
  const params = new URLSearchParams();
  if (why) params.set(why, "1");
  const here = currentPath();
  if (!here.startsWith(LOGIN)) params.set("weiter", here);
  ctx.navigate(`${LOGIN}?${params}`, { replace: true });
}

/** True when a token is there; otherwise sends to the login and returns false. */
export function requireStaff(ctx) {
  if (staffToken()) return true;
  toLogin(ctx);
  return false;
}

const BASES = { onboarding: "/api/onboarding/backoffice", letters: "/api/letters/backoffice" };

/** One back-office call. 401 → token forgotten and the login page shown (then throws). */
export async function staffCall(ctx, service, method, path, { json, token } = {}) {
  const value = token || staffToken();
  const headers = { Accept: "application/json", Authorization: `Bearer ${value}` };
  if (json !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(BASES[service] + path, {
      method,
      headers,
      credentials: "omit",
      cache: "no-store",
      body: json === undefined ? undefined : JSON.stringify(json),
    });
  } catch {
    throw new ApiError(0, MESSAGES.network);
  }
  let body = null;
  if ((response.headers.get("Content-Type") || "").includes("json")) {
    try {
      body = await response.json();
    } catch {
      body = null;
    }
  }
  if (response.ok) return body;
  const detail = body && typeof body.detail === "string" ? body.detail : null;
  if (response.status === 401 || response.status === 403) {
    if (!token) {
      setStaffToken(null);
      if (ctx) toLogin(ctx, "abgelaufen");
    }
    throw new ApiError(response.status, "Der Mitarbeiter-Token ist ungültig oder abgelaufen. Bitte melden Sie sich an.");
  }
  if (response.status === 422) {
    const errors = Array.isArray(body?.detail) ? body.detail : [];
    const text = errors.map((e) => e.msg).filter(Boolean).join(" ");
    throw new ApiError(422, text || MESSAGES.validation, { body });
  }
  if (response.status === 409) throw new ApiError(409, detail || "Der Antrag hat inzwischen einen anderen Status.", { body });
  if (response.status >= 500) throw new ApiError(response.status, MESSAGES.server, { body });
  throw new ApiError(response.status, detail || MESSAGES.other, { body });
}

export const REQUEST_STATUS = {
  received: "eingegangen",
  matched: "zugeordnet",
  in_review: "in Prüfung",
  rejected: "abgelehnt",
  letter_queued: "Brief in Auftrag",
  letter_dispatched: "Brief versandt",
  letter_returned: "Brief zurück",
  letter_failed: "Brief fehlgeschlagen",
  registered: "registriert",
};

export const LETTER_STATUS = {
  awaiting_master_data: "wartet auf Stammdaten",
  queued: "in Auftrag",
  picked_up: "von der Druckerei abgeholt",
  printed: "gedruckt",
  handed_to_carrier: "an die Post übergeben",
  delivered: "zugestellt",
  returned: "zurück",
  failed: "fehlgeschlagen",
  cancelled: "storniert",
};

export function label(map, value) {
  return map[value] || value;
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
  ];
  const logout = h("button", { type: "button", class: "button button--secondary button--small" }, "Abmelden");
  logout.addEventListener("click", () => {
    setStaffToken(null);
    ctx.navigate(`${LOGIN}?abgemeldet=1`);
  });
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
    logout,
  );
}

/** A table with a (visually hidden) caption, column headers and rows of cells (first cell a row header). */
export function table(caption, columns, rows) {
  return h(
    "div",
    { class: "table-scroll", role: "region", "aria-label": caption, tabindex: "0" },
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
