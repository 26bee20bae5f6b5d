// The new-account page: scans are read the moment they are chosen or dropped, and the form is prefilled.
(function () {
  "use strict";
  const form = document.getElementById("request-form");
  if (!form) return;
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const input = document.getElementById("scans");
  const zone = document.getElementById("scan-zone");
  const status = document.getElementById("scan-status");
  const warnings = document.getElementById("scan-warnings");

  function show(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  function prefill(fields) {
    for (const [name, proposed] of Object.entries(fields)) {
      const field = document.getElementById(name);
      if (!field) continue;
      // The machine fills only what the officer has not typed (or what the machine itself filled before).
      if (proposed.value && (!field.value || field.dataset.machine === "1")) {
        field.value = proposed.value;
        field.dataset.machine = "1";
      }
      field.classList.toggle("doubtful", Boolean(proposed.value) && !proposed.sure);
      const mark = document.querySelector('[data-machine="' + name + '"]');
      if (!mark) continue;
      mark.replaceChildren();
      if (!proposed.value) continue;
      const badge = document.createElement("span");
      badge.className = "badge " + (proposed.sure ? "sure" : "doubtful");
      badge.textContent = proposed.sure ? "✓ " + proposed.source.toUpperCase() : "? Kiểm tra";
      badge.title = "Độ tin cậy " + proposed.confidence;
      mark.appendChild(badge);
      if (proposed.crop_url) {
        const crop = document.createElement("img");
        crop.className = "crop";
        crop.alt = "Vùng đọc trên thẻ";
        crop.src = proposed.crop_url + "?t=" + Date.now();
        mark.appendChild(crop);
      }
    }
  }

  async function send(url, body) {
    show("Đang đọc thẻ…");
    input.value = "";  // cleared at once, so that choosing the same files again after a failure reads them again
    warnings.replaceChildren();
    let response;
    try {
      response = await fetch(url, { method: "POST", body: body, headers: { "X-CSRFToken": token } });
    } catch (error) {
      show("Không kết nối được máy chủ; các bản quét chưa được gửi.", true);
      return;
    }
    let result = {};
    try { result = await response.json(); } catch (error) { result = { error: "Máy chủ trả lời lỗi " + response.status }; }
    if (!response.ok) {
      show(result.error || "Không đọc được bản quét.", true);
      return;
    }
    prefill(result.fields);
    for (const text of result.warnings) {
      const item = document.createElement("li");
      item.textContent = text;
      warnings.appendChild(item);
    }
    const current = document.getElementById("attachment-current");
    current.replaceChildren("File đính kèm: ");
    const link = document.createElement("a");
    link.href = result.attachment.url;
    link.target = "_blank";
    link.textContent = result.attachment.name;
    current.append(link, " (" + Math.round(result.attachment.size / 1024) + " KB)");
    show("Đã đọc thẻ (" + result.document_type + "). Kiểm tra các trường đánh dấu “?” với thẻ.");
  }

  function upload(files) {
    if (!files.length) return;
    const body = new FormData();
    for (const file of files) body.append("scans", file);
    send(form.dataset.scansUrl, body);
  }

  input.addEventListener("change", () => upload(input.files));
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    upload(event.dataTransfer.files);
  });
  const station = document.getElementById("station");
  if (station) station.addEventListener("click", () => send(form.dataset.stationUrl, new FormData()));

  for (const name of ["id_number", "full_name", "date_of_birth"]) {
    const field = document.getElementById(name);
    field.addEventListener("input", () => { field.dataset.machine = "0"; field.classList.remove("doubtful"); });
  }

  // Keyboard first: Enter in the number looks it up, in the OTP creates the account, elsewhere moves on.
  form.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.target.tagName !== "INPUT" || event.target.type === "file") return;
    const press = { id_number: "lookup", otp: "create" }[event.target.id];
    event.preventDefault();
    if (press) { document.getElementById(press).click(); return; }
    const order = Array.from(form.querySelectorAll("input:not([type=hidden]):not([type=file]), select"));
    const next = order[order.indexOf(event.target) + 1];
    if (next) next.focus();
  });
})();
