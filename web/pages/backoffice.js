// Back-office overview: links to the lists, with counts where they are cheap to get.
import * as api from "../api.js";
import { dateTime, requireStaff, staffBar } from "../backoffice.js";
import { h, link } from "../dom.js";

export default async function render(ctx) {
  if (!(await requireStaff(ctx))) return;
  const [review, tasks, alerts] = await Promise.all([
    api.staffRequests({ status: "in_review" }),
    api.letterTasks(),
    api.accessAlerts(),
  ]);
  if (!ctx.isCurrent()) return;
  const entry = (href, text, description) => h("li", { class: "backoffice-links__item" }, link(href, text), h("p", { class: "hint" }, description));
  const active = alerts.filter((alert) => alert.active);
  const alertText = (alert) =>
    alert.scope === "meter"
      ? `Zähler ${alert.meter_number}: seit ${dateTime(alert.raised_at)} mehrere falsche Geschäftspartner-Nummern. ` +
        `Zugangsanträge mit abgetippten Nummern bekommen 24 Stunden lang keine E-Mail (${alert.held_requests} zurückgehalten); ` +
        "der Link aus dem Brief funktioniert weiter. Bei einem Anruf: Identität prüfen, auf den Brief verweisen."
      : `Seit ${dateTime(alert.raised_at)} viele falsche Zählernummer-/Partnernummer-Paare bei verschiedenen Zählern: ` +
        `abgetippte Zugangsanträge bekommen vorerst keine E-Mail (${alert.held_requests} zurückgehalten).`;
  ctx.show(
    "Back-Office",
    staffBar(ctx),
    active.length
      ? h(
          "section",
          { class: "notice notice--warning", role: "alert" },
          h("h2", null, "Auffällige Zugangsanträge"),
          h("ul", null, ...active.map((alert) => h("li", null, alertText(alert)))),
        )
      : null,
    h(
      "ul",
      { class: "backoffice-links" },
      entry("/backoffice/antraege", "Eingegangene Anträge", "Alle Anträge auf eine Geschäftspartner-Nr. mit ihrem Status."),
      entry("/backoffice/pruefung", "Prüfung", `${review.length} ${review.length === 1 ? "Antrag wartet" : "Anträge warten"} auf Freigabe oder Ablehnung.`),
      entry("/backoffice/briefe", "Briefe", "Briefaufträge und ihr Versandstatus."),
      entry("/backoffice/ruecklaeufer", "Rückläufer", `${tasks.length} offene ${tasks.length === 1 ? "Aufgabe" : "Aufgaben"} zu Briefen, die zurückkamen oder nicht versandt wurden.`),
      entry("/backoffice/marktkommunikation", "Marktkommunikation", "Empfangene Messwert-Dateien (MSCONS) der Marktpartner, die Antworten (CONTRL, APERAK) und die erneute Verarbeitung abgelehnter Nachrichten."),
      entry("/backoffice/stoerungen", "Störungen", "Nachrichten, die ein Dienst nicht verarbeiten konnte, und ihre erneute Verarbeitung (Administration)."),
    ),
  );
}
