// slipway dashboard: a little vanilla JavaScript on server-rendered pages.
// Writes (rebuild, cancel, build ref, run schedule, roll back) go to the JSON
// API. Logged in, the session authorizes them: the page carries the session's
// CSRF token (<meta name="csrf-token">), sent as X-CSRF-Token with the
// cookie. Without a session (dashboard_auth: public) the user types an API
// token once per tab; it is kept in sessionStorage, never in a cookie.
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

  // sessionCSRF is the login session's CSRF token; "" without a session.
  function sessionCSRF() {
    const m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }

  // post sends a write to the API with the session's CSRF token or the API
  // token; it returns the decoded answer or throws an Error carrying the
  // API's error text.
  async function post(url, body, token, csrf) {
    const headers = { "Content-Type": "application/json", "Accept": "application/json" };
    if (csrf) { headers["X-CSRF-Token"] = csrf; }
    else if (token) { headers["Authorization"] = "Bearer " + token; }
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

  // write runs one API write: with the login session when there is one,
  // else with the tab's token, asked for when none is stored yet.
  async function write(button, url, body, describe) {
    const csrf = sessionCSRF();
    let token = "";
    if (!csrf) {
      token = storedToken();
      if (!token) {
        token = await askToken();
        if (token === null) { return; }
        storeToken(token);
      }
    }
    button.disabled = true;
    try {
      const data = await post(url, body, token, csrf);
      const msg = describe(data);
      flash(msg.text, "ok", msg.link);
    } catch (err) {
      if (csrf && err.status === 401) {
        const back = window.location.pathname + window.location.search;
        flash("Your login has ended.", "error", { href: "/login?next=" + encodeURIComponent(back), text: "Log in again" });
        return;
      }
      if (!csrf && (err.status === 401 || err.status === 403)) { storeToken(""); }
      flash(err.message, "error");
    } finally {
      button.disabled = false;
    }
  }

  // queuedMessage confirms a queued build with a link to it.
  function queuedMessage(what) {
    return function (build) {
      return { text: "Build #" + build.id + " of " + what + " is " + build.status + ".",
               link: { href: "/builds/" + build.id, text: "Open build #" + build.id } };
    };
  }

  // onBuildRef queues the ref (and commit) typed into a "Build ref…" form.
  function onBuildRef(ev) {
    const form = ev.target.closest("form.build-ref-form");
    if (!form) { return; }
    ev.preventDefault();
    const project = form.dataset.project;
    const ref = form.elements.ref.value.trim();
    const commit = form.elements.commit.value.trim();
    const body = { ref: ref };
    if (commit) { body.commit = commit; }
    write(form.querySelector("button[type=submit]"), "/api/v1/projects/" + encodeURIComponent(project) + "/builds", body,
      queuedMessage(project + " " + ref + (commit ? " at " + commit.slice(0, 7) : "")));
  }

  // Buttons are found by delegation: the live build page replaces them.
  function onClick(ev) {
    const b = ev.target.closest("button.rebuild, button.cancel, button.rollback, button.run-schedule");
    if (!b) { return; }
    if (b.classList.contains("run-schedule")) {
      const project = b.dataset.project, schedule = b.dataset.schedule;
      write(b, "/api/v1/projects/" + encodeURIComponent(project) + "/schedules/" + encodeURIComponent(schedule) + "/run", {},
        queuedMessage(project + " schedule " + schedule));
      return;
    }
    if (b.classList.contains("rollback")) {
      const target = b.dataset.target, service = b.dataset.service, build = Number(b.dataset.build);
      flash("Rolling " + service + " back to build #" + build + "…", "ok");
      write(b, "/api/v1/deployments/" + encodeURIComponent(target) + "/" + encodeURIComponent(service) + "/rollback", { build: build }, function (res) {
        return { text: service + " " + res.deployment.status + " on build #" + build + ".", link: { href: "/deployments", text: "Reload" } };
      });
      return;
    }
    if (b.classList.contains("rebuild")) {
      // On a build page Rebuild builds that build's commit again; on the
      // projects page, the ref's head.
      const project = b.dataset.project, ref = b.dataset.ref, commit = b.dataset.commit;
      const body = { ref: ref };
      if (commit) { body.commit = commit; }
      write(b, "/api/v1/projects/" + encodeURIComponent(project) + "/builds", body,
        queuedMessage(project + " " + ref + (commit ? " at " + commit.slice(0, 7) : "")));
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

  // formatDuration mirrors the server's: "850ms", "1.2s", "42s", "3m 05s",
  // "2h 07m".
  function formatDuration(ms) {
    if (!(ms > 0)) { ms = 0; }
    const pad = function (n) { return (n < 10 ? "0" : "") + n; };
    if (ms < 1000) { return Math.floor(ms) + "ms"; }
    if (ms < 10000) { return (Math.floor(ms / 100) / 10).toFixed(1) + "s"; }
    if (ms < 60000) { return Math.floor(ms / 1000) + "s"; }
    if (ms < 3600000) { return Math.floor(ms / 60000) + "m " + pad(Math.floor(ms % 60000 / 1000)) + "s"; }
    return Math.floor(ms / 3600000) + "h " + pad(Math.floor(ms % 3600000 / 60000)) + "m";
  }

  // clockSkew is the server's clock minus this browser's, from the page's
  // data-now, so that timers count from the server's start times.
  let clockSkew = 0;

  // tickElapsed updates every running timer (the running stage, the build's
  // duration) from its start time.
  function tickElapsed() {
    const now = Date.now() + clockSkew;
    document.querySelectorAll(".elapsed[data-since]").forEach(function (el) {
      const since = Date.parse(el.dataset.since);
      if (!isNaN(since)) { el.textContent = formatDuration(now - since); }
    });
  }

  // LogView shows a build log grouped by stage: each "==> stage" line of
  // the log opens a collapsible section (<details>) whose summary shows the
  // stage's status, start time and duration from the page's stage table;
  // its "<== stage status in duration" line ends it. Text outside the
  // stages stays where it came, between them. Text is appended as it arrives, never
  // parsed as HTML.
  function LogView(root) {
    this.root = root;
    this.pending = "";    // the start of a line that may be a marker
    this.midLine = false; // a line was started on screen without its end
    this.sections = [];
    this.current = null;
    this.loose = null;
  }

  // lines is where the next line goes: the open section, else a plain
  // block after the last section (or before the first).
  LogView.prototype.lines = function () {
    if (this.current) { return this.current.pre; }
    if (!this.loose) {
      this.loose = document.createElement("pre");
      this.loose.className = "log-lines log-loose";
      this.root.append(this.loose);
    }
    return this.loose;
  };

  LogView.prototype.add = function (text) {
    let i = 0;
    while (i < text.length) {
      if (this.midLine) {
        const nl = text.indexOf("\n", i);
        const end = nl < 0 ? text.length : nl + 1;
        this.lines().append(text.slice(i, end));
        this.midLine = nl < 0;
        i = end;
        continue;
      }
      const nl = text.indexOf("\n", i);
      if (nl < 0) {
        this.pending += text.slice(i);
        i = text.length;
        // Only what could still become a marker waits for its line end.
        if (!isMarkerStart(this.pending)) {
          this.lines().append(this.pending);
          this.pending = "";
          this.midLine = true;
        }
        break;
      }
      this.line(this.pending + text.slice(i, nl + 1));
      this.pending = "";
      i = nl + 1;
    }
  };

  // end shows what is left of a log that ended without a newline.
  LogView.prototype.end = function () {
    if (this.pending) { this.lines().append(this.pending); this.pending = ""; }
  };

  function isMarkerStart(s) {
    return "==> ".startsWith(s.slice(0, 4)) || "<== ".startsWith(s.slice(0, 4));
  }

  LogView.prototype.line = function (l) {
    const open = /^==> (\S+)\s*$/.exec(l);
    if (open) { this.open(open[1]); return; }
    const close = /^<== (\S+) (\S+) in (.*?)\s*$/.exec(l);
    if (close && this.current && this.current.name === close[1]) {
      this.current.ended = { status: close[2], took: close[3] };
      this.current = null;
      this.sync();
      return;
    }
    this.lines().append(l);
  };

  LogView.prototype.open = function (name) {
    const n = this.sections.filter(function (s) { return s.name === name; }).length;
    const details = document.createElement("details");
    details.className = "log-section";
    details.dataset.stage = name;
    details.open = true;
    const summary = document.createElement("summary");
    const pre = document.createElement("pre");
    pre.className = "log-lines";
    details.append(summary, pre);
    this.root.append(details);
    const sec = { name: name, nth: n, details: details, summary: summary, pre: pre, ended: null };
    this.sections.push(sec);
    this.current = sec;
    this.loose = null;
    this.sync();
  };

  // sync redraws the sections' summaries from the stage table (status,
  // start time, duration), which the live page refreshes.
  LogView.prototype.sync = function () {
    const rows = document.querySelectorAll("tr.stage-row");
    this.sections.forEach(function (sec) {
      let row = null, seen = 0;
      rows.forEach(function (r) {
        if (r.dataset.stage === sec.name) {
          if (seen === sec.nth) { row = r; }
          seen++;
        }
      });
      let status = row ? row.dataset.status : (sec.ended ? sec.ended.status : "running");
      if (sec.ended && status === "running") { status = sec.ended.status; }
      const summary = sec.summary;
      summary.replaceChildren();
      const badge = document.createElement("span");
      badge.className = "status st-" + (/^[a-z_]+$/.test(status) ? status : "unknown");
      badge.textContent = status;
      const name = document.createElement("span");
      name.className = "log-stage";
      name.textContent = sec.name;
      summary.append(name, " ", badge);
      if (row && row.dataset.started) {
        const t = document.createElement("time");
        t.dateTime = row.dataset.started;
        t.title = row.dataset.started;
        t.textContent = new Date(Date.parse(row.dataset.started)).toISOString().slice(11, 19) + " UTC";
        summary.append(" ", t);
        const took = document.createElement("span");
        took.className = "log-took";
        if (status === "running") {
          took.classList.add("elapsed");
          took.dataset.since = row.dataset.started;
        }
        took.textContent = row.dataset.duration || "";
        summary.append(" ", took);
      } else if (sec.ended) {
        const took = document.createElement("span");
        took.className = "log-took";
        took.textContent = sec.ended.took;
        summary.append(" ", took);
      }
    });
  };

  // collapseSucceeded folds the sections of stages that succeeded, once
  // the page shows a finished build: what failed stays open.
  LogView.prototype.collapseSucceeded = function () {
    if (this.sections.length < 2) { return; }
    this.sections.forEach(function (sec) {
      const badge = sec.summary.querySelector(".status");
      if (badge && badge.textContent === "succeeded") { sec.details.open = false; }
    });
  };

  // streamLog shows the build log as it arrives, grouped by stage. While
  // the build runs, the rest of the page is refreshed every few seconds,
  // and once more when the log ends.
  async function streamLog() {
    const root = document.getElementById("log");
    if (!root || !root.dataset.src) { return; }
    const live = root.dataset.live === "true";
    const view = new LogView(root);
    let timer = null;
    if (live) {
      timer = setInterval(async function () {
        const going = await refreshParts();
        view.sync();
        if (!going && timer) { clearInterval(timer); timer = null; }
      }, 3000);
    }
    let res;
    try {
      res = await fetch(root.dataset.src, { headers: { "Accept": "text/plain" } });
    } catch (e) {
      view.lines().append("\n[could not load the log: " + e.message + "]\n");
      return;
    }
    if (!res.ok || !res.body) {
      view.lines().append("[could not load the log: HTTP " + res.status + "]\n");
      return;
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (e) {
        view.end();
        view.lines().append("\n[log stream interrupted: " + e.message + "; reload the page to resume]\n");
        return;
      }
      const atBottom = root.scrollHeight - root.scrollTop - root.clientHeight < 40;
      const text = chunk.done ? decoder.decode() : decoder.decode(chunk.value, { stream: true });
      if (text) {
        view.add(text);
        if (atBottom) { root.scrollTop = root.scrollHeight; }
      }
      if (chunk.done) { break; }
    }
    view.end();
    if (live) {
      if (timer) { clearInterval(timer); timer = null; }
      const badge = document.getElementById("log-live");
      if (badge) { badge.textContent = "ended"; }
      await refreshParts();
      view.sync();
    } else {
      view.sync();
      view.collapseSucceeded();
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
    document.addEventListener("submit", onBuildRef);
    const log = document.getElementById("log");
    if (log && log.dataset.now) {
      const serverNow = Date.parse(log.dataset.now);
      if (!isNaN(serverNow)) { clockSkew = serverNow - Date.now(); }
    }
    setInterval(tickElapsed, 1000);
    streamLog();
    setInterval(refreshTimes, 30000);
    document.querySelectorAll(".filters select").forEach(function (s) {
      s.addEventListener("change", function () { s.form.submit(); });
    });
  });
})();
