// One draft per screen: every change is saved as the reviewer leaves the field; Escape skips.
(function () {
  "use strict";
  const form = document.getElementById("review-form");
  if (!form) return;
  const status = document.getElementById("save-status");
  async function saveField(input) {
    const body = new FormData();
    body.append("csrf_token", form.querySelector('[name="csrf_token"]').value);
    body.append("action", "save");
    body.append(input.name, input.value);
    const response = await fetch(form.dataset.saveUrl, { method: "POST", body: body, headers: { Accept: "application/json" } });
    const result = await response.json().catch(() => ({ saved: false, errors: { form: "Lỗi máy chủ" } }));
    status.textContent = result.saved ? "Đã lưu." : Object.values(result.errors).join(" ");
    status.classList.toggle("error", !result.saved);
  }
  for (const input of form.querySelectorAll("table.fields input:not([readonly])")) {
    input.addEventListener("change", () => saveField(input));
  }
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { const skip = document.getElementById("skip"); if (skip) skip.click(); }
  });
  const reason = document.getElementById("reason");
  if (reason) reason.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); document.getElementById("reject").click(); }
  });
})();
