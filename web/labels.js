// German names for the codes the APIs use.

import { fmt, parseDay } from "./dates.js";
import { ROLE_LABELS } from "./roles.js"; // generated from contracts/common.py

export { ROLE_LABELS };

export function roleLabel(role) {
  return ROLE_LABELS[role] || role || "";
}

/** A partner number of the session: "aktiv", or "ausgezogen (bis 14.06.2026)" once its relations have ended. */
export function partnerStatus(partner) {
  const last = parseDay(partner.moved_out);
  return last ? `ausgezogen (bis ${fmt.dayNumeric(last)})` : "aktiv";
}

/** MSCONS value qualifiers, as meter data reports them. */
export const QUALITY_LABELS = {
  220: "gemessen",
  67: "Ersatzwert",
  201: "Vorschlagswert",
  20: "unbrauchbar",
  187: "Prognose",
  Z18: "vorläufig",
  Z30: "fehlt",
};

export function qualityLabel(code) {
  return QUALITY_LABELS[code] || code || "";
}

/** Register channels (Zählwerke). */
export const OBIS_LABELS = {
  "1-1:1.8.0": "Bezug gesamt (1.8.0)",
  "1-1:1.8.1": "Bezug Tarif 1 (1.8.1)",
  "1-1:1.8.2": "Bezug Tarif 2 (1.8.2)",
  "1-1:2.8.0": "Einspeisung gesamt (2.8.0)",
  "1-1:2.8.1": "Einspeisung Tarif 1 (2.8.1)",
  "1-1:2.8.2": "Einspeisung Tarif 2 (2.8.2)",
};

export function obisLabel(obis) {
  return OBIS_LABELS[obis] || obis;
}

/** Back-office: the status of a request (onboarding) and of a letter job (letters). */
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
  not_posted_again: "nicht erneut verschickt",
};

export function label(map, value) {
  return map[value] || value;
}

/** The values of one resolution of meter data's /intervals, as a customer reads them. */
export const RESOLUTION_NAMES = {
  "15min": "Viertelstundenwerte",
  hour: "Stundenwerte",
  day: "Tageswerte",
  week: "Wochenwerte",
  month: "Monatswerte",
  year: "Jahreswerte",
};
