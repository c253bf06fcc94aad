// slipway dashboard: a little vanilla JavaScript on server-rendered pages.
// Writes (rebuild, cancel) go to the JSON API with an API token that the user
// types once per tab; it is kept in sessionStorage, never in a cookie.
"use strict";

(function () {
  const TOKEN_KEY = "slipway.token";

  function storedToken() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  }
  function storeToken(t) {
    try {
      if (t) { sessionStorage.setItem(TOKEN_KEY, t); } else { sessionStorage.removeItem(TOKEN_KEY); }
    } catch (e) { /* storage disabled: ask every time */ }
  }

  // flash shows a message at the top of the page; text only, never HTML.
  function flash(message, kind, link) {
    const box = document.getElementById("flash");
    if (!box) { return; }
    box.replaceChildren();
    box.className = "flash " + (kind || "");
    box.setAttribute("role", kind === "error" ? "alert" : "status");
    box.append(document.createTextNode(message));
    if (link) {
      const a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      box.append(" ", a);
    }
    box.hidden = false;
  }

  // askToken opens the token dialog; it resolves to the text entered ("" is
  // allowed: the API then answers why it refuses) or null when canceled.
  function askToken() {
    const dialog = document.getElementById("token-dialog");
    const form = document.getElementById("token-form");
    const input = document.getElementById("token-input");
    const cancel = document.getElementById("token-cancel");
    return new Promise(function (resolve) {
      let done = false;
      function finish(value) {
        if (done) { return; }
        done = true;
        form.removeEventListener("submit", onSubmit);
        cancel.removeEventListener("click", onCancel);
        dialog.removeEventListener("close", onClose);
        if (dialog.open) { dialog.close(); }
        resolve(value);
      }
      function onSubmit(ev) { ev.preventDefault(); finish(input.value.trim()); }
      function onCancel() { finish(null); }
      function onClose() { finish(null); }
      form.addEventListener("submit", onSubmit);
      cancel.addEventListener("click", onCancel);
      dialog.addEventListener("close", onClose);
      input.value = "";
      dialog.showModal();
      input.focus();
    });
  }

  // post sends a write to the API with the token; it returns the decoded
  // answer or throws an Error carrying the API's error text.
  async function post(url, body, token) {
    const headers = { "Content-Type": "application/json", "Accept": "application/json" };
    if (token) { headers["Authorization"] = "Bearer " + token; }
    const res = await fetch(url, { method: "POST", headers: headers, body: JSON.stringify(body || {}) });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const err = new Error((data && data.error) || ("HTTP " + res.status + " " + res.statusText));
      err.status = res.status;
      throw err;
    }
    return data;
  }

  // write runs one API write, asking for a token when none is stored yet.
  async function write(button, url, body, describe) {
    let token = storedToken();
    if (!token) {
      token = await askToken();
      if (token === null) { return; }
      storeToken(token);
    }
    button.disabled = true;
    try {
      const data = await post(url, body, token);
      const msg = describe(data);
      flash(msg.text, "ok", msg.link);
    } catch (err) {
      if (err.status === 401 || err.status === 403) { storeToken(""); }
      flash(err.message, "error");
    } finally {
      button.disabled = false;
    }
  }

  // Buttons are found by delegation: the live build page replaces them.
  function onClick(ev) {
    const b = ev.target.closest("button.rebuild, button.cancel, button.rollback");
    if (!b) { return; }
    if (b.classList.contains("rollback")) {
      const target = b.dataset.target, service = b.dataset.service, build = Number(b.dataset.build);
      flash("Rolling " + service + " back to build #" + build + "…", "ok");
      write(b, "/api/v1/deployments/" + encodeURIComponent(target) + "/" + encodeURIComponent(service) + "/rollback", { build: build }, function (res) {
        return { text: service + " " + res.deployment.status + " on build #" + build + ".", link: { href: "/deployments", text: "Reload" } };
      });
      return;
    }
    if (b.classList.contains("rebuild")) {
      const project = b.dataset.project;
      const ref = b.dataset.ref;
      write(b, "/api/v1/projects/" + encodeURIComponent(project) + "/builds", { ref: ref }, function (build) {
        return { text: "Build #" + build.id + " of " + project + " " + ref + " is " + build.status + ".",
                 link: { href: "/builds/" + build.id, text: "Open build #" + build.id } };
      });
      return;
    }
    const id = b.dataset.build;
    write(b, "/api/v1/builds/" + encodeURIComponent(id) + "/cancel", {}, function () {
      return { text: "Cancel of build #" + id + " requested." };
    });
  }

  // refreshParts fetches this build page again and swaps in its status,
  // facts, stages and deploys (server-rendered and escaped; DOMParser runs no
  // script). It reports whether the build is still going.
  async function refreshParts() {
    const current = document.getElementById("build-parts");
    if (!current) { return false; }
    let res;
    try {
      res = await fetch(window.location.pathname, { headers: { "Accept": "text/html" } });
    } catch (e) {
      return true; // a network hiccup: try again later
    }
    if (!res.ok) { return false; }
    const doc = new DOMParser().parseFromString(await res.text(), "text/html");
    const fresh = doc.getElementById("build-parts");
    if (!fresh) { return false; } // e.g. the login page after the session ended
    current.replaceWith(document.adoptNode(fresh));
    const st = document.getElementById("build-status");
    const status = st ? st.dataset.status : "";
    return status === "queued" || status === "running";
  }

  // streamLog appends the build log to the <pre> as it arrives. While the
  // build runs, the rest of the page is refreshed every few seconds, and
  // once more when the log ends.
  async function streamLog() {
    const pre = document.getElementById("log");
    if (!pre || !pre.dataset.src) { return; }
    const live = pre.dataset.live === "true";
    let timer = null;
    if (live) {
      timer = setInterval(async function () {
        if (!(await refreshParts()) && timer) { clearInterval(timer); timer = null; }
      }, 3000);
    }
    let res;
    try {
      res = await fetch(pre.dataset.src, { headers: { "Accept": "text/plain" } });
    } catch (e) {
      pre.append("\n[could not load the log: " + e.message + "]\n");
      return;
    }
    if (!res.ok || !res.body) {
      pre.append("[could not load the log: HTTP " + res.status + "]\n");
      return;
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (e) {
        pre.append("\n[log stream interrupted: " + e.message + "; reload the page to resume]\n");
        return;
      }
      const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
      const text = chunk.done ? decoder.decode() : decoder.decode(chunk.value, { stream: true });
      if (text) {
        pre.append(text);
        if (atBottom) { pre.scrollTop = pre.scrollHeight; }
      }
      if (chunk.done) { break; }
    }
    if (live) {
      if (timer) { clearInterval(timer); timer = null; }
      const badge = document.getElementById("log-live");
      if (badge) { badge.textContent = "ended"; }
      await refreshParts();
    }
  }

  function relTime(t, now) {
    let d = (now - t) / 1000;
    const future = d < 0;
    if (future) { d = -d; }
    let s;
    if (d < 5) { return "just now"; }
    if (d < 60) { s = Math.floor(d) + "s"; }
    else if (d < 3600) { s = Math.floor(d / 60) + "m"; }
    else if (d < 48 * 3600) { s = Math.floor(d / 3600) + "h"; }
    else if (d < 30 * 86400) { s = Math.floor(d / 86400) + "d"; }
    else { return new Date(t).toISOString().slice(0, 10); }
    return future ? "in " + s : s + " ago";
  }

  function refreshTimes() {
    const now = Date.now();
    document.querySelectorAll("time[data-rel]").forEach(function (el) {
      const t = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(t)) { el.textContent = relTime(t, now); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.addEventListener("click", onClick);
    streamLog();
    setInterval(refreshTimes, 30000);
    const login = document.getElementById("login-form");
    if (login) {
      login.addEventListener("submit", function () {
        const t = login.querySelector("input[name=token]").value.trim();
        if (t) { storeToken(t); }
      });
    }
    document.querySelectorAll(".filters select").forEach(function (s) {
      s.addEventListener("change", function () { s.form.submit(); });
    });
  });
})();
