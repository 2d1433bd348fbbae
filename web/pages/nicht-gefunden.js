// Unknown path.
import { h, link } from "../dom.js";

export default function render(ctx) {
  ctx.show(
    "Seite nicht gefunden",
    h("p", null, "Diese Seite gibt es nicht. Vielleicht hat sich ein Tippfehler in die Adresse geschlichen."),
    h("p", null, link("/", "Zur Startseite")),
  );
}
