// Several partner numbers under one login: choose one → POST /api/identity/session/partner (X-CSRF-Token).
import * as api from "../api.js";
import { h } from "../dom.js";
import { form, onSubmit, submitButton } from "../forms.js";
import { roleLabel } from "../labels.js";

function nextPath(params) {
  const next = params.get("weiter") || "";
  return /^\/(?!\/)[^\\]*$/.test(next) && !next.startsWith("/partner-waehlen") ? next : "/verbrauch";
}

export default function render(ctx) {
  const view = ctx.session();
  const chosen = view.partner_number || view.partners[0]?.partner_number;
  const options = view.partners.map((partner, index) => {
    const id = `partner-${index}`;
    return h(
      "div",
      { class: "radio" },
      h("input", { type: "radio", id, name: "partner_number", value: partner.partner_number, class: "radio__input", checked: partner.partner_number === chosen }),
      h("label", { for: id, class: "radio__label" }, `${partner.partner_number} – ${roleLabel(partner.role)}`),
    );
  });
  const element = form(
    null,
    h("fieldset", { class: "fieldset" }, h("legend", { class: "fieldset__legend" }, "Welche Geschäftspartner-Nr. möchten Sie ansehen?"), ...options),
    h("div", { class: "form__actions" }, submitButton("Als diese Geschäftspartner-Nr. fortfahren")),
  );
  onSubmit(element, async () => {
    const picked = element.querySelector("input[name=partner_number]:checked");
    await api.choosePartner(picked.value);
    ctx.navigate(nextPath(ctx.params), { replace: true });
  });
  ctx.show(
    "Geschäftspartner-Nr. wählen",
    h("p", { class: "lead" }, "Zu Ihrem Zugang gehören mehrere Geschäftspartner-Nummern – zum Beispiel eine für den Bezug und eine für die Einspeisung Ihrer Solaranlage. Sie können später jederzeit oben wechseln."),
    element,
  );
}
