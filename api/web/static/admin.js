// The admin page: add users (their one-time password shown once), new one-time passwords, disabling,
// assigning recorders; each through the JSON API (window.evidence.api, app.js).
"use strict";
(function () {
  function say(el, text, bad) {
    if (!el) return;
    el.textContent = text;
    el.className = (el.className.replace(/\b(error|ok)\b/g, "").trim() + (bad ? " error" : " ok")).trim();
  }

  function showSecret(user, password) {
    const box = document.getElementById("one-time");
    box.querySelector("[data-slot=user]").textContent = user;
    box.querySelector("[data-slot=password]").textContent = password;
    box.hidden = false;
    box.scrollIntoView({ block: "center" });
  }

  function fields(form) {
    const out = {};
    for (const el of form.elements) {
      if (!el.name || el.type === "checkbox" || el.value.trim() === "") continue;
      out[el.name] = el.value.trim();
    }
    return out;
  }

  async function addUser(form) {
    const body = fields(form);
    body.roles = Array.from(form.querySelectorAll("input[name=roles]:checked")).map((el) => el.value);
    const status = form.querySelector("[role=status]");
    if (!body.roles.length) { say(status, form.dataset.needRole || "?", true); return; }
    try {
      const result = await window.evidence.api("POST", "/api/v1/users", body);
      form.reset();
      say(status, "", false);
      showSecret(result.user.username, result.one_time_password);
    } catch (err) { say(status, err.message, true); }
  }

  async function assign(form) {
    const body = fields(form);
    const serial = body.serial;
    delete body.serial;
    try {
      await window.evidence.api("POST", "/api/v1/devices/" + encodeURIComponent(serial) + "/assignments", body);
      location.reload();
    } catch (err) { say(form.querySelector("[role=status]"), err.message, true); }
  }

  async function rowAction(button) {
    const user = button.dataset.user;
    const status = document.getElementById("users-status");
    const path = "/api/v1/users/" + encodeURIComponent(user);
    try {
      if (button.dataset.admin === "reset") {
        const result = await window.evidence.api("POST", path + "/password");
        showSecret(user, result.one_time_password);
      } else if (button.dataset.admin === "disable") {
        if (!window.confirm(button.dataset.confirm)) return;
        await window.evidence.api("POST", path + "/disable");
        location.reload();
      }
    } catch (err) { say(status, err.message, true); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("form[data-admin]").forEach((form) => {
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        if (form.dataset.admin === "add-user") addUser(form);
        else if (form.dataset.admin === "assign") assign(form);
      });
    });
    document.querySelectorAll("button[data-admin]").forEach((button) => {
      button.addEventListener("click", () => rowAction(button));
    });
  });
})();
