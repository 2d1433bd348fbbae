// Back-office overview: links to the lists, with counts where they are cheap to get.
import * as api from "../api.js";
import { requireStaff, staffBar } from "../backoffice.js";
import { h, link } from "../dom.js";

export default async function render(ctx) {
  if (!(await requireStaff(ctx))) return;
  const [review, tasks] = await Promise.all([
    api.staffRequests({ status: "in_review" }),
    api.letterTasks(),
  ]);
  if (!ctx.isCurrent()) return;
  const entry = (href, text, description) => h("li", { class: "backoffice-links__item" }, link(href, text), h("p", { class: "hint" }, description));
  ctx.show(
    "Back-Office",
    staffBar(ctx),
    h(
      "ul",
      { class: "backoffice-links" },
      entry("/backoffice/antraege", "Eingegangene Anträge", "Alle Anträge auf eine Geschäftspartner-Nr. mit ihrem Status."),
      entry("/backoffice/pruefung", "Prüfung", `${review.length} ${review.length === 1 ? "Antrag wartet" : "Anträge warten"} auf Freigabe oder Ablehnung.`),
      entry("/backoffice/briefe", "Briefe", "Briefaufträge und ihr Versandstatus."),
      entry("/backoffice/ruecklaeufer", "Rückläufer", `${tasks.length} offene ${tasks.length === 1 ? "Aufgabe" : "Aufgaben"} zu Briefen, die zurückkamen oder nicht versandt wurden.`),
    ),
  );
}
