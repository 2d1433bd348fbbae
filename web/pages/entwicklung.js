// Development only (*.localhost): where the e-mails and printed letters of the local system are.
import { h, link } from "../dom.js";

export default function render(ctx) {
  ctx.show(
    "Entwicklung",
    h("p", null, "Diese Seite gibt es nur in der Entwicklungsumgebung. Hier finden Sie, was das System sonst per E-Mail oder Post verschickt."),
    h(
      "ul",
      { class: "link-list" },
      h("li", null, link("/dev/mail/", "Postfach (E-Mails mit Bestätigungs- und Passwort-Links)")),
      h("li", null, link("/dev/letters/", "Gedruckte Briefe (PDF mit Geschäftspartner-Nr.)")),
    ),
    h("p", null, ctx.tenant ? `Portal: ${ctx.tenant.portal_number} · ${ctx.tenant.name}` : "Kein Netzbetreiber zu dieser Adresse."),
  );
}
