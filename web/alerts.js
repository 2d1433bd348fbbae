// The "Benachrichtigungen" panel of the readings page ([10 of 11] §2): the partner number's alerts (add, remove),
// and the ones raised. Meter data judges them as readings arrive and identity mails each one once; the mail's
// link turns an alert off.

import * as api from "./api.js";
import { fmt, num, parseDay } from "./dates.js";
import { h, notice, uniqueId } from "./dom.js";
import { field, onSubmit, submitButton } from "./forms.js";

// Kinds per role (contracts.alerts.ALERT_ROLES), with what the customer reads and the threshold's unit.
const KINDS = {
  daily_consumption: { label: "Tagesverbrauch über …", unit: "kWh", roles: ["consumption"], hint: "z. B. 15" },
  night_base_load: {
    label: "Grundlast in der Nacht (00:00–04:00 Uhr) über …",
    unit: "W",
    roles: ["consumption"],
    hint: "Die niedrigste Viertelstunde der Nacht als Leistung, z. B. 300",
  },
  pv_without_feed_in: {
    label: "Tag ohne Einspeisung, während PV-Anlagen in der Umgebung einspeisten",
    unit: "",
    roles: ["feed_in"],
    hint: "Nur wenn mindestens 5 andere Anlagen Ihres Postleitzahlbereichs eingespeist haben (anonym).",
  },
  missing_data: { label: "Keine Messwerte seit mehr als …", unit: "Tage", roles: ["consumption", "feed_in"], hint: "z. B. 3" },
};

function figure(occurrence) {
  switch (occurrence.kind) {
    case "daily_consumption":
      return `${num.kwh(occurrence.value)} kWh`;
    case "night_base_load":
      return `${num.int(occurrence.value)} W`;
    case "pv_without_feed_in":
      return `${num.int(occurrence.value)} von ${num.int(occurrence.peers)} Anlagen in der Umgebung speisten ein`;
    default:
      return `${num.int(occurrence.value)} Tage ohne Messwerte`;
  }
}

/** The panel; `load(stillMine)` reads the alerts and the raised ones. */
export function alertsPanel(partner, role) {
  const headingId = uniqueId("benachrichtigungen");
  const heading = h("h2", { id: headingId }, "Benachrichtigungen");
  const intro = h(
    "p",
    { class: "hint" },
    "Wir schreiben Ihnen eine E-Mail, sobald Ihre Messwerte eine dieser Bedingungen erfüllen – einmal je Tag. " +
      "Ausschalten können Sie jede Benachrichtigung mit dem Link in der E-Mail oder hier.",
  );
  const list = h("div", { "aria-live": "polite" });
  const raised = h("div");
  const element = h("section", { class: "panel", "aria-labelledby": headingId }, heading, intro, list, addForm(), raised);
  let stillMine = () => true;

  function addForm() {
    const kinds = Object.entries(KINDS).filter(([, spec]) => spec.roles.includes(role));
    const selectId = uniqueId("f-kind");
    const select = h(
      "select",
      { id: selectId, name: "kind", class: "field__input" },
      kinds.map(([kind, spec]) => h("option", { value: kind }, spec.label)),
    );
    const threshold = field({ name: "threshold", label: "Schwellenwert", inputmode: "decimal", width: "short", hint: kinds[0][1].hint });
    const hintOf = threshold.querySelector(".field__hint");
    const showThreshold = () => {
      const spec = KINDS[select.value];
      threshold.hidden = !spec.unit;
      threshold.querySelector("label").firstChild.textContent = spec.unit ? `Schwellenwert (${spec.unit})` : "Schwellenwert";
      if (hintOf) hintOf.textContent = spec.hint;
    };
    select.addEventListener("change", showThreshold);
    const added = h(
      "form",
      { class: "form", novalidate: true },
      h("div", { class: "form__summary" }),
      h("div", { class: "field" }, h("label", { class: "field__label", for: selectId }, "Benachrichtigen bei"), select),
      threshold,
      submitButton("Benachrichtigung anlegen"),
    );
    showThreshold();
    onSubmit(
      added,
      async (data) => {
        const spec = KINDS[select.value];
        const value = spec.unit ? Number(String(data.threshold).replace(",", ".")) : 0;
        await api.addAlert(partner, { kind: select.value, threshold: value });
        added.reset();
        showThreshold();
        await load(stillMine);
      },
      {
        fallbackField: "threshold",
        check: (data) =>
          KINDS[select.value].unit && !(Number(String(data.threshold).replace(",", ".")) > 0)
            ? [{ field: "threshold", message: "Bitte geben Sie den Schwellenwert als Zahl an, z. B. 15." }]
            : [],
      },
    );
    return h("div", null, h("h3", null, "Neue Benachrichtigung"), added);
  }

  function alertList(alerts) {
    if (!alerts.length) return h("p", null, "Sie haben noch keine Benachrichtigung angelegt.");
    return h(
      "ul",
      null,
      alerts.map((alert) => {
        const remove = h("button", { type: "button", class: "button button--secondary" }, "Entfernen");
        remove.setAttribute("aria-label", `${alert.label} entfernen`);
        remove.addEventListener("click", async () => {
          remove.setAttribute("aria-disabled", "true");
          try {
            await api.removeAlert(partner, alert.id);
          } catch (error) {
            await load(stillMine);
            list.prepend(notice("error", h("p", null, `Die Benachrichtigung konnte nicht entfernt werden. ${error.message}`)));
            return;
          }
          await load(stillMine);
        });
        return h("li", null, alert.label, alert.on ? null : h("span", { class: "hint" }, " (ausgeschaltet)"), " ", remove);
      }),
    );
  }

  function raisedList(occurrences) {
    if (!occurrences.length) return h("p", { class: "hint" }, "Bisher wurde keine Benachrichtigung ausgelöst.");
    return h(
      "ul",
      null,
      occurrences.map((o) =>
        h("li", null, h("strong", null, fmt.dayNumeric(parseDay(o.period))), ` · ${o.label}: ${figure(o)}`),
      ),
    );
  }

  async function load(isCurrent) {
    stillMine = isCurrent;
    let alerts;
    let occurrences;
    try {
      [alerts, occurrences] = await Promise.all([api.alerts(partner), api.alertOccurrences(partner)]);
    } catch (error) {
      if (!stillMine()) return;
      list.replaceChildren(notice("error", h("p", null, `Die Benachrichtigungen konnten nicht geladen werden. ${error.message}`)));
      return;
    }
    if (!stillMine()) return;
    list.replaceChildren(alertList(alerts));
    raised.replaceChildren(h("h3", null, "Ausgelöste Benachrichtigungen"), raisedList(occurrences));
  }

  return { element, load };
}
