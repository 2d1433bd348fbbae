// Back-office: letter jobs and their dispatch status.
import * as api from "../api.js";
import { dateTime, requireStaff, staffBar, statusFilter, table } from "../backoffice.js";
import { h, notice } from "../dom.js";
import { LETTER_STATUS, label } from "../labels.js";

export default async function render(ctx) {
  if (!(await requireStaff(ctx))) return;
  const wanted = ctx.params.get("status") || "";
  const status = Object.hasOwn(LETTER_STATUS, wanted) ? wanted : "";
  const letters = await api.letterJobs({ status });
  if (!ctx.isCurrent()) return;
  const rows = letters.map((l) => [
    l.reference,
    l.recipient ? l.recipient.name : "–",
    l.recipient ? `${l.recipient.postcode} ${l.recipient.city}` : "–",
    label(LETTER_STATUS, l.status),
    l.status_reason || "",
    dateTime(l.created_at),
    dateTime(l.updated_at),
  ]);
  ctx.show(
    "Briefe",
    staffBar(ctx),
    statusFilter(ctx, "/backoffice/briefe", LETTER_STATUS, status),
    h("p", { role: "status" }, `${letters.length} ${letters.length === 1 ? "Briefauftrag" : "Briefaufträge"}.`),
    letters.length
      ? table("Briefaufträge", ["Referenz", "Empfänger", "PLZ und Ort", "Versandstatus", "Grund", "Erstellt", "Zuletzt geändert"], rows)
      : notice("info", h("p", null, "Keine Briefaufträge gefunden.")),
  );
}
