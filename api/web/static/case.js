// The case page: request an export and follow it until its package is ready; release the legal hold.
// Written for this project (no third-party code); calls the JSON API through evidence.api (app.js).
"use strict";
(function () {
  const POLL_MS = 1000;

  function stateText(panel, state) {
    return panel.dataset["msg" + state.charAt(0).toUpperCase() + state.slice(1)] || state;
  }

  // show export ``e`` (the API's view) in its row; true once it is finished (ready or failed)
  function showExport(panel, row, e) {
    row.dataset.state = e.state;
    row.querySelector(".export-state").textContent = stateText(panel, e.state);
    const progress = row.querySelector("progress");
    const finished = e.state === "done" || e.state === "failed";
    if (progress && finished) {
      progress.max = 1;
      progress.value = 1;
      progress.hidden = true;
    }
    if (e.state === "done" && panel.querySelector("#export-form")) {
      const cell = row.querySelector(".export-link");
      if (!cell.querySelector("a")) {
        const link = document.createElement("a");
        link.href = `/api/v1/cases/${e.case_id}/exports/${e.id}/download`;
        link.setAttribute("download", "");
        link.textContent = panel.dataset.msgDownload;
        cell.appendChild(link);
      }
    }
    if (e.state === "failed" && e.error) {
      const error = document.createElement("span");
      error.className = "error";
      error.textContent = " " + e.error;
      row.querySelector(".export-state").after(error);
    }
    return finished;
  }

  function follow(panel, row) {
    const path = `/api/v1/cases/${panel.dataset.case}/exports/${row.dataset.export}`;
    const status = panel.querySelector("#export-status");
    const tick = async () => {
      try {
        const e = await evidence.api("GET", path);
        if (!showExport(panel, row, e)) { setTimeout(tick, POLL_MS); return; }
        status.textContent = `#${e.id}: ${stateText(panel, e.state)}`;
      } catch (err) {
        // a busy or restarting server is no reason to stop following: say so, and ask again later
        status.textContent = err.message;
        status.className = "error";
        setTimeout(tick, POLL_MS * 4);
      }
    };
    setTimeout(tick, POLL_MS);
  }

  function wireExport(panel) {
    const form = panel.querySelector("#export-form");
    panel.querySelectorAll("tr[data-export]").forEach((row) => {
      if (row.dataset.export && (row.dataset.state === "queued" || row.dataset.state === "running")) {
        follow(panel, row);
      }
    });
    if (!form) return;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button");
      const status = panel.querySelector("#export-status");
      button.disabled = true;
      status.className = "";
      try {
        const e = await evidence.api("POST", `/api/v1/cases/${panel.dataset.case}/exports`, {
          with_proxies: form.querySelector("#with-proxies").checked,
        });
        const row = panel.querySelector("#export-row").content.firstElementChild.cloneNode(true);
        row.dataset.export = e.id;
        row.querySelector(".export-id").textContent = `#${e.id}`;
        row.querySelector(".export-by").textContent = e.requested_by;
        const rows = panel.querySelector("#export-rows");
        rows.closest("table").classList.remove("empty");
        rows.prepend(row);
        showExport(panel, row, e);
        status.textContent = `#${e.id}: ${stateText(panel, e.state)}`;
        follow(panel, row);
      } catch (err) {
        status.textContent = err.message;
        status.className = "error";
      } finally {
        button.disabled = false;
      }
    });
  }

  // releasing a hold: DELETE with the reason in the query (the API's form), then show the page again
  function wireRelease(form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const status = form.querySelector("[role=status]");
      const reason = form.querySelector("[name=reason]").value;
      try {
        await evidence.api("DELETE", `${form.dataset.path}?reason=${encodeURIComponent(reason)}`);
        location.reload();
      } catch (err) {
        status.textContent = err.message;
        status.className = "error";
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const panel = document.getElementById("export-panel");
    if (panel) wireExport(panel);
    const release = document.getElementById("release-form");
    if (release) wireRelease(release);
  });
})();
