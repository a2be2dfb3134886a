// A recording's page: the clip in/out points read from the player, and the acts whose API path or
// body a plain data-api form cannot express (case chosen in a list, a hold released with a reason).
"use strict";
(function () {
  function say(form, message, ok) {
    const status = form.querySelector("[role=status]");
    if (status) { status.textContent = message; status.className = ok ? "ok" : "error"; }
  }

  function wireClip(form) {
    const video = document.getElementById("player");
    const start = form.querySelector("#clip-in");
    const end = form.querySelector("#clip-out");
    const at = () => (video ? Math.round(video.currentTime * 1000) / 1000 : 0);
    form.querySelector("#set-in").addEventListener("click", () => { start.value = at(); });
    form.querySelector("#set-out").addEventListener("click", () => { end.value = at(); });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await window.evidence.api("POST", "/api/v1/items/" + form.dataset.itemId + "/clips", {
          start_s: Number(start.value),
          end_s: Number(end.value),
          case_id: Number(form.querySelector("#clip-case").value),
        });
        location.reload();
      } catch (err) { say(form, err.message, false); }
    });
  }

  function wireLink(form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const caseId = form.querySelector("#link-case").value;
      try {
        await window.evidence.api("POST", "/api/v1/cases/" + encodeURIComponent(caseId) + "/items", {
          item_id: Number(form.dataset.itemId),
          reason: form.querySelector("#link-reason").value,
        });
        location.reload();
      } catch (err) { say(form, err.message, false); }
    });
  }

  function wireRelease(form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const reason = encodeURIComponent(form.querySelector("#release-reason").value);
      try {
        await window.evidence.api("DELETE", "/api/v1/items/" + form.dataset.itemId + "/hold?reason=" + reason);
        location.reload();
      } catch (err) { say(form, err.message, false); }
    });
  }

  // keyboard use of the player, as in review tools: the keys act while the player has the focus
  // (Space is the browser's own: it plays and pauses a focused player)
  function wireKeys(video) {
    const frame = 1 / 25;
    const seek = (by) => {
      const end = Number.isFinite(video.duration) ? video.duration : Infinity;
      video.currentTime = Math.min(end, Math.max(0, video.currentTime + by));
    };
    const press = (id) => { const b = document.getElementById(id); if (b) b.click(); };
    video.addEventListener("keydown", (event) => {
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      const act = {
        k: () => (video.paused ? video.play() : video.pause()),
        j: () => seek(-5),
        l: () => seek(5),
        ",": () => { video.pause(); seek(-frame); },
        ".": () => { video.pause(); seek(frame); },
        i: () => press("set-in"),
        o: () => press("set-out"),
      }[event.key.toLowerCase()];
      if (act) { event.preventDefault(); act(); }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const video = document.getElementById("player");
    if (video) wireKeys(video);
    const clip = document.getElementById("clip-form");
    if (clip) wireClip(clip);
    const link = document.getElementById("link-form");
    if (link) wireLink(link);
    const release = document.getElementById("release-form");
    if (release) wireRelease(release);
  });
})();
