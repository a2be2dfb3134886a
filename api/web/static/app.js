// The pages' one script, written for this project (no third-party code): calls to the JSON API
// with the session cookie and its CSRF token, and forms that post to the API.
"use strict";
(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  // fetch an API path as the signed-in user; JSON in and out. Throws Error(message) on a refusal.
  async function api(method, path, body, init) {
    const headers = Object.assign({ "X-CSRF-Token": csrf(), Accept: "application/json" }, (init && init.headers) || {});
    let payload = body;
    if (body !== undefined && !(body instanceof FormData) && !(body instanceof Blob)) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const response = await fetch(path, Object.assign({}, init, { method, headers, body: payload, credentials: "same-origin" }));
    if (response.status === 401) { window.location = "/?next=" + encodeURIComponent(location.pathname + location.search); }
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) { throw new Error((data && data.error && data.error.message) || response.statusText); }
    return data;
  }

  // <form data-api="/api/v1/..." data-method="POST" data-then="reload|<url>"> sends its named fields
  // as JSON (number inputs as numbers, empty fields left out) and shows a refusal in its [role=status].
  function wireApiForms(root) {
    root.querySelectorAll("form[data-api]").forEach((form) => {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const status = form.querySelector("[role=status]");
        const body = {};
        for (const el of form.elements) {
          if (!el.name || el.disabled || el.value === "") continue;
          if (el.type === "checkbox") { body[el.name] = el.checked; continue; }
          body[el.name] = el.type === "number" ? Number(el.value) : el.value;
        }
        try {
          const result = await api(form.dataset.method || "POST", form.dataset.api, body);
          const then = form.dataset.then || "reload";
          if (then === "reload") { location.reload(); }
          else { location = then.replace("{id}", result && result.id); }
        } catch (err) {
          if (status) { status.textContent = err.message; status.className = "error"; }
        }
      });
    });
  }

  window.evidence = { api, csrf };
  document.addEventListener("DOMContentLoaded", () => wireApiForms(document));
})();
