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

  function appendLog(text) {
    var pre = document.getElementById("log");
    if (!pre) return;
    var follow = document.getElementById("follow");
    var stick = (!follow || follow.checked) && atBottom();
    pre.appendChild(document.createTextNode(text));
    // A chatty task must not make the page heavy: keep about the last 4 MB of text here
    // (the raw link has all of it).
    shown += text.length;
    while (shown > 4e6 && pre.firstChild && pre.firstChild !== pre.lastChild) {
      shown -= pre.firstChild.textContent.length;
      pre.removeChild(pre.firstChild);
    }
    if (stick) window.scrollTo(0, document.documentElement.scrollHeight);
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
      connect(after);
      return;
    }
    fresh.querySelectorAll("[data-live][id]").forEach(function (region) {
      var old = document.getElementById(region.id);
      if (old) old.replaceWith(document.importNode(region, true));
    });
    document.querySelectorAll("[data-live] .scroll").forEach(function (el, i) {
      if (scrolled[i]) { el.scrollLeft = scrolled[i][0]; el.scrollTop = scrolled[i][1]; }
    });
    window.scrollTo(x, y);
  }

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

  var main = document.querySelector("main[data-sse]");
  if (main) connect(main.getAttribute("data-sse"));
  var follow = document.getElementById("follow");
  var log = document.getElementById("log");
  if (log) shown = log.textContent.length;
  if (follow && log) window.scrollTo(0, document.documentElement.scrollHeight);
})();
