// pipe serve: live updates on top of server-rendered pages. No framework, no build.
// The page's <main data-sse="/live?..."> names its event stream:
//   changed  -> fetch this page again and swap every [data-live] region (scroll kept)
//   log      -> append new log text (as text, never HTML) to <pre id="log">
//   done     -> the run has finished: close the stream
(function () {
  "use strict";
  var source = null, busy = false, again = false, shown = 0;
  var dot = document.getElementById("live-status");

  function status(on) { if (dot) dot.setAttribute("data-live-status", on ? "on" : "off"); }

  function atBottom() {
    return window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 40;
  }

  // A log's new text, rendered as web/ansi.py renders the page's: numbered lines with their
  // anchors, ANSI colours as classes, everything else as text (never HTML).
  var ESC = /\x1b(?:\[([0-?]*)[ -\/]*([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/g;
  var CTRL = /[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f]/g;
  var held = "";           // an escape sequence cut in two by the stream: its first part

  function styleOf(classes) {
    var st = { fg: null, bg: null, flags: {} };
    (classes || "").split(/\s+/).forEach(function (c) {
      var m = /^a-(fg|bg)(\d+)$/.exec(c);
      if (m) st[m[1]] = parseInt(m[2], 10);
      else if (/^a-[bdiu]$/.test(c)) st.flags[c.slice(2)] = true;
    });
    return st;
  }

  function classesOf(st) {
    var out = Object.keys(st.flags).sort().map(function (f) { return "a-" + f; });
    if (st.fg !== null) out.push("a-fg" + st.fg);
    if (st.bg !== null) out.push("a-bg" + st.bg);
    return out.join(" ");
  }

  function applySgr(st, params) {
    var codes = params ? params.split(/[;:]/).map(function (c) { return /^\d+$/.test(c) ? parseInt(c, 10) : 0; }) : [0];
    for (var i = 0; i < codes.length; i++) {
      var c = codes[i];
      if (c === 0) { st.fg = st.bg = null; st.flags = {}; }
      else if (c >= 1 && c <= 4) st.flags["bdiu"[c - 1]] = true;
      else if (c === 22) { delete st.flags.b; delete st.flags.d; }
      else if (c === 23) delete st.flags.i;
      else if (c === 24) delete st.flags.u;
      else if (c >= 30 && c <= 37) st.fg = c - 30;
      else if (c >= 90 && c <= 97) st.fg = c - 90 + 8;
      else if (c === 39) st.fg = null;
      else if (c >= 40 && c <= 47) st.bg = c - 40;
      else if (c >= 100 && c <= 107) st.bg = c - 100 + 8;
      else if (c === 49) st.bg = null;
      else if ((c === 38 || c === 48) && i + 1 < codes.length) {
        if (codes[i + 1] === 5 && i + 2 < codes.length) {
          if (codes[i + 2] < 16) st[c === 38 ? "fg" : "bg"] = codes[i + 2];
          i += 2;
        } else if (codes[i + 1] === 2) i += 4;
      }
    }
  }

  function newLine(pre, n) {
    var line = document.createElement("span");
    line.className = "ln"; line.id = "L" + n;
    var a = document.createElement("a");
    a.className = "n"; a.href = "#L" + n; a.setAttribute("data-n", n); a.setAttribute("aria-label", "line " + n);
    var t = document.createElement("span");
    t.className = "t";
    line.appendChild(a); line.appendChild(t);
    pre.appendChild(line);
    return line;
  }

  function segment(into, text, st) {
    text = text.replace(CTRL, "");
    if (!text) return;
    var cls = classesOf(st);
    if (!cls) { into.appendChild(document.createTextNode(text)); return; }
    var span = document.createElement("span");
    span.className = cls; span.textContent = text;
    into.appendChild(span);
  }

  function renderLog(pre, text) {
    text = (held + text).replace(/\r/g, "");
    held = "";
    var esc = text.lastIndexOf("\x1b");
    if (esc >= 0 && text.length - esc < 64) {
      ESC.lastIndex = esc;
      var m = ESC.exec(text);
      if (!m || m.index !== esc) { held = text.slice(esc); text = text.slice(0, esc); }
    }
    var st = styleOf(pre.getAttribute("data-sgr"));
    var n = parseInt(pre.getAttribute("data-lines") || "0", 10);
    var open = pre.getAttribute("data-open") === "1";
    var pieces = text.split("\n");
    pieces.forEach(function (piece, k) {
      var last = k === pieces.length - 1;
      if (last && piece === "") return;
      var line = open ? pre.lastElementChild : null;
      if (!line || !line.classList.contains("ln")) { n += 1; line = newLine(pre, n); }
      var into = line.querySelector(".t");
      var pos = 0, m;
      ESC.lastIndex = 0;
      while ((m = ESC.exec(piece)) !== null) {
        segment(into, piece.slice(pos, m.index), st);
        if (m[2] === "m") applySgr(st, m[1] || "");
        pos = ESC.lastIndex;
      }
      segment(into, piece.slice(pos), st);
      if (!last) { line.appendChild(document.createTextNode("\n")); open = false; } else open = true;
    });
    pre.setAttribute("data-lines", n);
    pre.setAttribute("data-open", open ? "1" : "0");
    pre.setAttribute("data-sgr", classesOf(st));
  }

  function appendLog(text) {
    var pre = document.getElementById("log");
    if (!pre) return;
    var follow = document.getElementById("follow");
    var stick = follow && follow.checked && atBottom();
    renderLog(pre, text);
    // A chatty task must not make the page heavy: keep about the last 4 MB of text here
    // (the raw link has all of it).
    shown += text.length;
    while (shown > 4e6 && pre.firstChild && pre.firstChild !== pre.lastChild) {
      shown -= pre.firstChild.textContent.length;
      pre.removeChild(pre.firstChild);
    }
    if (stick) window.scrollTo(0, document.documentElement.scrollHeight);
    find();
  }

  // Find in the log: the lines that hold the text are marked, the first one scrolled to.
  function find(jump) {
    var input = document.getElementById("log-find"), pre = document.getElementById("log");
    var said = document.getElementById("log-found");
    if (!input || !pre) return;
    var q = input.value.toLowerCase(), hits = 0, first = null;
    pre.querySelectorAll(".ln").forEach(function (line) {
      var hit = q !== "" && line.textContent.toLowerCase().indexOf(q) >= 0;
      line.classList.toggle("hit", hit);
      if (hit) { hits += 1; if (!first) first = line; }
    });
    if (said) said.textContent = q === "" ? "" : hits === 1 ? "1 line" : hits + " lines";
    if (jump && first) first.scrollIntoView({ block: "center" });
  }

  function logControls() {
    var wrap = document.getElementById("wrap"), pre = document.getElementById("log");
    if (wrap && pre && !wrap.pipeOn) {
      wrap.pipeOn = true;
      wrap.addEventListener("change", function () { pre.classList.toggle("nowrap", !wrap.checked); });
    }
    var input = document.getElementById("log-find");
    if (input && !input.pipeOn) {
      input.pipeOn = true;
      input.addEventListener("input", function () { find(true); });
    }
  }

  function swap(doc) {
    var main = document.querySelector("main");
    var fresh = doc.querySelector("main");
    if (!main || !fresh) return;
    var before = main.getAttribute("data-sse"), after = fresh.getAttribute("data-sse");
    var x = window.scrollX, y = window.scrollY;
    var scrolled = {};
    main.querySelectorAll("[data-live] .scroll").forEach(function (el, i) {
      scrolled[i] = [el.scrollLeft, el.scrollTop];
    });
    if (key(before) !== key(after)) {
      // Another attempt (or the task's first one) is now what this page shows: take the
      // whole page and follow the new log from where the server's render ended.
      main.replaceWith(fresh);
      var log = document.getElementById("log");
      shown = log ? log.textContent.length : 0;
      held = "";
      logControls();
      connect(after);
      return;
    }
    var focus = focusKey(document.activeElement);
    fresh.querySelectorAll("[data-live][id]").forEach(function (region) {
      var old = document.getElementById(region.id);
      if (old) old.replaceWith(document.importNode(region, true));
    });
    document.querySelectorAll("[data-live] .scroll").forEach(function (el, i) {
      if (scrolled[i]) { el.scrollLeft = scrolled[i][0]; el.scrollTop = scrolled[i][1]; }
    });
    window.scrollTo(x, y);
    enhance();
    if (focus) refocus(focus);
  }

  // A live update keeps the keyboard's place: the element that had focus inside a swapped
  // region is found again in the new one (by id, task and run, or link) and focused.
  function focusKey(el) {
    if (!el || el === document.body || !el.closest || !el.closest("[data-live]")) return null;
    if (el.id) return "#" + CSS.escape(el.id);
    var cell = el.closest("td[data-task]"), head = el.closest("[data-run]"), row = el.closest("tr[data-task]");
    var href = el.getAttribute("href");
    var sel = href ? el.tagName.toLowerCase() + '[href="' + CSS.escape(href) + '"]' : null;
    if (sel) return sel;
    if (cell) return 'td[data-task="' + CSS.escape(cell.getAttribute("data-task")) + '"]';
    if (row) return 'tr[data-task="' + CSS.escape(row.getAttribute("data-task")) + '"]';
    if (head) return '[data-run="' + CSS.escape(head.getAttribute("data-run")) + '"]';
    return null;
  }

  function refocus(sel) {
    var el = document.querySelector(sel);
    if (el && el !== document.activeElement) {
      if (el.getAttribute("tabindex") === "-1") el.setAttribute("tabindex", "0");
      el.focus({ preventScroll: true });
    }
  }

  // Relative times ("5 min ago") written again as time goes on; the absolute one is the title.
  function ago(iso) {
    var t = Date.parse(iso);
    if (isNaN(t)) return null;
    var delta = (Date.now() - t) / 1000, s = Math.abs(delta), n, unit;
    if (s < 45) return delta >= 0 ? "just now" : "in a moment";
    if (s < 3600) { n = Math.round(s / 60); unit = "min"; }
    else if (s < 86400) { n = Math.round(s / 3600); unit = "h"; }
    else if (s < 86400 * 60) { n = Math.round(s / 86400); unit = "d"; }
    else return iso.slice(0, 10);
    n = Math.max(n, 1);
    return delta >= 0 ? n + " " + unit + " ago" : "in " + n + " " + unit;
  }

  function relTimes() {
    document.querySelectorAll("time[data-rel]").forEach(function (el) {
      var iso = el.getAttribute("datetime");
      var text = ago(iso);
      if (text && el.textContent !== text) el.textContent = text;
      // The hover says the time as written (its own zone, UTC for pipe) and in this browser's zone.
      if (!el.hasAttribute("data-local")) {
        var t = new Date(iso);
        if (!isNaN(t.getTime())) {
          var zone = "";
          try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
          var local = t.toLocaleString(undefined, { year: "numeric", month: "2-digit", day: "2-digit",
                                                    hour: "2-digit", minute: "2-digit", second: "2-digit" });
          el.setAttribute("data-local", local);
          el.title = el.title + " (" + local + (zone ? " " + zone : "") + " here)";
        }
      }
    });
  }

  // The name filter: rows whose name does not hold the text are hidden (the server does the
  // same with ?q= for a page without script).
  function applyFilter() {
    var input = document.querySelector("input[data-filter]");
    if (!input) return;
    var q = input.value.trim().toLowerCase();
    document.querySelectorAll(input.getAttribute("data-filter")).forEach(function (row) {
      var name = (row.getAttribute("data-pipeline") || "").toLowerCase();
      row.hidden = q !== "" && name.indexOf(q) < 0;
    });
  }

  // The grid with the keyboard: one cell in the Tab order, arrows move between cells.
  function gridKeys() {
    document.querySelectorAll("table.grid").forEach(function (table) {
      var cells = table.querySelectorAll("tbody td .cell");
      if (!cells.length) return;
      if (!table.querySelector('tbody .cell[tabindex="0"]')) {
        var last = table.querySelector("tbody tr").querySelectorAll("td .cell");
        (last.length ? last[last.length - 1] : cells[0]).setAttribute("tabindex", "0");
      }
      if (table.pipeKeys) return;
      table.pipeKeys = true;
      table.addEventListener("keydown", function (e) {
        var cell = e.target.closest && e.target.closest("td");
        if (!cell || !table.contains(cell)) return;
        var row = cell.parentElement, col = Array.prototype.indexOf.call(row.children, cell), target = null;
        if (e.key === "ArrowRight") target = row.children[col + 1];
        else if (e.key === "ArrowLeft") target = col > 1 ? row.children[col - 1] : null;
        else if (e.key === "ArrowDown") target = row.nextElementSibling && row.nextElementSibling.children[col];
        else if (e.key === "ArrowUp") target = row.previousElementSibling && row.previousElementSibling.children[col];
        else return;
        e.preventDefault();
        var next = target && target.querySelector(".cell");
        if (!next) return;
        e.target.setAttribute("tabindex", "-1");
        next.setAttribute("tabindex", "0");
        next.focus();
      });
    });
    document.querySelectorAll("table.grid span.cell").forEach(function (el) {
      if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "-1");
    });
  }

  // The graph fits the page; "actual size" shows it at its own size, panned by scrolling.
  var actual = false;
  function zoom() {
    document.querySelectorAll("[data-zoom]").forEach(function (button) {
      var box = button.closest("section").querySelector(".graphbox");
      if (!box) return;
      button.hidden = false;
      box.classList.toggle("fit", !actual);
      button.textContent = actual ? "fit to the page" : "actual size";
      button.setAttribute("aria-pressed", actual ? "true" : "false");
      if (!button.pipeOn) {
        button.pipeOn = true;
        button.addEventListener("click", function () { actual = !actual; zoom(); });
      }
    });
  }

  // A calendar beside a date field: picking a day writes it into the field (which takes a
  // time too); without script the field alone is the form's.
  function pickers() {
    document.querySelectorAll("input[data-pick-for]").forEach(function (pick) {
      if (pick.pipeOn) return;
      pick.pipeOn = true;
      var field = pick.form && pick.form.querySelector('input[name="' + pick.getAttribute("data-pick-for") + '"]');
      pick.addEventListener("change", function () { if (field && pick.value) field.value = pick.value; });
    });
  }

  function enhance() { applyFilter(); relTimes(); gridKeys(); zoom(); pickers(); }

  // What the stream follows, without where it starts (offset) and the page's stamp (v).
  function key(url) { return (url || "").replace(/([?&])(offset|v)=[^&]*/g, "$1"); }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Pipe-Live": "1" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html) swap(new DOMParser().parseFromString(html, "text/html")); })
      .catch(function () {})
      .then(function () { busy = false; if (again) { again = false; refresh(); } });
  }

  function connect(url) {
    if (source) source.close();
    if (!url || !window.EventSource) return;
    source = new EventSource(url);
    source.onopen = function () { status(true); };
    source.onerror = function () { status(false); };
    source.addEventListener("changed", refresh);
    source.addEventListener("log", function (e) { appendLog(JSON.parse(e.data)); });
    source.addEventListener("done", function () { source.close(); source = null; status(false); });
  }

  // A running duration moves on between changes of state: an element with data-tick="S"
  // held S seconds when the server drew it, and counts on from there by this page's clock
  // (never another host's). A region swapped in by refresh() brings its own fresh value.
  function fmt(s) {          // as svg.fmt_duration writes a duration
    s = Math.max(s, 0);
    if (s < 10) return s.toFixed(1) + "s";
    if (s < 60) return Math.round(s) + "s";
    var m = Math.floor(s / 60), sec = Math.floor(s) % 60;
    if (m < 60) return m + "m" + (sec < 10 ? "0" : "") + sec + "s";
    var h = Math.floor(m / 60); m = m % 60;
    return h + "h" + (m < 10 ? "0" : "") + m + "m";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-tick]").forEach(function (el) {
      var base = parseFloat(el.getAttribute("data-tick"));
      if (isNaN(base)) return;
      if (el.pipeSeen === undefined) el.pipeSeen = now;
      el.textContent = fmt(base + (now - el.pipeSeen) / 1000);
    });
  }

  setInterval(tick, 250);
  setInterval(relTimes, 15000);

  var filter = document.querySelector("input[data-filter]");
  if (filter) filter.addEventListener("input", function () {
    applyFilter();
    var url = new URL(window.location.href);
    if (filter.value.trim()) url.searchParams.set("q", filter.value.trim()); else url.searchParams.delete("q");
    history.replaceState(null, "", url.toString());
  });
  enhance();
  // The grid opens at its newest runs (on the right).
  document.querySelectorAll("[data-scroll-end]").forEach(function (el) { el.scrollLeft = el.scrollWidth; });

  var main = document.querySelector("main[data-sse]");
  if (main) connect(main.getAttribute("data-sse"));
  var follow = document.getElementById("follow");
  var log = document.getElementById("log");
  if (log) shown = log.textContent.length;
  logControls();
  // A running attempt's log opens at its end (to follow it); a finished one at its top, or at
  // the line its address names (#L12).
  if (follow && log && !/^#L\d+$/.test(window.location.hash)) window.scrollTo(0, document.documentElement.scrollHeight);
})();
