// The "Zeitvariables Netzentgelt (Modul 3)" panel of the readings page: for a consumption partner who chose
// Modul 3 (§14a EnWG), the chosen period's consumption per price level (HT/ST/NT) of the operator's price sheet,
// the grid fee with Modul 3 beside the standard price, and where shifting a kWh saves most. Hidden for everyone
// else (meter data answers 404).

import * as api from "./api.js";
import { addDays, compareDays, dayString, fmt, num, parseDay } from "./dates.js";
import { h, notice, scrollBox } from "./dom.js";

const MAX_DAYS = 93; // meter data's limit (services.meterdata.handlers.MAX_GRID_FEE_DAYS)
const LEVELS = { HT: "Hochlast (HT)", ST: "Standard (ST)", NT: "Niedriglast (NT)" };

function windowsText(line) {
  return line.windows.length ? line.windows.map((w) => `${w} Uhr`).join(", ") : "übrige Zeit";
}

function quarterText(quarter) {
  const [year, q] = quarter.split("-Q");
  return `${q}. Quartal ${year}`;
}

function feeTable(answer) {
  const quarters = new Set(answer.lines.map((line) => line.quarter));
  const caption = "Verbrauch und Netzentgelt je Preisstufe (Arbeitspreis, netto)";
  return scrollBox(
    caption,
    h(
      "table",
      { class: "table" },
      h("caption", null, caption),
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          h("th", { scope: "col" }, "Preisstufe"),
          h("th", { scope: "col" }, "Uhrzeit"),
          h("th", { scope: "col", class: "num" }, "Preis (ct/kWh)"),
          h("th", { scope: "col", class: "num" }, "Verbrauch (kWh)"),
          h("th", { scope: "col", class: "num" }, "Netzentgelt"),
        ),
      ),
      h(
        "tbody",
        null,
        answer.lines.map((line) =>
          h(
            "tr",
            null,
            h("th", { scope: "row" }, LEVELS[line.level], quarters.size > 1 ? h("span", { class: "hint" }, ` (${quarterText(line.quarter)})`) : null),
            h("td", null, windowsText(line)),
            h("td", { class: "num" }, num.cent(line.ct_per_kwh)),
            h("td", { class: "num" }, num.kwh(line.kwh)),
            h("td", { class: "num" }, num.euro(line.eur)),
          ),
        ),
      ),
    ),
  );
}

function comparison(answer) {
  const saving = Number(answer.saving_eur);
  const verdict =
    saving > 0 ? `Sie sparen ${num.euro(answer.saving_eur)}.` : saving < 0 ? `Das sind ${num.euro(-saving)} mehr.` : "Das ist gleich viel.";
  return h(
    "p",
    { class: "lead" },
    `Netzentgelt mit Modul 3: ${num.euro(answer.modul3_eur)} · mit dem Standardpreis wären es ${num.euro(answer.standard_eur)}. ${verdict}`,
  );
}

function shiftTip(shift) {
  if (!shift) return null;
  const from = `${shift.source_windows.map((w) => `${w} Uhr`).join(", ") || "der übrigen Zeit"} (${LEVELS[shift.source]})`;
  const to = `${shift.target_windows.map((w) => `${w} Uhr`).join(", ")} (${LEVELS[shift.target]})`;
  return h(
    "div",
    { class: ["notice", "notice--success"] },
    h(
      "p",
      null,
      h("strong", null, "Tipp: "),
      `Jede kWh, die Sie aus ${from} in ${to} verlegen, spart ${num.cent(shift.saving_ct_per_kwh)} ct. ` +
        `In diesem Zeitraum haben Sie dort ${num.kwh(shift.kwh_in_source)} kWh verbraucht: bis zu ${num.euro(shift.saving_eur_if_all_moved)} weniger.`,
    ),
  );
}

function gaps(answer) {
  const notes = [];
  if (answer.present < answer.expected) {
    notes.push(`Berechnet aus ${num.int(answer.present)} von ${num.int(answer.expected)} Viertelstundenwerten; fehlende Werte zählen nicht mit.`);
  }
  if (answer.quarters_without_prices.length) {
    notes.push(`Für ${answer.quarters_without_prices.map(quarterText).join(", ")} hat Ihr Netzbetreiber noch keine Preise veröffentlicht.`);
  }
  return notes.map((text) => h("p", { class: "hint" }, text));
}

/** The panel; `load(period, stillMine)` follows the period chosen on the page. */
export function gridFeePanel(partner) {
  const heading = h("h2", { id: "netzentgelt" }, "Zeitvariables Netzentgelt (Modul 3)");
  const element = h("section", { class: "panel", "aria-labelledby": "netzentgelt", hidden: true }, heading);

  async function load(period, stillMine) {
    const tooLong = compareDays(period.end, addDays(period.start, MAX_DAYS)) > 0; // a year: ask about its first day only, to learn whether Modul 3 applies
    const asked = tooLong ? { from: period.from, to: dayString(addDays(period.start, 1)) } : period;
    let answer;
    try {
      answer = await api.gridFees(partner, asked);
    } catch (error) {
      if (!stillMine()) return;
      if (error.status === 404) {
        element.hidden = true; // no Modul 3 for this partner number
        return;
      }
      element.hidden = false;
      element.replaceChildren(heading, notice("error", h("p", null, `Das Netzentgelt konnte nicht berechnet werden. ${error.message}`)));
      return;
    }
    if (!stillMine()) return;
    element.hidden = false;
    if (tooLong) {
      element.replaceChildren(heading, h("p", null, "Die Aufteilung nach Zeitfenstern zeigen wir je Tag, Woche oder Monat: bitte wählen Sie oben einen davon."));
      return;
    }
    const scope = `${fmt.dayNumeric(parseDay(answer.from))} – ${fmt.dayNumeric(addDays(parseDay(answer.to), -1))}`;
    element.replaceChildren(
      heading,
      h("p", { class: "hint" }, `Zeitraum: ${scope}. Preise Ihres Netzbetreibers nach § 14a EnWG, netto.`),
      comparison(answer),
      answer.lines.length ? feeTable(answer) : h("p", null, "Für diesen Zeitraum liegen noch keine Werte vor."),
      shiftTip(answer.best_shift),
      ...gaps(answer),
    );
  }

  return { element, load };
}
