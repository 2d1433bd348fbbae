// "Erklärung zur Barrierefreiheit": what the BFSG (§ 14, Anlage 3) asks an online service to publish — how far
// the portal meets EN 301 549 / WCAG 2.1 AA, what is known not to, how it was checked, where to report a barrier
// (the operator's contact) and which authority enforces it. One page for every operator, with its own contact.

import { h, link } from "../dom.js";

const CHECKED = "Dezember 2026";

export default function render(ctx) {
  const operator = ctx.tenant;
  const name = operator ? operator.name : "Ihr Netzbetreiber";
  const contact = operator
    ? h(
        "ul",
        null,
        h("li", null, "E-Mail: ", link(`mailto:${operator.service_email}?subject=${encodeURIComponent("Barriere im Kundenportal")}`, operator.service_email)),
        h("li", null, "Telefon: ", link(`tel:${operator.service_phone.replace(/\s+/g, "")}`, operator.service_phone), ` (${operator.service_hours})`),
      )
    : null;
  ctx.show(
    "Erklärung zur Barrierefreiheit",
    h("p", { class: "lead" }, `${name} möchte, dass alle Kundinnen und Kunden dieses Kundenportal ohne Hürden nutzen können.`),
    h("h2", null, "Wie barrierefrei ist das Kundenportal?"),
    h(
      "p",
      null,
      "Das Kundenportal erfüllt die Anforderungen des Barrierefreiheitsstärkungsgesetzes (BFSG) nach der Norm EN 301 549 " +
        "und den Web Content Accessibility Guidelines (WCAG) 2.1, Stufe AA, weitgehend. Es lässt sich mit der Tastatur " +
        "bedienen, Überschriften, Formularfelder und Tabellen sind für Bildschirmleser beschriftet, und die Seiten " +
        "passen sich an kleine Bildschirme und starke Vergrößerung an. Auch Antrag, Anmeldung und Bestätigung per " +
        "E-Mail-Link sind ohne Maus möglich.",
    ),
    h("h2", null, "Was noch nicht barrierefrei ist"),
    h(
      "ul",
      null,
      h("li", null, "Das Verbrauchsdiagramm ist eine Grafik. Dieselben Werte stehen in der Tabelle unter dem Diagramm."),
      h("li", null, "Die Briefe mit Ihrer Geschäftspartner-Nr. kommen per Post. Auf Wunsch schicken wir Ihnen den Inhalt in einer anderen Form, etwa in großer Schrift."),
    ),
    h("h2", null, "Wie wir das prüfen"),
    h(
      "p",
      null,
      `Jede Seite wird bei jeder Änderung automatisch auf Barrieren geprüft (axe-core, WCAG 2.1 AA), die Abläufe zusätzlich mit der Tastatur. Stand dieser Erklärung: ${CHECKED}.`,
    ),
    h("h2", null, "Barriere melden"),
    h("p", null, "Sie sind auf eine Barriere gestoßen oder brauchen Informationen in einer anderen Form? Schreiben Sie uns oder rufen Sie an – wir antworten Ihnen schnellstmöglich:"),
    contact,
    h("h2", null, "Schlichtung und Durchsetzung"),
    h(
      "p",
      null,
      "Wenn Sie mit unserer Antwort nicht zufrieden sind, können Sie sich an die Marktüberwachungsstelle der Länder für " +
        "die Barrierefreiheit von Produkten und Dienstleistungen (MLBF) wenden. Sie prüft, ob Dienstleistungen die " +
        "Anforderungen des BFSG erfüllen.",
    ),
  );
}
