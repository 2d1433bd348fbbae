// "Freigaben für Dritte" on the account page ([11 of 11] §2): the login's grants to third parties — pending (not yet
// fetched by the third party), active, ended — with the data each covers, the last access and the recent reads of
// the chosen partner number, and a revoke button (the third party's tokens are refused within seconds).

import * as api from "./api.js";
import { berlinDay, fmt, parseDay } from "./dates.js";
import { h, notice, scrollBox } from "./dom.js";
import { RESOLUTION_NAMES } from "./labels.js";

const STATUS = { pending: "Erteilt, noch nicht abgeholt", active: "Aktiv", ended: "Beendet" };
const ENDED_BECAUSE = {
  customer: "von Ihnen widerrufen",
  expired: "abgelaufen",
  "replayed": "aus Sicherheitsgründen beendet",
  "account-deleted": "Zugang gelöscht",
  "third-party-disabled": "Anbieter vom Netzbetreiber gesperrt",
};

/** "meterdata:day" → "Tageswerte": the finest values the grant lets the third party read. */
function scopeName(scope) {
  return RESOLUTION_NAMES[scope.split(":")[1]] || scope;
}

function statusText(grant) {
  if (grant.status !== "ended") return STATUS[grant.status];
  const why = ENDED_BECAUSE[grant.end_reason];
  return why ? `${STATUS.ended} (${why})` : STATUS.ended;
}

function lastAccess(grant, accesses, partnerNumber) {
  if (grant.partner_number !== partnerNumber) return "für diese Geschäftspartner-Nr. wählen";
  const found = accesses.find((a) => a.grant_id === grant.id);
  return found ? fmt.dateTime(found.at) : "noch keiner";
}

function grantTable(items, accesses, partnerNumber, revoke) {
  if (!items.length) return h("p", null, "Sie haben keinem Anbieter Daten freigegeben.");
  const head = h(
    "tr",
    null,
    h("th", { scope: "col" }, "Anbieter"),
    h("th", { scope: "col" }, "Geschäftspartner-Nr."),
    h("th", { scope: "col" }, "Daten"),
    h("th", { scope: "col" }, "Gültig bis"),
    h("th", { scope: "col" }, "Stand"),
    h("th", { scope: "col" }, "Letzter Zugriff"),
  );
  const rows = items.map((grant) => {
    let action = null;
    if (grant.status !== "ended") {
      action = h("button", { type: "button", class: "button button--danger button--small" }, "Widerrufen");
      action.setAttribute("aria-label", `Freigabe für ${grant.client_name} widerrufen`);
      action.addEventListener("click", () => revoke(grant, action));
    }
    return h(
      "tr",
      null,
      h("th", { scope: "row" }, grant.client_name),
      h("td", null, grant.partner_number),
      h("td", { title: grant.scope_label }, `${scopeName(grant.scope)} ab ${fmt.dayNumeric(parseDay(grant.data_from))}`),
      h("td", null, fmt.dayNumeric(berlinDay(grant.valid_until))),
      h("td", null, statusText(grant), action ? h("div", null, action) : null),
      h("td", null, lastAccess(grant, accesses, partnerNumber)),
    );
  });
  const table = h(
    "table",
    { class: "table" },
    h("caption", { class: "visually-hidden" }, "Ihre Freigaben für Dritte"),
    h("thead", null, head),
    h("tbody", null, rows),
  );
  return scrollBox("Tabelle der Freigaben (seitlich verschiebbar)", table);
}

function accessList(grants, accesses) {
  if (!accesses.length) return null;
  const names = Object.fromEntries(grants.map((g) => [g.id, g.client_name]));
  return h(
    "details",
    null,
    h("summary", null, `Die letzten Zugriffe (${Math.min(accesses.length, 20)})`),
    h(
      "ul",
      null,
      accesses.slice(0, 20).map((a) =>
        h("li", null, `${fmt.dateTime(a.at)}: ${names[a.grant_id] || a.client_id} las ${RESOLUTION_NAMES[a.resolution] || a.resolution} vom ${fmt.dayNumeric(parseDay(a.first))} bis vor dem ${fmt.dayNumeric(parseDay(a.end))}`),
      ),
    ),
  );
}

/** The section for the account page; ``partnerNumber``: the chosen one (its reads are shown), or null. */
export function grantsSection(ctx, partnerNumber) {
  const list = h("div");
  const status = h("p", { role: "status", class: "status-line" });

  async function load() {
    const [items, accesses] = await Promise.all([api.grants(), partnerNumber ? api.grantAccesses(partnerNumber) : []]);
    if (ctx.isCurrent()) list.replaceChildren(grantTable(items, accesses, partnerNumber, revoke), accessList(items, accesses) || "");
  }

  async function revoke(grant, button) {
    button.setAttribute("aria-disabled", "true");
    try {
      await api.revokeGrant(grant.id);
      status.textContent = `Die Freigabe für ${grant.client_name} ist widerrufen. Der Anbieter kann ab sofort keine Daten mehr lesen.`;
      ctx.announce(status.textContent);
    } catch (error) {
      status.replaceChildren(notice("error", h("p", null, error.message)));
    }
    await load().catch(() => {});
  }

  load().catch(() => {
    list.replaceChildren(h("p", null, "Die Freigaben konnten nicht geladen werden. Bitte laden Sie die Seite neu."));
  });
  return h(
    "section",
    { class: "panel", "aria-labelledby": "konto-freigaben" },
    h("h2", { id: "konto-freigaben" }, "Freigaben für Dritte"),
    h("p", null, "Anbieter, denen Sie erlaubt haben, Ihre Messwerte zu lesen (zum Beispiel für einen Energiemanager). Eine Freigabe gilt nur für die genannten Daten und endet zum angegebenen Tag – oder sofort, wenn Sie sie widerrufen."),
    list,
    status,
  );
}
