// The devloop web UI: one event stream (/api/events) brings snapshots and log lines; triggers are POSTs
// carrying the run's token. Plain JavaScript, no framework, no build step.
"use strict";
(() => {
  const boot = JSON.parse(document.getElementById("boot").textContent);
  const $ = (id) => document.getElementById(id);
  const RING = 20000; // lines kept in the page for "all resources"
  const DOM_MAX = 2000; // line elements in the log view at most
  const FRAME_MAX = 300; // lines drawn in one animation frame at most; older ones are counted as skipped
  const FRAME_MS = 50; // lines are drawn 20 times a second at most (a flood costs the page less, no one notices)
  const FAILURE_LINES = 8; // the last lines of the failing step shown under a failed resource
  const BUSY = new Set(["testing", "building", "deploying", "live-updating", "starting"]);

  const logView = $("log-view");
  const rowsEl = $("rows");
  const rows = new Map(); // resource name -> {tr, failure, key}
  const triggered = new Map(); // resource name -> {text, cls, until}

  let snapshot = null;
  let skew = 0; // the server's clock minus ours, in seconds
  let ring = []; // [seq, time, resource, text] of every resource, oldest first
  let lastSeq = 0;
  let only = ""; // the resource whose logs are shown ("" : all)
  let own = []; // that resource's lines (its whole buffer, fetched when chosen)
  let ownDropped = 0;
  let filter = "";
  let nameWidth = 7; // the log view's name column, in characters
  let pending = []; // lines waiting for the next frame
  let scheduled = false;
  let lastFlush = 0;
  let following = true;
  let unseen = 0;
  let older = 0; // lines devloop keeps that the page did not load
  // lines received, drawn, skipped (arrived too fast to draw), lost (the server dropped them for this page,
  // which read too slowly); on window for the tests
  const stats = { received: 0, drawn: 0, skipped: 0, lost: 0, frames: 0, drawMs: 0 };
  window.devloopStats = stats;

  // ------------------------------------------------------------------------------------ formatting

  function duration(s) {
    if (s < 1) return s.toFixed(2) + " s";
    if (s < 10) return s.toFixed(1) + " s";
    if (s < 120) return Math.round(s) + " s";
    return Math.round(s / 60) + " min";
  }

  function ago(t) {
    const s = Math.max(0, Date.now() / 1000 + skew - t);
    if (s < 60) return Math.floor(s) + "s ago";
    if (s < 3600) return Math.floor(s / 60) + "m ago";
    if (s < 86400) return Math.floor(s / 3600) + "h ago";
    return Math.floor(s / 86400) + "d ago";
  }

  function colour(name) {
    if (!name) return "cd";
    let h = 0;
    for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
    return "c" + (h % 10);
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function plural(n, word) {
    return n.toLocaleString() + " " + word + (n === 1 ? "" : "s");
  }

  // ------------------------------------------------------------------------------------ resources

  function statusEl(view) {
    const span = el("span", "status st-" + view.status + (BUSY.has(view.status) ? " busy" : ""));
    span.append(el("span", "icon", boot.icons[view.status] || "?"), view.status);
    return span;
  }

  function triggerButton(view) {
    const button = el("button", "trigger", "Update");
    button.title = "Update " + view.name + " now: a live update when possible, else a build (like t in the dashboard)";
    button.dataset.resource = view.name;
    const note = triggered.get(view.name);
    if (note && note.until > Date.now()) {
      button.textContent = note.text;
      button.classList.add(note.cls);
      if (note.cls === "pending") button.disabled = true;
      if (note.title) button.title = note.title;
    }
    button.addEventListener("click", () => trigger(view.name));
    return button;
  }

  function buildRow(view, tr) {
    tr.textContent = "";
    tr.className = "res" + (view.status === "failed" ? " failed" : "") + (view.name === only ? " selected" : "");
    tr.dataset.resource = view.name;
    tr.dataset.status = view.status;

    const name = el("td", "c-name", view.name);
    name.title = "show only " + view.name + "'s logs";
    for (const label of view.labels.slice(1)) name.append(el("span", "group", label)); // the first heads its group
    name.addEventListener("click", () => choose(only === view.name ? "" : view.name));

    const status = el("td", "c-status");
    status.append(statusEl(view));
    if (view.status !== "failed" && view.reason) status.append(el("span", "sub", view.reason));
    else if (view.manual && view.pending_changes)
      status.append(el("span", "sub", plural(view.pending_changes, "change") + " pending"));

    const update = el("td", "c-update");
    const last = view.last_update;
    if (last) {
      update.append(last.kind + " " + duration(last.seconds) + " · ");
      const when = el("span", "ago", ago(last.finished_at));
      when.dataset.t = last.finished_at;
      update.append(when);
      if (last.detail) update.append(el("span", "ago", " · " + last.detail));
    } else {
      update.append(el("span", "ago", "—"));
    }

    const runtime = el("td", "c-runtime", view.runtime || "—");
    if (view.restarts) runtime.append(el("span", "restarts", "↻" + view.restarts));

    const links = el("td", "c-links");
    for (const url of view.port_forwards) {
      const a = el("a", "", url.replace(/^https?:\/\//, ""));
      a.href = url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      links.append(a);
    }

    const action = el("td", "c-action");
    action.append(triggerButton(view));
    tr.append(name, el("td", "c-kind", view.kind), status, update, runtime, links, action);
  }

  function failureRow(view) {
    const tr = el("tr", "failure");
    tr.dataset.resource = view.name;
    const td = el("td");
    td.colSpan = 7;
    td.append(el("div", "reason", (boot.icons.failed || "✗") + " " + (view.reason || "failed")));
    if (view.last_lines.length) td.append(el("pre", "", view.last_lines.slice(-FAILURE_LINES).join("\n")));
    tr.append(td);
    return tr;
  }

  function renderSnapshot(data) {
    snapshot = data;
    skew = data.now - Date.now() / 1000;
    $("project").textContent = data.project;
    const where = data.where;
    $("where").textContent = !where || where.includes(data.target) ? where || data.target : data.target + ": " + where;
    document.title = (data.counts.failed ? "✗ " : "") + data.project + " · devloop";
    renderCounts(data.counts);

    const seen = new Set();
    let at = 0; // where the next row must be
    const place = (tr) => {
      if (rowsEl.children[at] !== tr) rowsEl.insertBefore(tr, rowsEl.children[at] || null);
      at++;
    };
    for (const item of grouped(data.resources)) {
      if (typeof item === "string") {
        seen.add("\u0000" + item);
        let heading = rows.get("\u0000" + item);
        if (!heading) {
          const tr = el("tr", "heading");
          const td = el("td", "", "▾ " + item);
          td.colSpan = 7;
          tr.append(td);
          heading = { tr, failure: null, key: "" };
          rows.set("\u0000" + item, heading);
        }
        place(heading.tr);
        continue;
      }
      const view = item;
      seen.add(view.name);
      const key = JSON.stringify(view) + (view.name === only);
      let row = rows.get(view.name);
      if (!row) {
        row = { tr: el("tr"), failure: null, key: "" };
        rows.set(view.name, row);
      }
      if (row.key !== key) {
        row.key = key;
        buildRow(view, row.tr);
        if (row.failure) row.failure.remove();
        row.failure = view.status === "failed" ? failureRow(view) : null;
      }
      place(row.tr);
      if (row.failure) place(row.failure);
    }
    for (const [name, row] of rows) {
      if (seen.has(name)) continue;
      row.tr.remove();
      if (row.failure) row.failure.remove();
      rows.delete(name);
    }
    $("empty").hidden = data.resources.length > 0;
    renderChoices(data.resources.map((v) => v.name));
  }

  // As the dashboard: grouped by their first label (groups in alphabetical order, a heading each), resources
  // without a label last under "ungrouped"; no headings when nothing is labelled. Deploy order within a group.
  function grouped(resources) {
    const groups = new Map();
    const loose = [];
    for (const view of resources) {
      if (!view.labels.length) loose.push(view);
      else if (groups.has(view.labels[0])) groups.get(view.labels[0]).push(view);
      else groups.set(view.labels[0], [view]);
    }
    const out = [];
    for (const label of Array.from(groups.keys()).sort()) out.push(label, ...groups.get(label));
    if (loose.length && groups.size) out.push("ungrouped");
    return out.concat(loose);
  }

  function renderCounts(c) {
    const box = $("counts");
    box.textContent = "";
    const pill = (cls, n, word) => {
      const p = el("span", "pill " + cls + (n ? " on" : ""));
      p.append(el("b", "", String(n)), " " + word);
      return p;
    };
    box.append(
      pill("ready", c.ready, "ready"),
      pill("updating", c.updating, "updating"),
      pill("failed", c.failed, "failed"),
      pill("total", c.total, c.total === 1 ? "resource" : "resources"),
    );
  }

  function renderChoices(names) {
    const select = $("log-resource");
    const have = Array.from(select.options).slice(1).map((o) => o.value);
    if (have.join("\n") !== names.join("\n")) {
      while (select.options.length > 1) select.remove(1);
      for (const name of names) select.append(new Option(name, name));
      select.value = names.includes(only) ? only : "";
    }
    const longest = Math.min(24, Math.max(7, ...names.map((n) => n.length)));
    if (longest !== nameWidth) {
      nameWidth = longest;
      redraw();
    }
  }

  function tick() {
    for (const node of document.querySelectorAll(".ago[data-t]")) node.textContent = ago(Number(node.dataset.t));
  }

  // ------------------------------------------------------------------------------------ triggers

  async function trigger(name) {
    const say = (text, cls, ms, title) => {
      triggered.set(name, { text, cls, until: Date.now() + ms, title });
      for (const b of rowsEl.querySelectorAll("button.trigger")) {
        if (b.dataset.resource !== name) continue;
        b.textContent = text;
        b.className = "trigger " + cls;
        b.disabled = cls === "pending";
        if (title) b.title = title;
      }
    };
    say("Updating…", "pending", 10000);
    try {
      const answer = await fetch("/api/trigger", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Devloop-Token": boot.token },
        body: JSON.stringify({ resource: name }),
      });
      if (!answer.ok) throw new Error((await answer.text()).trim() || "HTTP " + answer.status);
      say("Triggered ✓", "done", 2500);
    } catch (error) {
      say("Refused", "error", 5000, String(error.message || error));
    }
    setTimeout(() => {
      if ((triggered.get(name) || {}).until <= Date.now()) {
        triggered.delete(name);
        for (const b of rowsEl.querySelectorAll("button.trigger")) {
          if (b.dataset.resource !== name) continue;
          b.textContent = "Update";
          b.className = "trigger";
          b.disabled = false;
        }
      }
    }, 5100);
  }

  // ------------------------------------------------------------------------------------ logs

  function matches(line) {
    if (only && line[2] !== only) return false;
    if (!filter) return true;
    return line[3].toLowerCase().includes(filter) || (line[2] || "devloop").toLowerCase().includes(filter);
  }

  function lineEl(line) {
    const text = line[3];
    let cls = "l";
    if (text.startsWith("── ")) cls += text.startsWith("── failed") ? " state bad" : " state";
    const div = el("div", cls);
    // the name padded with spaces (monospace): plain text lays out much faster than fixed-width boxes
    const name = line[2] || "devloop";
    const cell = name.length > nameWidth ? name.slice(0, nameWidth - 1) + "…" : name.padEnd(nameWidth);
    div.append(el("span", "n " + colour(line[2]), cell), text);
    return div;
  }

  function markEl(text) {
    return el("div", "l mark", text);
  }

  function trim(list, max) {
    return list.length > max * 1.25 ? list.slice(-max) : list;
  }

  function onLogs(data) {
    if (data.older) older = data.older;
    if (data.lost) {
      stats.lost += data.lost;
      pending.push({ mark: "… " + plural(data.lost, "line") + " dropped here: this page read too slowly" });
    }
    for (const line of data.lines) {
      if (line[0] <= lastSeq) continue; // sent again after a reconnection
      lastSeq = line[0];
      stats.received++;
      ring.push(line);
      if (only && line[2] === only) own.push(line);
      if (matches(line)) pending.push(line);
    }
    ring = trim(ring, RING);
    own = trim(own, RING);
    schedule();
  }

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    const wait = lastFlush + FRAME_MS - performance.now();
    if (wait > 0) setTimeout(() => requestAnimationFrame(flush), wait);
    else requestAnimationFrame(flush);
  }

  function flush() {
    scheduled = false;
    lastFlush = performance.now();
    let batch = pending;
    pending = [];
    if (!following) {
      unseen += batch.filter((l) => !l.mark).length;
      renderNote();
      return;
    }
    if (batch.length > FRAME_MAX) {
      stats.skipped += batch.length - FRAME_MAX;
      batch = batch.slice(-FRAME_MAX);
    }
    stats.drawn += batch.length;
    if (batch.length) {
      const started = performance.now();
      const frag = document.createDocumentFragment();
      for (const line of batch) frag.append(line.mark ? markEl(line.mark) : lineEl(line));
      logView.append(frag);
      let excess = logView.childElementCount - DOM_MAX;
      while (excess-- > 0) logView.firstChild.remove();
      logView.scrollTop = logView.scrollHeight;
      stats.frames++;
      stats.drawMs += performance.now() - started;
    }
    renderNote();
  }

  function redraw() {
    pending = [];
    unseen = 0;
    const source = only ? own : ring;
    const shown = [];
    for (let i = source.length - 1; i >= 0 && shown.length < DOM_MAX; i--) {
      if (matches(source[i])) shown.push(source[i]);
    }
    shown.reverse();
    const frag = document.createDocumentFragment();
    for (const line of shown) frag.append(lineEl(line));
    logView.textContent = "";
    logView.append(frag);
    logView.classList.toggle("one", !!only);
    following = true;
    logView.scrollTop = logView.scrollHeight;
    renderNote();
  }

  function renderNote() {
    const parts = [];
    const gone = only ? ownDropped : older;
    if (gone) parts.push(plural(gone, "older line") + " not shown (devloop keeps the newest 5,000 per resource)");
    if (stats.lost) parts.push(plural(stats.lost, "line") + " dropped: this page read too slowly");
    if (stats.skipped) parts.push(plural(stats.skipped, "line") + " scrolled past too fast to draw");
    $("log-note").textContent = parts.join(" · ");
    const tail = $("log-tail");
    tail.hidden = following;
    tail.textContent = unseen ? "↓ " + plural(unseen, "new line") : "↓ newest";
  }

  async function choose(name) {
    only = name;
    $("log-resource").value = name;
    for (const [n, row] of rows) row.tr.classList.toggle("selected", n === name);
    own = [];
    ownDropped = 0;
    if (name) {
      try {
        const answer = await fetch("/api/logs?limit=5000&resource=" + encodeURIComponent(name));
        const data = await answer.json();
        if (only !== name) return; // chosen again meanwhile
        const newer = own.filter((l) => l[0] > data.last_seq);
        own = data.lines.concat(newer);
        ownDropped = data.dropped;
      } catch (error) {
        own = ring.filter((l) => l[2] === name);
      }
    }
    redraw();
  }

  logView.addEventListener("scroll", () => {
    const bottom = logView.scrollHeight - logView.clientHeight - logView.scrollTop < 24;
    if (bottom && !following) {
      redraw();
    } else if (!bottom && following) {
      following = false;
      renderNote();
    }
  });
  $("log-tail").addEventListener("click", redraw);
  $("log-resource").addEventListener("change", (e) => choose(e.target.value));
  let filterTimer = 0;
  $("log-filter").addEventListener("input", (e) => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => {
      filter = e.target.value.trim().toLowerCase();
      redraw();
    }, 120);
  });

  // ------------------------------------------------------------------------------------ the stream

  function setConn(state, text) {
    const node = $("conn");
    node.className = "conn conn-" + state;
    node.textContent = text;
  }

  function connect() {
    const events = new EventSource("/api/events");
    events.addEventListener("hello", (e) => {
      if (JSON.parse(e.data).run !== boot.run) location.reload(); // another `devloop up` serves here now
      setConn("live", "live");
    });
    events.addEventListener("snapshot", (e) => renderSnapshot(JSON.parse(e.data)));
    events.addEventListener("logs", (e) => onLogs(JSON.parse(e.data)));
    events.addEventListener("error", () => setConn("lost", "disconnected: is devloop up running? retrying…"));
  }

  connect();
  setInterval(tick, 1000);
})();
