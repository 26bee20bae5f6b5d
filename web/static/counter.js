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
  // Whether the request holds a card's scans already: the station's next scan is then offered, not taken.
  let hasScans = form.dataset.hasScans === "1";

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

  // Posts scans (or asks for the station's) and prefills from the answer; the answer, or null on a refusal.
  async function send(url, body, waiting) {
    show(waiting || "Đang đọc thẻ…");
    input.value = "";  // cleared at once, so that choosing the same files again after a failure reads them again
    warnings.replaceChildren();
    let response;
    try {
      response = await fetch(url, { method: "POST", body: body, headers: { "X-CSRFToken": token } });
    } catch (error) {
      show("Không kết nối được máy chủ; các bản quét chưa được gửi.", true);
      return null;
    }
    let result = {};
    try { result = await response.json(); } catch (error) { result = { error: "Máy chủ trả lời lỗi " + response.status }; }
    if (!response.ok) {
      show(result.error || "Không đọc được bản quét.", true);
      return null;
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
    hasScans = true;
    show("Đã đọc thẻ (" + result.document_type + "). Kiểm tra các trường đánh dấu “?” với thẻ.");
    return result;
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

  // ------------------------------------------------------------ the station's scans, without a reload
  //
  // `motcua watch` and [Quét] record each scan already read; the page asks every 2 s what is new. A busy officer
  // scans the front, turns the card, scans the back, and looks up at a filled form: so a scan is taken by itself
  // while the request has none yet, and so is the scan that completes the card this page took (its `partner`).
  // Anything else is listed with a button: it may be the next citizen's card, and what the officer has (and may
  // have corrected) is never replaced behind their back.
  const POLL_MS = 2000;
  const SHOWN = 6;
  const SIDES = { front: "mặt trước", back: "mặt sau", unknown: "một mặt" };
  const latestUrl = form.dataset.stationLatestUrl;
  const feed = document.getElementById("station-feed");
  const list = document.getElementById("station-list");
  const taken = new Set((form.dataset.stationTaken || "").split(",").filter(Boolean).map(Number));
  const seen = new Map();
  let scanning = false;  // a [Quét] in flight takes its own scan: the feed only lists it
  let queue = Promise.resolve();  // one take at a time, in arrival order: the front before the back

  function describe(scan) {
    if (scan.status !== "ok") return scan.error || "Lỗi";
    const what = scan.complete ? "đủ hai mặt" : (SIDES[scan.sides[0]] || "một mặt");
    const who = [scan.id_number, scan.full_name].filter(Boolean).join(" · ");
    return what + (who ? " — " + who : "");
  }

  function render(scan) {
    let row = list.querySelector('[data-scan="' + scan.id + '"]');
    if (!row) {
      row = document.createElement("li");
      row.dataset.scan = String(scan.id);
      list.prepend(row);
      while (list.children.length > SHOWN) list.lastElementChild.remove();
    }
    row.replaceChildren(scan.at + " · " + scan.name + " · " + describe(scan) + " ");
    row.classList.toggle("error", scan.status !== "ok");
    if (scan.status === "ok") {
      if (taken.has(scan.id)) {
        const mark = document.createElement("span");
        mark.className = "badge sure";
        mark.textContent = "✓ Đang dùng";
        row.appendChild(mark);
      } else {
        const use = document.createElement("button");
        use.type = "button";
        use.className = "station-take";
        use.textContent = "Dùng bản quét này";
        use.addEventListener("click", () => take(scan));
        row.appendChild(use);
      }
    }
    feed.hidden = false;
  }

  function take(scan) {
    const had = hasScans;
    taken.add(scan.id);
    hasScans = true;  // at once: a scan arriving while this one is fetched must not be taken as well
    render(scan);
    queue = queue.then(async () => {
      const body = new FormData();
      body.append("scan_id", String(scan.id));
      if (await send(form.dataset.stationTakeUrl, body)) {
        if (scan.partner) taken.add(scan.partner);
      } else {
        taken.delete(scan.id);
        hasScans = had;
      }
      render(scan);
    });
  }

  function arrived(scan) {
    seen.set(scan.id, scan);
    render(scan);
    if (scan.status !== "ok") {
      if (!hasScans) show(scan.error, true);  // the officer scans again at once, rather than wait
      return;
    }
    if (taken.has(scan.id) || scanning) return;
    const completes = scan.partner !== null && taken.has(scan.partner);
    if (completes || (!hasScans && scan.taken_by === null)) take(scan);
  }

  async function poll() {
    if (!document.hidden) {
      try {
        const response = await fetch(latestUrl + "?after=" + after, { headers: { Accept: "application/json" } });
        if (response.ok) {
          const body = await response.json();
          for (const scan of body.scans) arrived(scan);
          after = body.last;
        }
      } catch (error) {
        // The server restarting, or the session ended (the login page is not JSON): the next poll tries again.
      }
    }
    setTimeout(poll, POLL_MS);
  }

  let after = Number(form.dataset.stationAfter || 0);
  if (latestUrl && feed) poll();

  // ------------------------------------------------------------ [Quét]
  //
  // The flatbed takes 10 to 40 s: the server scans in the background and answers at once with the scan's id; the
  // page asks every second how it goes, then takes the recorded scan as it takes any station scan. Meanwhile the
  // officer may go on typing, and the station feed only lists that scan (`scanning`).
  const SCAN_POLL_MS = 1000;
  const SCAN_GIVE_UP_MS = 5 * 60 * 1000;  // the scanner's own limit is 2 minutes, the reading seconds
  const scanNow = document.getElementById("scan-now");

  async function askJson(url, options) {
    const response = await fetch(url, options);
    try { return await response.json(); } catch (error) { return { error: "Máy chủ trả lời lỗi " + response.status }; }
  }

  async function scanAndTake() {
    warnings.replaceChildren();
    show("Đang quét… (đặt thẻ trên mặt kính)");
    let state;
    try {
      state = await askJson(form.dataset.scanUrl, { method: "POST", headers: { "X-CSRFToken": token } });
    } catch (error) {
      show("Không kết nối được máy chủ; chưa quét.", true);
      return;
    }
    if (!state.status_url) {  // refused: no scanner, another scan running at this station, the request closed
      show(state.error || "Không quét được.", true);
      return;
    }
    const url = state.status_url;  // (a refusal with one: this request's own scan is running, e.g. after a reload)
    if (!state.status) state = { status: "scanning" };
    const giveUp = Date.now() + SCAN_GIVE_UP_MS;
    while (state.status === "scanning" || state.status === "reading") {
      if (Date.now() > giveUp) {
        show("Chưa nhận được bản quét; nếu máy quét đã quét xong, bản quét sẽ hiện trong danh sách bên dưới.", true);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, SCAN_POLL_MS));
      try {
        state = await askJson(url, { headers: { Accept: "application/json" } });
      } catch (error) {
        continue;  // the server restarting: ask again
      }
      if (state.status === "reading") show("Đang đọc thẻ…");
    }
    if (state.status !== "done") {
      show(state.error || "Không quét được.", true);
      return;
    }
    const body = new FormData();
    body.append("scan_id", String(state.station_scan));
    const result = await send(form.dataset.stationTakeUrl, body);
    if (result) {
      taken.add(result.station_scan);
      if (result.partner) taken.add(result.partner);
      for (const id of [result.station_scan, result.partner]) if (seen.has(id)) render(seen.get(id));
    }
  }

  if (scanNow && form.dataset.scanUrl) {
    scanNow.addEventListener("click", async () => {
      scanNow.disabled = true;  // one scan at a time: the server refuses a second one anyway
      scanning = true;
      try {
        await scanAndTake();
      } finally {
        scanning = false;
        scanNow.disabled = false;
      }
    });
  }

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
