// The officer's page: upload a file with a progress bar (the streamed upload API: the raw file as
// the body, its name in the query), follow the upload until ingest has preserved it, then show it
// in the list. Written for this project (no third-party code).
"use strict";
(function () {
  const POLL_MS = 1000;

  function say(panel, text, kind) {
    const status = panel.querySelector("#upload-status");
    status.textContent = text;
    status.className = kind || "";
    return status;
  }

  function linkTo(status, itemId) {
    const link = document.createElement("a");
    link.href = `/items/${itemId}`;
    link.textContent = ` #${itemId}`;
    status.appendChild(link);
  }

  // the list as the server shows it now (the new recording in it)
  async function refreshList() {
    const response = await fetch(location.href, { credentials: "same-origin" });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("recordings");
    if (fresh) document.getElementById("recordings").replaceWith(fresh);
  }

  function follow(panel, uploadId) {
    const tick = async () => {
      let u;
      try {
        u = await evidence.api("GET", `/api/v1/uploads/${encodeURIComponent(uploadId)}`);
      } catch (err) {
        // the upload is safe on the server: keep following it through a busy or restarting server
        say(panel, `${panel.dataset.msgFailed} ${err.message}`, "error");
        setTimeout(tick, POLL_MS * 4);
        return;
      }
      if (u.status === "queued") { setTimeout(tick, POLL_MS); return; }
      if (u.status === "rejected") { say(panel, `${panel.dataset.msgRejected} ${u.reason || ""}`, "error"); return; }
      const status = say(panel, u.status === "ingested" ? panel.dataset.msgIngested : panel.dataset.msgDuplicate, "ok");
      if (u.item_id) linkTo(status, u.item_id);
      await refreshList();
    };
    setTimeout(tick, POLL_MS);
  }

  function upload(panel, file, device) {
    const form = panel.querySelector("#upload-form");
    const box = panel.querySelector("#upload-progress-box");
    const bar = panel.querySelector("#upload-progress");
    const params = new URLSearchParams({ filename: file.name });
    if (device) params.set("device", device);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/v1/uploads?${params}`);
    xhr.setRequestHeader("X-CSRF-Token", evidence.csrf());
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) bar.value = Math.round((100 * event.loaded) / event.total);
    };
    xhr.onload = () => {
      form.querySelector("button").disabled = false;
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
      if (xhr.status !== 202 || !data) {
        const why = (data && data.error && data.error.message) || xhr.statusText;
        say(panel, `${panel.dataset.msgFailed} ${why}`, "error");
        return;
      }
      bar.value = 100;
      say(panel, panel.dataset.msgQueued);
      panel.dataset.upload = data.upload_id;
      form.reset();
      follow(panel, data.upload_id);
    };
    xhr.onerror = () => {
      form.querySelector("button").disabled = false;
      say(panel, `${panel.dataset.msgFailed} ${xhr.statusText || "network"}`, "error");
    };
    box.hidden = false;
    bar.value = 0;
    form.querySelector("button").disabled = true;
    say(panel, panel.dataset.msgSending);
    xhr.send(file);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const panel = document.getElementById("upload-panel");
    if (!panel) return;
    panel.querySelector("#upload-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const file = panel.querySelector("#upload-file").files[0];
      if (!file) return;
      if (file.size > Number(panel.dataset.max)) { say(panel, panel.dataset.msgToolarge, "error"); return; }
      upload(panel, file, panel.querySelector("#upload-device").value.trim());
    });
  });
})();
