// Start page: what the portal is and how to get in.
import { h, link } from "../dom.js";

export default function render(ctx) {
  const operator = ctx.tenant ? ctx.tenant.name : "Ihr Netzbetreiber";
  const view = ctx.session();
  const signedIn = view
    ? h(
        "section",
        { class: "panel", "aria-labelledby": "start-angemeldet" },
        h("h2", { id: "start-angemeldet" }, "Sie sind angemeldet"),
        h(
          "ul",
          { class: "link-list" },
          view.partner_number
            ? h("li", null, link("/verbrauch", "Zu Ihren Messwerten"))
            : h("li", null, link("/partner-waehlen", "Geschäftspartner-Nr. wählen")),
          h("li", null, link("/konto", "Zu Ihrem Konto")),
        ),
      )
    : null;

  ctx.show(
    "Willkommen im Kundenportal",
    h(
      "p",
      { class: "lead" },
      `Hier sehen Sie die Messwerte Ihres intelligenten Messsystems (Smart Meter) bei ${operator}: `,
      "Ihren Stromverbrauch oder Ihre Einspeisung in Viertelstunden, Tagen, Monaten und Jahren – und Ihre Zählerstände.",
    ),
    signedIn,
    h("h2", null, "So bekommen Sie Zugang"),
    h(
      "ol",
      { class: "steps" },
      h(
        "li",
        { class: "steps__item" },
        h("h3", { class: "steps__title" }, "Geschäftspartner-Nr. anfordern"),
        h("p", null, "Sie nennen uns Ihren Namen, Ihre Anschrift und Ihre Zählernummer. Ihre Geschäftspartner-Nr. Netz schicken wir Ihnen per Post – so wissen wir, dass die Daten wirklich zu Ihnen gehören."),
        h("p", null, link("/antrag", "Geschäftspartner-Nr. anfordern")),
      ),
      h(
        "li",
        { class: "steps__item" },
        h("h3", { class: "steps__title" }, "Zugang beantragen"),
        h("p", null, "Mit dem Brief geben Sie Zählernummer, Geschäftspartner-Nr. und Ihre E-Mail-Adresse ein. Sie bekommen eine E-Mail mit einem Link und vergeben Ihr Passwort."),
        h("p", null, link("/zugang", "Zugang beantragen")),
      ),
      h(
        "li",
        { class: "steps__item" },
        h("h3", { class: "steps__title" }, "Anmelden"),
        h("p", null, "Mit E-Mail-Adresse und Passwort sehen Sie Ihre Messwerte und können sie herunterladen."),
        h("p", null, link("/anmelden", "Anmelden")),
      ),
    ),
    h("h2", null, "Sie haben schon einen Zugang?"),
    h("p", null, link("/anmelden", "Jetzt anmelden"), " · ", link("/passwort-vergessen", "Passwort vergessen?")),
  );
}
