// Confirmation after the request form.
import { h, link } from "../dom.js";

export default function render(ctx) {
  const message =
    ctx.state?.message ||
    "Vielen Dank. Sie erhalten gleich eine Kopie Ihrer Nachricht per E-Mail. Ihre Geschäftspartner-Nr. Netz schicken wir Ihnen per Post.";
  ctx.show(
    "Vielen Dank – Ihre Anfrage ist da",
    h("div", { class: "notice notice--success" }, h("p", null, message)),
    h("h2", null, "Wie geht es weiter?"),
    h(
      "ol",
      { class: "plain-steps" },
      h("li", null, "Sie bekommen gleich eine E-Mail mit einer Kopie Ihrer Angaben."),
      h("li", null, "Wir prüfen Ihre Angaben und schicken Ihnen Ihre Geschäftspartner-Nr. Netz per Post. Das dauert meist wenige Tage."),
      h("li", null, "Mit dem Brief beantragen Sie Ihren Zugang zum Kundenportal – über den Link oder den QR-Code im Brief."),
    ),
    h("p", null, link("/", "Zur Startseite")),
  );
}
