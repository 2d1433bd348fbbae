// "Zugang beantragen": meter number + partner number (from the letter) + e-mail → POST /api/identity/access-requests.
// The letter's link/QR code carries #zaehler=…&partner=…&code=… in the fragment; we prefill and then clear it.
import * as api from "../api.js";
import { h, link } from "../dom.js";
import { field, form, onSubmit, submitButton } from "../forms.js";

function fromFragment() {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  // code: the letter's one-time registration code (admits the request even while guesses hold the meter).
  const prefill = { meter: fragment.get("zaehler") || "", partner: fragment.get("partner") || "", code: fragment.get("code") || "" };
  if (location.hash) history.replaceState(history.state, "", location.pathname + location.search);
  return prefill;
}

export default function render(ctx) {
  const prefill = fromFragment();
  const element = form(
    null,
    field({
      name: "meter_number",
      label: "Zählernummer",
      hint: "Steht im Brief und auf dem Zähler, z. B. 1EMH 0005 9390 68.",
      value: prefill.meter,
      autocomplete: "off",
      spellcheck: "false",
      width: "medium",
    }),
    field({
      name: "partner_number",
      label: "Geschäftspartner-Nr.",
      hint: "Die Geschäftspartner-Nr. Netz aus unserem Brief (nur Ziffern).",
      value: prefill.partner,
      inputmode: "numeric",
      autocomplete: "off",
      width: "medium",
    }),
    field({ name: "email", label: "E-Mail", type: "email", autocomplete: "email", hint: "Dorthin schicken wir den Link, mit dem Sie Ihr Passwort vergeben.", spellcheck: "false" }),
    h("div", { class: "form__actions" }, submitButton("Zugang beantragen")),
  );

  onSubmit(element, async (data) => {
    const answer = await api.requestAccess({
      meter_number: data.meter_number,
      partner_number: data.partner_number,
      email: data.email,
      // Only while the numbers are the letter's: a code belongs to its meter and partner number.
      ...(prefill.code && data.meter_number === prefill.meter && data.partner_number === prefill.partner
        ? { registration_code: prefill.code }
        : {}),
    });
    ctx.show(
      "Bitte prüfen Sie Ihr Postfach",
      h("div", { class: "notice notice--success" }, h("p", null, answer?.message || "Vielen Dank. Sie erhalten in wenigen Minuten eine E-Mail mit den nächsten Schritten.")),
      h("p", null, "Der Link in der E-Mail gilt 24 Stunden und nur einmal."),
      h("h2", null, "Keine E-Mail bekommen?"),
      h(
        "ul",
        null,
        h("li", null, "Schauen Sie bitte auch im Spam-Ordner nach."),
        h("li", null, "Prüfen Sie, ob Zählernummer und Geschäftspartner-Nr. genau wie im Brief eingegeben sind."),
        h("li", null, link("/zugang", "Zugang noch einmal beantragen"), " – der neue Link ersetzt den alten."),
      ),
    );
  });

  ctx.show(
    "Zugang beantragen",
    h("p", { class: "lead" }, "Sie haben unseren Brief mit Ihrer Geschäftspartner-Nr. Netz bekommen? Dann richten Sie hier Ihren Zugang ein."),
    prefill.meter || prefill.partner
      ? h("p", { class: "notice notice--info" }, "Zählernummer und Geschäftspartner-Nr. haben wir aus dem Link im Brief übernommen. Bitte ergänzen Sie Ihre E-Mail-Adresse.")
      : null,
    element,
    h("p", null, "Noch keinen Brief? ", link("/antrag", "Geschäftspartner-Nr. anfordern")),
    h("p", null, "Schon einen Zugang und eine weitere Geschäftspartner-Nr. bekommen? Beantragen Sie sie hier mit derselben E-Mail-Adresse – Sie bestätigen dann mit Ihrem Passwort."),
  );
}
