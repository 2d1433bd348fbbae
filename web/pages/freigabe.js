// A third party asks for the customer's data (OAuth 2.0 authorisation endpoint, [11 of 11] §2): who asks, for which
// partner number, which data (resolution, from which day), for how long. The customer approves — as asked or less:
// a coarser resolution, a later first day, fewer days — or refuses; either way the browser goes back to the third
// party (identity checks the request and makes the redirect: services/identity/consent_api.py).
import * as api from "../api.js";
import { addDays, fmt, parseDay, today } from "../dates.js";
import { h, notice } from "../dom.js";
import { field, form, onSubmit, submitButton } from "../forms.js";
import { roleLabel } from "../labels.js";

function radios(name, legend, items, checked) {
  return h(
    "fieldset",
    { class: "fieldset" },
    h("legend", { class: "fieldset__legend" }, legend),
    ...items.map((item, index) => {
      const id = `${name}-${index}`;
      return h(
        "div",
        { class: "radio" },
        h("input", { type: "radio", id, name, value: item.value, class: "radio__input", checked: item.value === checked }),
        h("label", { for: id, class: "radio__label" }, item.label),
      );
    }),
  );
}

function refusalPage(ctx, error) {
  ctx.show(
    "Datenfreigabe",
    notice("error", h("p", null, error.message), h("p", null, "Es wurde nichts freigegeben. Sie können dieses Fenster schließen.")),
  );
}

export default async function render(ctx) {
  const query = location.search.replace(/^\?/, "");
  let asked;
  try {
    asked = await api.inspectConsent(query);
  } catch (error) {
    if (ctx.isCurrent()) refusalPage(ctx, error);
    return;
  }
  if (!ctx.isCurrent()) return;
  const view = ctx.session();
  const chosenPartner = view.partner_number || asked.partners[0]?.partner_number;
  const firstDay = parseDay(asked.data_from);
  const dataFrom = field({ name: "data_from", label: "Daten ab", type: "date", value: asked.data_from, hint: `Frühestens ab ${fmt.dayNumeric(firstDay)}, wie angefragt. Sie können einen späteren Tag wählen.`, width: "medium" });
  dataFrom.querySelector("input").min = asked.data_from;
  const days = field({ name: "days", label: "Gültig für (Tage)", type: "number", value: String(asked.days), inputmode: "numeric", hint: `Höchstens ${asked.days} Tage, wie angefragt. Sie können die Freigabe jederzeit in Ihrem Konto widerrufen.`, width: "short" });
  Object.assign(days.querySelector("input"), { min: "1", max: String(asked.days) });
  const element = form(
    null,
    radios(
      "partner_number",
      "Für welche Geschäftspartner-Nr.?",
      asked.partners.map((p) => ({ value: p.partner_number, label: `${p.partner_number} – ${roleLabel(p.role)}` })),
      chosenPartner,
    ),
    radios(
      "scope",
      "Welche Werte?",
      asked.scope_choices.map((choice) => ({ value: choice.scope, label: choice.label })),
      asked.scope,
    ),
    dataFrom,
    days,
    h("div", { class: "form__actions" }, submitButton("Freigeben"), " ", h("button", { type: "button", class: "button button--secondary", id: "ablehnen" }, "Ablehnen")),
  );
  const refuse = element.querySelector("#ablehnen");
  refuse.addEventListener("click", async () => {
    refuse.setAttribute("aria-disabled", "true");
    try {
      const answer = await api.decideConsent({ query, approve: false });
      location.assign(answer.redirect_to);
    } catch (error) {
      element.prepend(notice("error", h("p", null, error.message)));
    }
  });
  onSubmit(
    element,
    async (data) => {
      const answer = await api.decideConsent({
        query,
        approve: true,
        partner_number: data.partner_number,
        scope: data.scope,
        data_from: data.data_from,
        days: Number(data.days),
      });
      ctx.announce(`Freigabe für ${asked.client_name} erteilt. Sie werden weitergeleitet.`);
      location.assign(answer.redirect_to);
    },
    { fallbackField: "days" },
  );
  const until = fmt.dayNumeric(addDays(today(), asked.days));
  ctx.show(
    "Datenfreigabe",
    h("p", { class: "lead" }, h("strong", null, asked.client_name), " möchte Ihre Messwerte lesen."),
    h(
      "dl",
      { class: "consent" },
      h("dt", null, "Anbieter"),
      h("dd", null, `${asked.client_name} (Kontakt: ${asked.contact})`),
      h("dt", null, "Angefragt"),
      h("dd", null, `${asked.scope_label}, ab ${fmt.dayNumeric(firstDay)}, für ${asked.days} Tage (bis ${until})`),
      h("dt", null, "Danach zurück zu"),
      h("dd", null, asked.redirect_host),
    ),
    h("p", null, "Der Anbieter kann die Werte nur lesen, nichts ändern. Jeder Zugriff wird protokolliert; Sie sehen ihn in Ihrem Konto unter „Freigaben für Dritte“ und können die Freigabe dort jederzeit widerrufen (§ 49, § 50 Messstellenbetriebsgesetz)."),
    element,
  );
}
