// Back-office: incoming requests with a status filter.
import * as api from "../api.js";
import { customerName, dateTime, placeOf, requireStaff, staffBar, statusFilter, table } from "../backoffice.js";
import { h, notice } from "../dom.js";
import { REQUEST_STATUS, label } from "../labels.js";

export default async function render(ctx) {
  if (!(await requireStaff(ctx))) return;
  const wanted = ctx.params.get("status") || "";
  const status = Object.hasOwn(REQUEST_STATUS, wanted) ? wanted : "";
  const requests = await api.staffRequests({ status });
  if (!ctx.isCurrent()) return;
  const rows = requests.map((r) => [
    dateTime(r.created_at),
    customerName(r.customer),
    placeOf(r.customer?.postal_address),
    r.meter_number,
    label(REQUEST_STATUS, r.status),
    r.note || "",
  ]);
  const count = h("p", { role: "status" }, `${requests.length} ${requests.length === 1 ? "Antrag" : "Anträge"}${status ? ` mit Status „${label(REQUEST_STATUS, status)}“` : ""}.`);
  ctx.show(
    "Eingegangene Anträge",
    staffBar(ctx),
    statusFilter(ctx, "/backoffice/antraege", REQUEST_STATUS, status),
    count,
    requests.length
      ? table("Eingegangene Anträge", ["Eingegangen", "Name", "PLZ und Ort", "Zählernummer", "Status", "Hinweis"], rows)
      : notice("info", h("p", null, "Keine Anträge gefunden.")),
  );
}
